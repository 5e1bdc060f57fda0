// The parent's page: apply for a child (home by address or pin, the unit of residence as the
// papers write it, schools by road distance, ranked choices), correct or withdraw it until the
// review deadline, then follow it to its published, explained result.
"use strict";

const NORM_M = {1: 4000, 6: 7000};
const LEVEL_OF_GRADE = {1: "tieu_hoc", 6: "thcs"};
const PRIORITY_GROUPS = ["liet_si", "thuong_binh", "khuyet_tat", "cham_phat_trien",
                         "dan_toc_thieu_so", "mo_coi", "ve_nuoc"];

const parentPage = {
  rounds: [],
  roundsLoaded: false,
  home: null,          // {lon, lat, address, uncertainty}
  candidates: [],
  pending: null,       // an address answer shown, waiting for the family to confirm it
  near: [],
  choices: [],         // ranked school ids
  key: null,           // Idempotency-Key of the application being filled in
  draft: {},           // typed values kept across a language switch
  map: null,
  mapElement: null,
  marker: null,
  message: null,       // {ok, text} shown above the form after a submission
  shownId: null,       // an application opened by its address #/parent/ID
  apps: new Map(),     // the applications shown, by id
  correcting: null,    // the application whose correction form is open
  cardNote: null,      // {id, ok, text}: the answer to a correction or withdrawal
};

const parentRoot = () => document.getElementById("parent-content");

function renderParent() {
  const root = parentRoot();
  const signed = session.read();
  if (!signed || signed.role !== "parent") {
    root.innerHTML = (signed ? signedInBar(signed) : "") + "<div class='acc-signin-slot'></div>";
    wireSignOut(root);
    renderSignIn(root.querySelector(".acc-signin-slot"),
                 {allowRegister: true, note: signed ? t("parent_only") : ""});
    return;
  }
  root.innerHTML = `${signedInBar(signed)}
    <div id="parent-one"></div>
    <section class="acc-card">
      <h2>${escapeHtml(t("my_applications"))}</h2>
      <div id="app-list"><p class="muted">${escapeHtml(t("looking"))}</p></div>
    </section>
    <section class="acc-card" id="parent-apply">
      <h2>${escapeHtml(t("new_application"))}</h2>
      <p class="muted" id="app-no-round" hidden>${escapeHtml(t("no_open_round"))}</p>
      <form id="application-form" class="acc-form" autocomplete="off" novalidate>
        <label>${escapeHtml(t("round"))}<select name="round" id="app-round"></select></label>
        <p class="muted small">${escapeHtml(t("round_open_note"))}</p>
        <p class="small" id="app-round-deadline" data-testid="round-deadline" hidden></p>
        <div class="acc-grid">
          <label>${escapeHtml(t("child_id"))}
            <input name="child_id" required maxlength="32" inputmode="numeric"></label>
          <label>${escapeHtml(t("birth_date"))}<input name="birth_date" type="date" required></label>
        </div>
        <fieldset><legend>${escapeHtml(t("home"))}</legend>
          <div class="row">
            <input id="app-address" type="search" placeholder="${escapeHtml(t("home_ph"))}">
            <button type="button" id="app-find">${escapeHtml(t("find"))}</button>
          </div>
          <p class="muted small">${escapeHtml(t("home_hint"))}</p>
          <ul id="app-candidates" class="results"></ul>
          <div id="app-home-status" class="note" hidden></div>
          <div id="app-map-box"><div id="parent-map-slot"></div></div>
        </fieldset>
        <label>${escapeHtml(t("stated_unit"))}
          <input name="stated_unit" maxlength="200" autocomplete="off"
            placeholder="${escapeHtml(t("stated_unit_ph"))}" aria-describedby="app-stated-hint"></label>
        <p class="muted small" id="app-stated-hint">${escapeHtml(t("stated_unit_hint"))}</p>
        <div class="acc-grid">
          <label>${escapeHtml(t("priority"))}<select name="priority_group">
            <option value="">${escapeHtml(t("no_priority"))}</option>
            ${PRIORITY_GROUPS.map((g) => `<option value="${g}">${escapeHtml(
              t("priority_groups")[g])}</option>`).join("")}
          </select></label>
          <label>${escapeHtml(t("sibling"))}<input name="sibling" maxlength="32"></label>
        </div>
        <h3>${escapeHtml(t("eligible_schools"))}</h3>
        <table id="app-near" class="acc-table"><tbody></tbody></table>
        <h3>${escapeHtml(t("choices"))}</h3>
        <p class="muted small">${escapeHtml(t("choices_note"))}</p>
        <ul id="app-choices" class="acc-choices"></ul>
        <div class="row"><button type="submit" class="primary" id="app-submit">${escapeHtml(
          t("submit"))}</button></div>
        <p class="acc-message" id="app-message" role="status"></p>
        <section id="app-summary" class="acc-summary" data-testid="app-summary" hidden
          aria-labelledby="app-summary-title"></section>
      </form>
    </section>
`;
  wireSignOut(root);
  const recalled = recallDraft();
  placeParentMap();
  restoreDraft();
  wireApplicationForm();
  renderRounds();
  renderNear();
  renderChoices();
  renderHomeStatus();
  if (parentPage.message) {
    const box = $("app-message");
    if (parentPage.message.ok) showOk(box, parentPage.message.text);
    else box.textContent = parentPage.message.text;
  } else if (recalled) {
    showOk($("app-message"), t("draft_restored"));
  }
  loadOpenRounds();
  loadApplications();
  showOneApplication();
}

// ------------------------------------------------------------------ the form

function saveDraft() {
  const form = $("application-form");
  if (!form) return;
  parentPage.draft = {round: form.round.value, child_id: form.child_id.value,
                  birth_date: form.birth_date.value, priority_group: form.priority_group.value,
                  sibling: form.sibling.value, stated_unit: form.stated_unit.value,
                  address: $("app-address").value};
  keepDraft();
}

// What is being filled in survives a reload of this tab (and only this tab, for this account):
// sessionStorage is the tab's own and is emptied when the tab closes or the family signs out.
const DRAFT_KEY = "schoolmap.parent.draft";

function keepDraft() {
  const signed = session.read();
  if (!signed) return;
  const home = parentPage.home && {lon: parentPage.home.lon, lat: parentPage.home.lat,
    address: parentPage.home.address, candidate: parentPage.home.candidate};
  sessionStorage.setItem(DRAFT_KEY, JSON.stringify({user: signed.username,
    draft: parentPage.draft, home, choices: parentPage.choices}));
}

function dropDraft() {
  sessionStorage.removeItem(DRAFT_KEY);
}

// After a reload: the tab's draft of this account, if the page holds nothing yet.
function recallDraft() {
  const signed = session.read();
  if (!signed || Object.keys(parentPage.draft).length || parentPage.home) return false;
  let kept = null;
  try { kept = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null"); } catch { kept = null; }
  if (!kept || kept.user !== signed.username) return false;
  parentPage.draft = kept.draft || {};
  parentPage.home = kept.home || null;
  parentPage.choices = kept.choices || [];
  return true;
}

document.addEventListener("sessionchange", () => { if (!session.read()) dropDraft(); });

function restoreDraft() {
  const form = $("application-form");
  const d = parentPage.draft;
  for (const name of ["child_id", "birth_date", "priority_group", "sibling", "stated_unit"]) {
    if (d[name] !== undefined) form[name].value = d[name];
  }
  if (d.address !== undefined) $("app-address").value = d.address;
}

function wireApplicationForm() {
  const form = $("application-form");
  form.addEventListener("submit", submitApplication);
  form.addEventListener("input", () => { hideSummary(); saveDraft(); });
  form.round.addEventListener("change", () => {
    saveDraft();
    parentPage.choices = [];
    renderRoundDeadline();
    loadNearSchools();
  });
  $("app-find").addEventListener("click", () => findHomeAddress());
  $("app-address").addEventListener("input", suggestHomeAddresses);
  $("app-address").addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); findHomeAddress(); }
  });
  $("app-candidates").addEventListener("click", (event) => {
    const item = event.target.closest("li[data-index]");
    if (item) pickHomeCandidate(Number(item.dataset.index));
  });
  $("app-candidates").addEventListener("keydown", (event) => {
    const item = event.target.closest("li[data-index]");
    if (item && event.key === "Enter") { event.preventDefault(); pickHomeCandidate(Number(item.dataset.index)); }
  });
  $("app-near").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-choose]");
    if (!button) return;
    const id = Number(button.dataset.choose);
    if (!parentPage.choices.includes(id) && parentPage.choices.length < 10) parentPage.choices.push(id);
    keepDraft();
    renderChoices();
    renderNear();
  });
  $("app-choices").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-move]");
    if (!button) return;
    const index = Number(button.dataset.index);
    const move = button.dataset.move;
    if (move === "remove") parentPage.choices.splice(index, 1);
    else {
      const other = move === "up" ? index - 1 : index + 1;
      if (other < 0 || other >= parentPage.choices.length) return;
      [parentPage.choices[index], parentPage.choices[other]] = [parentPage.choices[other], parentPage.choices[index]];
    }
    keepDraft();
    renderChoices();
    renderNear();
  });
}

function selectedRound() {
  const form = $("application-form");
  const id = Number(form ? form.round.value : parentPage.draft.round);
  return parentPage.rounds.find((r) => r.id === id) || null;
}

async function loadOpenRounds() {
  try {
    // Rounds taking applications now: open, and (the service says) before the review deadline.
    parentPage.rounds = (await api("GET", "/rounds")).filter((r) => r.status === "open" &&
      (!r.actions || r.actions.includes("apply")));
    parentPage.roundsLoaded = true;
  } catch (error) {
    parentPage.rounds = [];
    showError($("app-message"), error);
  }
  renderRounds();
  loadNearSchools();
}

function renderRounds() {
  const select = $("app-round");
  if (!select) return;
  const wanted = parentPage.draft.round;
  select.innerHTML = !parentPage.roundsLoaded ? `<option value="">${escapeHtml(t("looking"))}</option>`
    : parentPage.rounds.length ? parentPage.rounds.map((r) => `<option value="${r.id}">${escapeHtml(t("round_label", r))}</option>`)
      .join("")
    : `<option value="">${escapeHtml(t("no_open_round"))}</option>`;
  if (parentPage.rounds.some((r) => String(r.id) === wanted)) select.value = wanted;
  $("app-submit").disabled = parentPage.rounds.length === 0;
  // With no round open there is nothing to fill in: say so instead of showing the form.
  const closed = parentPage.roundsLoaded && parentPage.rounds.length === 0;
  $("app-no-round").hidden = !closed;
  $("application-form").hidden = closed;
  if (!closed && parentPage.map) parentPage.map.resize();
  renderRoundDeadline();
}

// The chosen round's review deadline: until then the family corrects its own data.
function renderRoundDeadline() {
  const box = $("app-round-deadline");
  if (!box) return;
  const the_round = selectedRound();
  box.hidden = !(the_round && the_round.review_until);
  box.textContent = box.hidden ? "" : t("review_deadline_is", dateTimeText(the_round.review_until));
}

// ------------------------------------------------------------------ home: address or pin

function placeParentMap() {
  if (!parentPage.mapElement) {
    parentPage.mapElement = document.createElement("div");
    parentPage.mapElement.className = "acc-pin-map";
    parentPage.mapElement.id = "parent-map";
  }
  $("parent-map-slot").replaceWith(parentPage.mapElement);
  if (!parentPage.map && currentView() === "parent") createParentMap();
  else if (parentPage.map) parentPage.map.resize();
}

function createParentMap() {
  parentPage.map = makeAccountMap(parentPage.mapElement);
  parentPage.map.whenLoaded.then(async () => {
    parentPage.map.addSource("uncertainty", {type: "geojson", data: emptyCollection()});
    parentPage.map.addLayer({id: "uncertainty", type: "fill", source: "uncertainty",
                         paint: {"fill-color": "#f0a020", "fill-opacity": 0.2}});
    parentPage.map.addSource("near", {type: "geojson", data: emptyCollection()});
    parentPage.map.addLayer({id: "near", type: "circle", source: "near",
                         paint: {"circle-color": "#2ca02c", "circle-radius": 6,
                                 "circle-stroke-color": "#fff", "circle-stroke-width": 1.5}});
    parentPage.map.on("click", (event) => {
      parentPage.candidates = [];
      $("app-candidates").innerHTML = "";
      setParentHome(event.lngLat.lng, event.lngLat.lat, null, null);
    });
    const {bounds} = await cityBounds();
    if (parentPage.home) parentPage.map.jumpTo({center: [parentPage.home.lon, parentPage.home.lat], zoom: 14});
    else if (!bounds.isEmpty()) parentPage.map.fitBounds(bounds, {padding: 20, duration: 0});
    drawParentHome();
    drawNearSchools();
    parentPage.mapElement.dataset.ready = "yes";
  });
}

let parentSuggesting = null;
function suggestHomeAddresses() {
  clearTimeout(parentSuggesting);
  if ($("app-address").value.trim().length < 4) return;
  parentSuggesting = setTimeout(() => findHomeAddress({choose: false}), 350);
}

async function findHomeAddress({choose = true} = {}) {
  clearTimeout(parentSuggesting);
  const q = $("app-address").value.trim();
  if (!q) return;
  const list = $("app-candidates");
  if (choose) list.innerHTML = `<li class="muted">${escapeHtml(t("looking"))}</li>`;
  try {
    const result = await getJson(`/geocode?q=${encodeURIComponent(q)}&limit=5`);
    if (q !== $("app-address").value.trim()) return;  // typed on since: a newer answer comes
    parentPage.candidates = result.candidates;
    if (!result.candidates.length) {
      const hint = LANG === "vi" ? result.hint_vi : result.hint_en;
      list.innerHTML = `<li class="muted" data-testid="app-address-hint">${escapeHtml(
        hint || t("no_match"))}</li>`;
      return;
    }
    renderCandidates();
    if (choose) pickHomeCandidate(0);
  } catch (error) {
    list.innerHTML = `<li>${escapeHtml(t("error"))}: ${escapeHtml(error.message)}</li>`;
  }
}

function renderCandidates() {
  $("app-candidates").innerHTML = parentPage.candidates.map((c, i) =>
    `<li tabindex="0" data-index="${i}" data-testid="app-candidate">${escapeHtml(c.label)}` +
    `<span class="sub">${escapeHtml([c.ward_name, c.district_name].filter(Boolean).join(", "))}` +
    ` · ${escapeHtml(t("precision")[c.precision])}, ${escapeHtml(t("uncertainty", c.uncertainty_m))}` +
    `${c.needs_confirmation ? ` · <b>${escapeHtml(t("to_confirm"))}</b>` : ""}</span></li>`).join("");
}

// An answer the service is not sure of (not a house within about 100 m, or outside a unit the
// address names) is shown with its circle and waits: the family confirms it or moves the pin.
function pickHomeCandidate(index) {
  const c = parentPage.candidates[index];
  if (!c) return;
  if (c.needs_confirmation) {
    parentPage.pending = c;
    parentPage.home = null;
    keepDraft();
    drawParentHome();
    renderHomeStatus();
    loadNearSchools();
  } else {
    parentPage.pending = null;
    setParentHome(c.lon, c.lat, c.label, c);
  }
  if (parentPage.map) {
    const area = circle(c.lon, c.lat, c.uncertainty_m);
    const bounds = new maplibregl.LngLatBounds();
    area.geometry.coordinates[0].forEach((xy) => bounds.extend(xy));
    parentPage.map.fitBounds(bounds, {padding: 40, maxZoom: 16});
  }
}

function setParentHome(lon, lat, address, candidate) {
  parentPage.pending = null;
  parentPage.home = {lon, lat, address, candidate};
  keepDraft();
  drawParentHome();
  renderHomeStatus();
  loadNearSchools();
}

function renderHomeStatus() {
  const box = $("app-home-status");
  if (!box) return;
  const waiting = parentPage.pending;
  if (waiting && !parentPage.home) {
    box.hidden = false;
    box.className = "note";
    box.innerHTML = `<b>${escapeHtml(t("to_confirm"))}:</b> ${escapeHtml(
      LANG === "vi" ? waiting.confirm_vi : waiting.confirm_en)} <button type="button" ` +
      `id="app-home-confirm" data-testid="app-home-confirm">${escapeHtml(t("confirm_home"))}</button>`;
    $("app-home-confirm").addEventListener("click", () =>
      setParentHome(waiting.lon, waiting.lat, waiting.label, waiting));
    return;
  }
  const home = parentPage.home;
  box.hidden = !home;
  if (!home) return;
  const c = home.candidate;
  box.className = c && c.precision !== "house" ? "note" : "note exact";
  box.innerHTML = c
    ? `<b>${escapeHtml(c.label)}</b> — ${escapeHtml(t("precision")[c.precision])} ` +
      `(${escapeHtml(t("uncertainty", c.uncertainty_m))}): ${escapeHtml(
        LANG === "vi" ? c.note_vi : c.note_en)}`
    : escapeHtml(t("home_pinned", home.lon.toFixed(5), home.lat.toFixed(5)));
}

function drawParentHome() {
  if (!parentPage.map || !parentPage.map.getSource("uncertainty")) return;
  const home = parentPage.home || (parentPage.pending && {lon: parentPage.pending.lon,
    lat: parentPage.pending.lat, candidate: parentPage.pending});
  if (!home) return;
  if (!parentPage.marker) {
    parentPage.marker = new maplibregl.Marker(HOME_PIN);
    parentPage.marker.on("dragend", () => {
      const at = parentPage.marker.getLngLat();
      setParentHome(at.lng, at.lat, null, null);
    });
  }
  parentPage.marker.setLngLat([home.lon, home.lat]).addTo(parentPage.map);
  parentPage.marker.getElement().dataset.testid = "parent-home-marker";
  parentPage.map.getSource("uncertainty").setData(home.candidate
    ? circle(home.lon, home.lat, home.candidate.uncertainty_m) : emptyCollection());
}

// ------------------------------------------------------------------ schools by distance

async function loadNearSchools() {
  const the_round = selectedRound();
  if (!parentPage.home || !the_round) { parentPage.near = []; renderNear(); return; }
  const {lon, lat} = parentPage.home;
  const level = LEVEL_OF_GRADE[the_round.grade];
  const body = document.querySelector("#app-near tbody");
  if (body) body.innerHTML = `<tr><td class="muted">${escapeHtml(t("looking"))}</td></tr>`;
  try {
    const found = await getJson(
      `/schools/near?lon=${lon}&lat=${lat}&mode=motorbike&level=${level}&limit=10`);
    parentPage.near = found.features;
    parentPage.nearError = null;
  } catch (error) {
    parentPage.near = [];
    parentPage.nearError = error.message;
  }
  renderNear();
  renderChoices();  // the chosen schools' names come with the schools near the home
  drawNearSchools();
}

function renderNear() {
  const body = document.querySelector("#app-near tbody");
  if (!body) return;
  const the_round = selectedRound();
  if (parentPage.nearError) {
    body.innerHTML = `<tr><td>${escapeHtml(t("error"))}: ${escapeHtml(parentPage.nearError)}</td></tr>`;
    return;
  }
  if (!parentPage.home || !the_round) {
    body.innerHTML = `<tr><td class="muted">${escapeHtml(t("home_needed"))}</td></tr>`;
    return;
  }
  const norm = NORM_M[the_round.grade];
  body.innerHTML = `<tr><th>${escapeHtml(t("school"))}</th><th class="num">${escapeHtml(
    t("road_km"))}</th><th class="num">${escapeHtml(t("motorbike_min"))}</th><th></th></tr>` +
    parentPage.near.map((f) => {
      const p = f.properties;
      const chosen = parentPage.choices.indexOf(p.id);
      const far = p.distance_m > norm;
      return `<tr data-testid="app-near-row" class="${far ? "far" : ""}">` +
        `<td>${escapeHtml(p.name)}<span class="sub">${escapeHtml(p.address || p.ward_name || "")}` +
        `</span></td><td class="num">${kmText(p.distance_m)} km${far ? ` <span class="flag">` +
        `${escapeHtml(t("beyond_norm"))}</span>` : ""}</td>` +
        `<td class="num">${escapeHtml(minutesText(p.time_min))}</td>` +
        `<td class="num">${chosen >= 0 ? `<b>${escapeHtml(t("rank"))} ${chosen + 1}</b>`
          : `<button type="button" data-choose="${p.id}">${escapeHtml(t("add_choice"))}</button>`}` +
        "</td></tr>";
    }).join("") +
    `<tr><td colspan="4" class="muted small">${escapeHtml(t("eligible_note"))}</td></tr>`;
}

function drawNearSchools() {
  if (!parentPage.map || !parentPage.map.getSource("near")) return;
  parentPage.map.getSource("near").setData({type: "FeatureCollection", features: parentPage.near});
}

function renderChoices() {
  const list = $("app-choices");
  if (!list) return;
  const names = new Map(parentPage.near.map((f) => [f.properties.id, f.properties.name]));
  list.innerHTML = parentPage.choices.length ? parentPage.choices.map((id, i) =>
    `<li data-testid="app-choice"><span><b class="acc-rank">${i + 1}.</b> ${escapeHtml(
      names.get(id) || `#${id}`)}</span>
      <span class="acc-buttons">
        <button type="button" data-move="up" data-index="${i}" title="${escapeHtml(t("up"))}"
          aria-label="${escapeHtml(t("up"))}">↑</button>
        <button type="button" data-move="down" data-index="${i}" title="${escapeHtml(t("down"))}"
          aria-label="${escapeHtml(t("down"))}">↓</button>
        <button type="button" data-move="remove" data-index="${i}">${escapeHtml(t("remove"))}</button>
      </span></li>`).join("")
    : `<li class="muted">${escapeHtml(t("no_choices"))}</li>`;
}

// ------------------------------------------------------------------ submit

// The form checked as the service checks it, before anything is sent: the first fault with
// the field to fix, or null. The round says which birth years it takes (its own rule).
function faultBeforeSending(form, the_round) {
  const digits = (text) => text.replace(/\s+/g, "");
  if (!/^[0-9]{12}$/.test(digits(form.child_id.value))) {
    return {field: form.child_id, text: t("child_id_format")};
  }
  if (!form.birth_date.value) return {field: form.birth_date, text: t("birth_needed")};
  const taken = the_round.birth_years || {};
  const years = taken[form.priority_group.value] || taken[""];
  const born = Number(form.birth_date.value.slice(0, 4));
  if (years && (born < years[0] || born > years[1])) {
    return {field: form.birth_date,
            text: t("birth_years_wrong", the_round.grade, the_round.admission_year, ...years)};
  }
  const sibling = digits(form.sibling.value);
  if (sibling && !/^[0-9]{12}$/.test(sibling)) return {field: form.sibling, text: t("sibling_id_format")};
  if (!parentPage.home) return {field: $("app-address"), text: t("home_needed")};
  return null;
}

async function submitApplication(event) {
  event.preventDefault();
  const form = $("application-form");
  const box = $("app-message");
  box.className = "acc-message";
  box.textContent = "";
  form.querySelectorAll("[aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
  const the_round = selectedRound();
  if (!the_round) { box.textContent = t("no_open_round"); return; }
  const fault = faultBeforeSending(form, the_round);
  if (fault) {
    showError(box, new Error(fault.text));
    fault.field.setAttribute("aria-invalid", "true");
    fault.field.focus();
    return;
  }
  showSummary(form, the_round);
}

// What will be sent, to read once more before sending: the child, the home on the map, the
// ranked schools.
function showSummary(form, the_round) {
  const box = $("app-summary");
  const home = parentPage.home;
  const near = new Map(parentPage.near.map((f) => [f.properties.id, f.properties]));
  const fact = (label, value, id) => `<dt>${escapeHtml(label)}</dt>` +
    `<dd data-testid="summary-${id}">${escapeHtml(value)}</dd>`;
  const group = form.priority_group.value;
  const choices = parentPage.choices.map((id) => {
    const p = near.get(id);
    return `<li>${escapeHtml(p ? p.name : `#${id}`)}${p ? ` (${kmText(p.distance_m)} km)` : ""}</li>`;
  }).join("");
  box.innerHTML = `<h3 id="app-summary-title" tabindex="-1">${escapeHtml(t("summary_title"))}</h3>
    <p class="small">${escapeHtml(t("summary_note"))}</p>
    <dl class="acc-facts">
      ${fact(t("round"), t("round_label", the_round), "round")}
      ${fact(t("child_id"), form.child_id.value.replace(/\s+/g, ""), "child")}
      ${fact(t("birth_date"), dateText(form.birth_date.value), "birth")}
      ${fact(t("home"), home.address || `${t("summary_home_pin")} (${home.lat.toFixed(5)}, ` +
        `${home.lon.toFixed(5)})`, "home")}
      ${fact(t("stated_unit"), form.stated_unit.value.trim() || t("summary_none"), "stated")}
      ${fact(t("priority"), group ? t("priority_groups")[group] : t("no_priority"), "group")}
      ${fact(t("sibling"), form.sibling.value.replace(/\s+/g, "") || t("summary_none"), "sibling")}
    </dl>
    <h4>${escapeHtml(t("choices"))}</h4>
    ${choices ? `<ol data-testid="summary-choices">${choices}</ol>`
      : `<p class="muted" data-testid="summary-choices">${escapeHtml(t("no_choices"))}</p>`}
    <div class="acc-summary-map"></div>
    <div class="row"><button type="button" class="primary" id="app-confirm">${escapeHtml(
      t("confirm_submit"))}</button>
      <button type="button" id="app-back">${escapeHtml(t("back_to_edit"))}</button></div>`;
  box.hidden = false;
  $("app-submit").hidden = true;
  // The form's own map, moved here while the family reads the summary.
  box.querySelector(".acc-summary-map").appendChild(parentPage.mapElement);
  if (parentPage.map) {
    parentPage.map.resize();
    parentPage.map.jumpTo({center: [home.lon, home.lat], zoom: 15});
  }
  $("app-confirm").addEventListener("click", sendApplication);
  $("app-back").addEventListener("click", hideSummary);
  $("app-summary-title").focus();
}

function hideSummary() {
  const box = $("app-summary");
  if (!box || box.hidden) return;
  box.hidden = true;
  box.innerHTML = "";
  $("app-map-box").appendChild(parentPage.mapElement);
  if (parentPage.map) parentPage.map.resize();
  $("app-submit").hidden = false;
  $("app-submit").focus();
}

async function sendApplication() {
  const form = $("application-form");
  const box = $("app-message");
  const the_round = selectedRound();
  // One key per filled-in application: a second click replays the first answer.
  parentPage.key = parentPage.key || newIdempotencyKey();
  const payload = {
    child_id: form.child_id.value.replace(/\s+/g, ""),
    birth_date: form.birth_date.value,
    lon: Number(parentPage.home.lon.toFixed(7)),
    lat: Number(parentPage.home.lat.toFixed(7)),
    address: parentPage.home.address || null,
    priority_group: form.priority_group.value || null,
    sibling_child_id: form.sibling.value.replace(/\s+/g, "") || null,
    preferences: parentPage.choices,
    stated_unit: form.stated_unit.value.trim() || null,
  };
  const button = $("app-confirm");
  button.disabled = true;
  button.textContent = t("submitting");
  try {
    const made = await api("POST", `/rounds/${the_round.id}/applications`,
                           {json: payload, headers: {"Idempotency-Key": parentPage.key}});
    parentPage.key = null;
    parentPage.choices = [];
    parentPage.draft = {round: String(the_round.id)};
    parentPage.home = null;
    parentPage.near = [];
    parentPage.candidates = [];
    dropDraft();
    if (parentPage.marker) parentPage.marker.remove();
    parentPage.message = {ok: true, text: `${t("submitted")} ${t("application_no", made.id)}: ` +
      `${t("statuses")[made.status] || made.status}`};
    location.hash = `#/parent/${made.id}`;
    renderParent();
  } catch (error) {
    showError(box, error);
    button.disabled = false;
    button.textContent = t("confirm_submit");
  }
}

// ------------------------------------------------------------------ applications and results

async function loadApplications() {
  const list = $("app-list");
  try {
    const focused = (location.hash.match(/^#\/parent\/(\d+)/) || [])[1];
    const mine = (await api("GET", "/applications")).filter((a) => String(a.id) !== focused);
    if (!$("app-list")) return;
    // The application opened above is not listed again; with no other, the list is left out.
    list.closest("section").hidden = Boolean(focused) && mine.length === 0;
    mine.forEach((a) => parentPage.apps.set(a.id, a));
    list.innerHTML = mine.length ? mine.map(applicationCard).join("")
      : `<p class="muted">${escapeHtml(t("none_yet"))}</p>`;
    fillTravelTimes(list);
  } catch (error) {
    list.innerHTML = `<p class="acc-message error">${escapeHtml(t("error"))}: ${escapeHtml(
      error.message)}</p>`;
  }
}

// The application the address names (#/parent/ID), read on its own from the API.
async function showOneApplication() {
  const match = location.hash.match(/^#\/parent\/(\d+)/);
  const slot = $("parent-one");
  if (!slot) return;
  if (!match) { slot.innerHTML = ""; return; }
  try {
    const one = await api("GET", `/applications/${match[1]}`);
    parentPage.apps.set(one.id, one);
    slot.innerHTML = `<section class="acc-card acc-focus">${applicationCard(one)}</section>`;
    fillTravelTimes(slot);
  } catch (error) {
    slot.innerHTML = `<section class="acc-card"><p class="acc-message error" ` +
      `data-testid="application-error">${escapeHtml(t("error"))} ${error.status}: ` +
      `${escapeHtml(error.message)}</p></section>`;
  }
}

// A text in the chosen language only (the other when it has none); EN/VI switches.
function inChosenLanguage(vi, en) {
  const [first, second] = LANG === "vi" ? [vi, en] : [en, vi];
  return `<p class="acc-explain">${escapeHtml(first || second || "")}</p>`;
}

// What the family does next: the way there (road distance, motorbike and walking times, the
// route on the map from its own home), the school's phone, and the round's notice as the
// service words it: enrolment dates, papers to bring, whom to ask for a review.
function nextSteps(a) {
  const school = a.result.school;
  const level = LEVEL_OF_GRADE[a.round.grade] || "tieu_hoc";
  const home = a.home && a.home.lon !== undefined ? a.home : null;
  const way = home
    ? `<li data-testid="result-times" data-school="${school.id}" data-from="${home.lat.toFixed(7)},${
      home.lon.toFixed(7)}">${escapeHtml(t("distance"))} ${kmText(a.result.distance_m)} km</li>` +
      `<li><a data-testid="result-route" href="#/map?home=${home.lon.toFixed(6)},` +
      `${home.lat.toFixed(6)}&level=${level}&school=${school.id}">${escapeHtml(
        t("see_the_way"))}</a></li>` : "";
  const phone = school.phone
    ? `<li>${escapeHtml(t("school_phone"))}: <a data-testid="result-phone" href="tel:${
      escapeHtml(school.phone.replace(/[^0-9+]/g, ""))}">${escapeHtml(school.phone)}</a></li>` : "";
  return `<h4>${escapeHtml(t("next_steps"))}</h4><ul class="acc-next" data-testid="next-steps">` +
    `${way}${phone}${serviceSteps(a.result)}</ul>`;
}

// The steps the service words from the round's notice, in the chosen language.
function serviceSteps(result) {
  return (result.next_steps || []).map((step) => `<li data-testid="step-${escapeHtml(step.kind)}">${
    escapeHtml(LANG === "vi" ? step.vi : step.en)}</li>`).join("");
}

// The road distance with the motorbike and walking times from the family's home, asked of
// the routing service once the result is on the page.
const travelTimes = new Map();
function fillTravelTimes(container) {
  for (const item of container.querySelectorAll("[data-testid=result-times]")) {
    const key = `${item.dataset.from}|${item.dataset.school}`;
    if (!travelTimes.has(key)) {
      travelTimes.set(key, Promise.all(["motorbike", "walk"].map((mode) => getJson(
        `/route?from=${item.dataset.from}&to_school=${item.dataset.school}&mode=${mode}`)
        .then((route) => route.properties.time_min))));
    }
    travelTimes.get(key).then(([motorbike, walk]) => {
      item.textContent = `${item.textContent.split(" · ")[0]} · ${t("by_motorbike")} ${
        minutesText(motorbike)} · ${t("on_foot")} ${minutesText(walk)}`;
      item.dataset.filled = "true";
    }).catch(() => {
      travelTimes.delete(key);
      item.dataset.filled = "failed";  // the distance by road stays; the map link shows the rest
    });
  }
}

// One passed-over school in English, by name (the API words these in Vietnamese only).
function passedOverEnglish(p) {
  const cutoff = p.cutoff || {};
  const why = p.why === "full" && cutoff.cost !== undefined
    ? `full; the last child it admitted lived ${cutoff.cost.toLocaleString("en")} m away` : p.why;
  return `${p.school_name || `#${p.school_id}`} (${kmText(p.distance_m)} km): ${why}.`;
}

function applicationCard(a) {
  const statusText = t("statuses")[a.status] || a.status;
  const reasons = (a.reasons || []).map((r) => `<li>${inChosenLanguage(r.vi, r.en)}</li>`).join("");
  const roundStatus = t("round_statuses")[a.round.status] || a.round.status;
  const passed = a.result ? a.result.explanation.passed_over.map((p) =>
    `<li>${inChosenLanguage(p.vi, passedOverEnglish(p))}</li>`).join("") : "";
  const passedList = passed
    ? `<h4>${escapeHtml(t("passed_over"))}</h4><ul class="acc-passed">${passed}</ul>` : "";
  let result;
  if (!a.result) {
    result = a.status === "eligible" ? `<p class="muted">${escapeHtml(t("waiting"))}</p>` : "";
  } else if (!a.result.school) {
    result = `<div class="acc-result none" data-testid="result"><h4>${escapeHtml(t("result"))}</h4>` +
      `<p data-testid="result-none">${escapeHtml(t("not_assigned"))}</p>` +
      `<div data-testid="explanation">${inChosenLanguage(a.result.explanation.vi,
        a.result.explanation.en)}</div>${passedList}</div>`;
  } else {
    result = `<div class="acc-result" data-testid="result"><h4>${escapeHtml(t("assigned"))}</h4>` +
      `<p class="acc-school" data-testid="result-school">${escapeHtml(a.result.school.name)}` +
      `<span class="sub">${escapeHtml(a.result.school.address || "")} · ${escapeHtml(
        t("distance"))} ${kmText(a.result.distance_m)} km</span></p>` +
      nextSteps(a) +
      `<h4>${escapeHtml(t("why"))}</h4><div data-testid="explanation">${inChosenLanguage(
        a.result.explanation.vi, a.result.explanation.en)}</div>` +
      passedList + "</div>";
  }
  return `<article class="acc-application" data-testid="application" data-id="${a.id}">
    <h3><a href="#/parent/${a.id}">${escapeHtml(t("application_no", a.id))}</a> ·
      ${escapeHtml(a.round.name)} <span class="muted small">(${escapeHtml(roundStatus)})</span></h3>
    <p><span class="acc-status ${a.status}" data-testid="application-status">${escapeHtml(
      statusText)}</span> · ${escapeHtml(t("submitted_at"))} ${escapeHtml(
      dateText(a.submitted_at))} ·
      ${escapeHtml(t("birth_date"))} ${escapeHtml(dateText(a.birth_date))}
      ${a.priority_group ? ` · ${escapeHtml(t("priority_groups")[a.priority_group] || a.priority_group)}
        (${escapeHtml(t("claim_statuses")[a.priority_status] || a.priority_status)})` : ""}
      ${a.has_sibling ? ` · ${escapeHtml(t("sibling_yes"))}` : ""}</p>
    ${residenceLines(a)}
    ${reasons ? `<ul class="acc-reasons">${reasons}</ul>` : ""}
    ${reviewLines(a)}
    ${result}
  </article>`;
}

// Whether the family may still correct or withdraw the application itself: the round takes
// changes and its review deadline has not passed (the service has the last word).
function mayChange(a) {
  return ["open", "review"].includes(a.round.status) && !hasPassed(a.round.review_until);
}

// The unit of residence as stated, and a note when it differs from the home's unit.
function residenceLines(a) {
  if (!a.stated_unit) return "";
  const checking = ["mismatch", "unknown_unit"].includes(a.residence_check) &&
    !["published", "archived"].includes(a.round.status);
  const note = !checking ? "" : `<p class="acc-note" role="note" data-testid="residence-note">${
    escapeHtml(t(a.residence_check === "mismatch" ? "residence_mismatch_note"
      : "residence_unknown_note", a.stated_unit))}${mayChange(a) ? ` ${escapeHtml(
      t("residence_fix_hint"))}` : ""}</p>`;
  return `<p class="small" data-testid="stated-unit">${escapeHtml(t("stated_shown"))}: ${
    escapeHtml(a.stated_unit)}</p>${note}`;
}

// The review deadline, and what the family may do now: correct or withdraw, or (after the
// deadline or the lock) ask the ward officer.
function reviewLines(a) {
  const r = a.round;
  const note = parentPage.cardNote && parentPage.cardNote.id === a.id ? parentPage.cardNote : null;
  const message = `<p class="acc-message${note ? (note.ok ? " ok" : " error") : ""}" role="status"
    data-testid="app-action-message">${note ? escapeHtml(note.text) : ""}</p>`;
  if (mayChange(a)) {
    return `${r.review_until ? `<p class="small" data-testid="review-deadline">${escapeHtml(
        t("review_deadline_is", dateTimeText(r.review_until)))}</p>` : ""}
      <div class="acc-app-actions" data-testid="app-actions">
        <button type="button" data-app-do="edit" data-id="${a.id}"
          aria-expanded="${parentPage.correcting === a.id}">${escapeHtml(t("edit_application"))}</button>
        ${a.status !== "withdrawn" ? `<button type="button" data-app-do="withdraw" data-id="${a.id}">${
          escapeHtml(t("withdraw"))}</button>` : ""}
      </div>
      ${parentPage.correcting === a.id ? correctionForm(a) : ""}${message}`;
  }
  const ended = hasPassed(r.review_until) && ["open", "review", "closed"].includes(r.status);
  if (ended) {
    return `<p class="acc-note locked" data-testid="locked-note">${escapeHtml(
      t("review_ended_note", dateTimeText(r.review_until)))}</p>${message}`;
  }
  if (r.status === "closed") {
    return `<p class="acc-note locked" data-testid="locked-note">${escapeHtml(
      t("data_locked_note"))}</p>${message}`;
  }
  return message;
}

// A correction: birth date, priority group, stated unit and (by a new address) the home; the
// child's code and the ranked choices stay.
function correctionForm(a) {
  return `<form class="acc-form acc-correction" data-testid="correction-form" data-id="${a.id}"
      novalidate>
    <h4>${escapeHtml(t("correction_title", a.id))}</h4>
    <div class="acc-grid">
      <label>${escapeHtml(t("birth_date"))}<input name="birth_date" type="date" required
        value="${escapeHtml(a.birth_date)}"></label>
      <label>${escapeHtml(t("priority"))}<select name="priority_group">
        <option value="">${escapeHtml(t("no_priority"))}</option>
        ${PRIORITY_GROUPS.map((g) => `<option value="${g}"${g === a.priority_group ? " selected" : ""}>${
          escapeHtml(t("priority_groups")[g])}</option>`).join("")}
      </select></label>
    </div>
    <label>${escapeHtml(t("stated_unit"))}<input name="stated_unit" maxlength="200"
      value="${escapeHtml(a.stated_unit || "")}" placeholder="${escapeHtml(t("stated_unit_ph"))}"
      aria-describedby="stated-hint-${a.id}"></label>
    <p class="muted small" id="stated-hint-${a.id}">${escapeHtml(t("stated_unit_hint"))}</p>
    <label>${escapeHtml(t("new_address"))}<input name="address" maxlength="300"
      placeholder="${escapeHtml((a.home && a.home.address) || t("home_ph"))}"></label>
    <p class="muted small">${escapeHtml(t("new_address_hint"))} ${escapeHtml(t("preferences_kept"))}</p>
    <div class="row"><button type="submit" class="primary">${escapeHtml(t("save"))}</button>
      <button type="button" data-app-do="cancel" data-id="${a.id}">${escapeHtml(t("cancel"))}</button></div>
    <p class="acc-message" role="status" data-testid="correction-message"></p>
  </form>`;
}

// Show the application again where it is shown (opened above, or in the list).
async function refreshApplications() {
  await Promise.all([showOneApplication(), loadApplications()]);
}

async function onApplicationAction(event) {
  const button = event.target.closest("button[data-app-do]");
  if (!button) return;
  const id = Number(button.dataset.id);
  const a = parentPage.apps.get(id);
  parentPage.cardNote = null;
  switch (button.dataset.appDo) {
    case "edit":
      parentPage.correcting = parentPage.correcting === id ? null : id;
      await refreshApplications();
      focusCorrection(id);
      break;
    case "cancel":
      parentPage.correcting = null;
      await refreshApplications();
      break;
    case "withdraw":
      if (!a || !window.confirm(t("confirm_withdraw", id))) return;
      button.disabled = true;
      try {
        await api("POST", `/applications/${id}/withdraw`);
        parentPage.correcting = null;
        parentPage.cardNote = {id, ok: true, text: t("withdrawn_done")};
      } catch (error) {
        parentPage.cardNote = {id, ok: false, text: `${t("error")}: ${error.message}`};
      }
      await refreshApplications();
      break;
    default:
  }
}

function focusCorrection(id) {
  const form = document.querySelector(`[data-testid=correction-form][data-id="${id}"]`);
  if (form) form.birth_date.focus();
}

async function submitCorrection(event) {
  const form = event.target.closest("[data-testid=correction-form]");
  if (!form) return;
  event.preventDefault();
  const id = Number(form.dataset.id);
  const a = parentPage.apps.get(id);
  const message = form.querySelector(".acc-message");
  message.className = "acc-message";
  message.textContent = "";
  if (!a) return;
  if (!form.birth_date.value) { showError(message, new Error(t("birth_date_needed"))); return; }
  const address = form.address.value.trim();
  const body = {
    birth_date: form.birth_date.value,
    priority_group: form.priority_group.value || null,
    preferences: a.preferences || [],
    stated_unit: form.stated_unit.value.trim() || null,
    ...(address ? {address} : {lon: a.home.lon, lat: a.home.lat, address: a.home.address}),
  };
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("PUT", `/applications/${id}`, {json: body});
  } catch (error) {
    button.disabled = false;
    showError(message, error);
    return;
  }
  parentPage.correcting = null;
  parentPage.cardNote = {id, ok: true, text: t("corrected")};
  await refreshApplications();
}

// ------------------------------------------------------------------ wiring

function onParentShown() {
  if (currentView() !== "parent") return;
  if (!parentRoot().dataset.rendered) { parentRoot().dataset.rendered = "yes"; renderParent(); return; }
  if (!parentPage.map && parentPage.mapElement && parentPage.mapElement.isConnected) createParentMap();
  else if (parentPage.map) parentPage.map.resize();
  showOneApplication();
  loadApplications();
}

window.addEventListener("hashchange", onParentShown);
parentRoot().addEventListener("click", onApplicationAction);
parentRoot().addEventListener("submit", submitCorrection);
document.addEventListener("sessionchange", () => {
  parentPage.message = null;
  parentPage.correcting = null;
  parentPage.cardNote = null;
  parentPage.apps = new Map();
  if (parentRoot().dataset.rendered) renderParent();
});
document.addEventListener("languagechange", () => {
  if (!parentRoot().dataset.rendered) return;
  saveDraft();
  renderParent();
  renderCandidates();
});
onParentShown();
