// Signing in and out, the bearer token in sessionStorage, and calls to the API with it.
"use strict";

const TOKEN_KEY = "schoolmap.session";
// The planner page (web/planner) reads the bare token under this key: one sign-in serves both.
const PLANNER_TOKEN_KEY = "schoolmap-token";

const session = {
  read() {
    try { return JSON.parse(sessionStorage.getItem(TOKEN_KEY)) || null; } catch { return null; }
  },
  save(signed) {
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(signed));
    sessionStorage.setItem(PLANNER_TOKEN_KEY, signed.access_token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(PLANNER_TOKEN_KEY);
  },
};

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// One API call with the signed-in token; a 401 (expired or revoked token) signs out.
async function api(method, url, {json, body, headers = {}, raw = false} = {}) {
  const signed = session.read();
  const sent = {...headers};
  if (signed) sent.Authorization = `Bearer ${signed.access_token}`;
  if (json !== undefined) { sent["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  const response = await fetch(url, {method, headers: sent, body});
  if (response.status === 401 && signed) {
    session.clear();
    document.dispatchEvent(new CustomEvent("sessionchange"));
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status,
                       problemText(problem.detail) || `${response.status} ${response.statusText}`);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

// A unique key per application attempt, so a repeated click never applies twice.
function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
                    (b) => b.toString(16).padStart(2, "0")).join("");
}

async function signIn(username, password) {
  const signed = await api("POST", "/auth/login", {json: {username, password}});
  session.save(signed);
  document.dispatchEvent(new CustomEvent("sessionchange"));
  return signed;
}

async function signOut() {
  try { await api("POST", "/auth/logout"); } catch { /* the token is dropped either way */ }
  session.clear();
  document.dispatchEvent(new CustomEvent("sessionchange"));
}

// The sign-in box (and, for parents, account creation) rendered into a container.
function renderSignIn(container, {allowRegister, note}) {
  container.innerHTML = `
    <section class="acc-card acc-signin">
      <h2>${escapeHtml(t("sign_in"))}</h2>
      ${note ? `<p class="muted">${escapeHtml(note)}</p>` : ""}
      <form class="acc-form" data-testid="signin-form">
        <label>${escapeHtml(t("username"))}
          <input name="username" autocomplete="username" required maxlength="64"></label>
        <label>${escapeHtml(t("password"))}
          <input name="password" type="password" autocomplete="current-password" required
                 maxlength="256"></label>
        <div class="row">
          <button type="submit" data-action="login">${escapeHtml(t("sign_in"))}</button>
          ${allowRegister ? `<span class="muted small">${escapeHtml(t("no_account"))}</span>
            <button type="button" data-action="register">${escapeHtml(t("register"))}</button>` : ""}
        </div>
        <p class="acc-message" role="status"></p>
      </form>
    </section>`;
  const form = container.querySelector("form");
  const message = form.querySelector(".acc-message");
  const credentials = () => ({username: form.username.value.trim(), password: form.password.value});
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      const {username, password} = credentials();
      await signIn(username, password);
    } catch (error) {
      showError(message, error);
    }
  });
  const register = form.querySelector("[data-action=register]");
  if (register) {
    register.addEventListener("click", async () => {
      if (!form.reportValidity()) return;
      const {username, password} = credentials();
      try {
        await api("POST", "/auth/register", {json: {username, password}});
        message.textContent = t("registered");
        message.className = "acc-message ok";
        await signIn(username, password);
      } catch (error) {
        showError(message, error);
      }
    });
  }
}

function showError(element, error) {
  element.className = element.className.replace(/\s*ok\b/, "") + " error";
  element.textContent = `${t("error")}: ${error.message}`;
}

function showOk(element, text) {
  element.className = element.className.replace(/\s*error\b/, "") + " ok";
  element.textContent = text;
}

function signedInBar(signed) {
  return `<div class="acc-who"><span data-testid="signed-in">${escapeHtml(
    t("signed_in_as", signed.username, t("roles")[signed.role] || signed.role))}</span>
    <button type="button" class="acc-signout">${escapeHtml(t("sign_out"))}</button></div>`;
}

function wireSignOut(container) {
  const button = container.querySelector(".acc-signout");
  if (button) button.addEventListener("click", signOut);
}

// Which account view the address names now ("parent", "officer", or another view).
function currentView() {
  return (location.hash.match(/^#\/([\w-]+)/) || [null, "map"])[1];
}

// ------------------------------------------------------------------ dates and unit names

const pad2 = (n) => String(n).padStart(2, "0");

// A moment as people in Vietnam write it, in the browser's time zone: dd/mm/yyyy HH:mm.
function dateTimeText(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${pad2(d.getDate())}/${pad2(d.getMonth() + 1)}/${d.getFullYear()} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

// A moment as a datetime-local input's value (browser's time zone), "" for none.
function dateTimeInputValue(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

// The browser's UTC offset at a moment, as ISO 8601 writes it: "+07:00".
function zoneOffsetText(d) {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

// A datetime-local input's value with the browser's time zone offset, for the API:
// "2026-03-03T17:00" -> "2026-03-03T17:00:00+07:00"; null when empty or unreadable.
function withZoneOffset(localValue) {
  if (!localValue) return null;
  const d = new Date(localValue);
  if (Number.isNaN(d.getTime())) return null;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}${zoneOffsetText(d)}`;
}

// Whether a moment has passed (by the browser's clock; the service decides in the end).
const hasPassed = (iso) => Boolean(iso) && Date.parse(iso) <= Date.now();

// Diacritics-blind lower case, to compare unit names.
function foldName(text) {
  return String(text || "").replace(/[đĐ]/g, "d").normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
}

// A unit's name as a person reads it: its type word first unless the name says it already,
// and its (2019) district after: "Phường Bến Nghé (Quận 1)".
function unitLabel(name, typeVi, district) {
  let label = String(name || "");
  if (typeVi && !foldName(label).startsWith(foldName(typeVi))) label = `${typeVi} ${label}`;
  return district ? `${label} (${district})` : label;
}
