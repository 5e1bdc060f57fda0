// The admissions officer's console: rounds in their area (by unit names), the parents' review
// window, stated units of residence that differ from the home and reasoned amendments, import,
// runs side by side on an aggregated map (wards and schools, never homes), publish, round 2
// and export.
"use strict";

const OFFICER_ROLES = ["ward_officer", "district_officer", "city_admin"];
const MIN_REASON_CHARS = 10;
// Deferred acceptance first: the round's default, the result every parent can check alone.
const MECHANISMS = ["da", "nearest", "constrained", "greedy"];
const SHARE_METRICS = new Set(["share_at_nearest", "share_first_choice"]);

const officer = {
  me: null,
  rounds: [],
  roundId: null,
  detailFor: null,    // the round whose runs, comparison and map are held below
  runs: [],
  compared: [],       // run ids ticked for comparison
  comparison: null,   // the compare endpoint's answer
  changes: null,      // with two runs compared: the children changing school between them
  popups: [],         // the map's open popups, closed when the map shows something else
  mapRun: null,       // the run drawn on the map
  demand: null,
  perSchool: new Map(),
  drawnSchools: [],   // the per-school features on the map
  map: null,
  mapElement: null,
  markers: [],
  notice: null,       // {ok, text}
  claims: [],         // pending priority claims of the chosen round
  units: [],          // the officer's units: {code, label, district_code, district_name}
  edition: null,      // the edition of the officer's units (null for a city admin)
  residence: null,    // the chosen round's residence report
  amending: null,     // the application whose amend form is open (null: none)
  amended: null,      // the last amendment's answer, as text
};

const officerRoot = () => document.getElementById("officer-content");
// What the round's state allows now, as the service's one table says (RoundOut.actions).
const can = (r, action) => Boolean(r && (r.actions || []).includes(action));
const shownCount = (n) => (n === null || n === undefined ? t("under_k") : String(n));

function renderOfficer() {
  const root = officerRoot();
  const signed = session.read();
  if (!signed || !OFFICER_ROLES.includes(signed.role)) {
    root.innerHTML = `<div class="acc-page">${signed ? signedInBar(signed) : ""}` +
      "<div class='acc-signin-slot'></div></div>";
    wireSignOut(root);
    renderSignIn(root.querySelector(".acc-signin-slot"),
                 {allowRegister: false, note: signed ? t("officer_only") : ""});
    return;
  }
  root.innerHTML = `<div class="acc-split">
    <div class="acc-side">
      ${signedInBar(signed)}
      <p class="muted small" id="officer-area"></p>
      <p class="acc-message" id="officer-notice" role="status"></p>
      <section class="acc-card">
        <h2>${escapeHtml(t("rounds"))}</h2>
        <table class="acc-table" id="officer-rounds"><tbody></tbody></table>
        <details id="round-create"><summary>${escapeHtml(t("create_round"))}</summary>
          <form class="acc-form" id="round-form">
            <label>${escapeHtml(t("round_name"))}<input name="name" required maxlength="200"></label>
            <div class="acc-grid">
              <label>${escapeHtml(t("grade"))}<select name="grade"><option>1</option>
                <option>6</option></select></label>
              <label>${escapeHtml(t("school_year"))}<input name="school_year" required
                pattern="\\d{4}-\\d{4}" value="${new Date().getFullYear()}-${new Date().getFullYear() + 1}">
              </label>
            </div>
            <fieldset id="round-area"><legend>${escapeHtml(t("round_area"))}</legend>
              <p class="muted small">${escapeHtml(t("looking"))}</p></fieldset>
            <label>${escapeHtml(t("review_until"))}
              <input name="review_until" type="datetime-local"></label>
            <p class="muted small">${escapeHtml(t("review_until_hint", zoneOffsetText(new Date())))}</p>
            <button type="submit">${escapeHtml(t("create"))}</button>
            <p class="acc-message" id="round-form-message" role="status"></p>
          </form>
        </details>
      </section>
      <section class="acc-card" id="round-detail"></section>
    </div>
    <div class="acc-mapwrap"><div id="officer-map-slot"></div>
      <div class="acc-legend small" id="officer-legend"></div></div>
  </div>`;
  wireSignOut(root);
  placeOfficerMap();
  $("round-form").addEventListener("submit", createRound);
  $("round-area").addEventListener("change", onAreaTick);
  $("round-area").addEventListener("click", onAreaButton);
  $("officer-rounds").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-round]");
    if (row) selectRound(Number(row.dataset.round));
  });
  $("officer-rounds").addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-round]");
    if (!row || (event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    selectRound(Number(row.dataset.round));
  });
  renderNotice();
  renderLegend();
  loadOfficer();
}

function notify(ok, text) {
  officer.notice = {ok, text};
  renderNotice();
}

function renderNotice() {
  const box = $("officer-notice");
  if (!box) return;
  box.className = "acc-message";
  box.textContent = "";
  if (!officer.notice) return;
  if (officer.notice.ok) showOk(box, officer.notice.text);
  else showError(box, new Error(officer.notice.text));
}

async function officerCall(method, url, options) {
  try {
    return await api(method, url, options);
  } catch (error) {
    notify(false, error.message);
    throw error;
  }
}

async function loadOfficer() {
  try {
    officer.me = await api("GET", "/auth/me");
    await loadOfficerUnits();
  } catch (error) {
    notify(false, error.message);
  }
  renderOfficerArea();
  renderAreaPicker();
  await loadRounds();
}

// The officer's units by name, with their (2019) districts: /auth/me names them; the public
// unit list adds each one's type word and district.
async function loadOfficerUnits() {
  const mine = officer.me.area_units || [];
  officer.edition = mine.length ? mine[0].edition : null;
  let listed = new Map();
  if (mine.length) {
    try {
      const answer = await getJson(`/wards?edition=${encodeURIComponent(officer.edition)}` +
                                   "&geometry=false");
      listed = new Map(answer.features.map((f) => [f.properties.code, f.properties]));
    } catch { /* the names /auth/me gives are enough */ }
  }
  officer.units = mine.map((unit) => {
    const p = listed.get(unit.code) || {};
    return {code: unit.code, label: unitLabel(unit.name, p.unit_type_vi || null, null),
            district_code: p.district_code || null, district_name: p.district_name || null};
  });
}

// Districts of the officer's area (2019 units only): those whose code the account's area
// names, so every ward of them is the officer's.
function officerDistricts() {
  const area = new Set((officer.me && officer.me.area) || []);
  const found = new Map();
  for (const unit of officer.units) {
    if (unit.district_code && area.has(unit.district_code)) {
      found.set(unit.district_code, unit.district_name || unit.district_code);
    }
  }
  return [...found].map(([code, name]) => ({code, name}));
}

function renderOfficerArea() {
  const box = $("officer-area");
  if (!box || !officer.me) return;
  const districts = officerDistricts();
  const wards = officer.units.map((u) => u.label).join(", ");
  const names = !officer.units.length ? t("whole_city")
    : districts.length ? `${districts.map((d) => d.name).join(", ")} — ${wards}` : wards;
  box.textContent = t("your_area", names);
}

// The new round's area: the officer's own units, ticked; for 2019 districts a whole-district
// box. A city admin, with no area of their own, types codes and chooses the edition.
function renderAreaPicker() {
  const box = $("round-area");
  if (!box || !officer.me) return;
  const legend = `<legend>${escapeHtml(t("round_area"))}</legend>`;
  if (!officer.units.length) {
    box.innerHTML = `${legend}
      <label>${escapeHtml(t("edition"))}<select name="edition">
        <option value="">—</option>
        ${["2025", "2019"].map((e) => `<option value="${e}">${escapeHtml(t("editions")[e])}</option>`)
          .join("")}</select></label>
      <label>${escapeHtml(t("area_codes"))}<input name="wards"></label>
      <label>${escapeHtml(t("district_codes"))}<input name="districts"></label>`;
    return;
  }
  const unitBox = (u) => `<label class="acc-check"><input type="checkbox" name="unit"
    value="${escapeHtml(u.code)}" data-district="${escapeHtml(u.district_code || "")}" checked>
    ${escapeHtml(u.label)}</label>`;
  const districts = officer.edition === "2019" ? officerDistricts() : [];
  const inDistrict = new Set(districts.map((d) => d.code));
  const groups = districts.map((d) => `<div class="acc-unit-group">
      <label class="acc-check acc-district"><input type="checkbox" name="district"
        value="${escapeHtml(d.code)}" checked> <b>${escapeHtml(t("whole_district", d.name))}</b></label>
      <div class="acc-units">${officer.units.filter((u) => u.district_code === d.code)
        .map(unitBox).join("")}</div></div>`);
  const loose = officer.units.filter((u) => !inDistrict.has(u.district_code));
  box.innerHTML = `${legend}
    <p class="muted small">${escapeHtml(t("editions")[officer.edition] || officer.edition)} ·
      ${escapeHtml(t("area_pick_note"))}</p>
    ${officer.units.length > 1 ? `<div class="acc-buttons">
      <button type="button" data-pick="all">${escapeHtml(t("pick_all"))}</button>
      <button type="button" data-pick="none">${escapeHtml(t("pick_none"))}</button></div>` : ""}
    <div class="acc-unit-list" data-testid="area-picker">${groups.join("")}${
      loose.length ? `<div class="acc-units">${loose.map(unitBox).join("")}</div>` : ""}</div>`;
}

// A whole-district box ticks its wards; a ward box keeps its district's box in step.
function onAreaTick(event) {
  const box = event.target;
  const picker = $("round-area");
  if (box.name === "district") {
    picker.querySelectorAll(`input[name=unit][data-district="${CSS.escape(box.value)}"]`)
      .forEach((unit) => { unit.checked = box.checked; });
  }
  syncDistrictBoxes();
}

function onAreaButton(event) {
  const button = event.target.closest("button[data-pick]");
  if (!button) return;
  $("round-area").querySelectorAll("input[type=checkbox]").forEach((tick) => {
    tick.checked = button.dataset.pick === "all";
  });
  syncDistrictBoxes();
}

function syncDistrictBoxes() {
  const picker = $("round-area");
  picker.querySelectorAll("input[name=district]").forEach((district) => {
    const units = [...picker.querySelectorAll(
      `input[name=unit][data-district="${CSS.escape(district.value)}"]`)];
    const ticked = units.filter((u) => u.checked).length;
    district.checked = ticked === units.length && ticked > 0;
    district.indeterminate = ticked > 0 && ticked < units.length;
  });
}

// The area the form names: whole districts where every ward of one is ticked, wards otherwise.
function pickedArea(form) {
  const codes = (text) => (text || "").split(/[\s,;]+/).filter(Boolean);
  if (!officer.units.length) {
    return {edition: form.edition.value || null, districts: codes(form.districts.value),
            wards: codes(form.wards.value)};
  }
  const picker = $("round-area");
  const districts = [...picker.querySelectorAll("input[name=district]:checked")].map((d) => d.value);
  const whole = new Set(districts);
  const wards = [...picker.querySelectorAll("input[name=unit]:checked")]
    .filter((u) => !whole.has(u.dataset.district)).map((u) => u.value);
  return {edition: officer.edition, districts, wards};
}

async function loadRounds() {
  officer.rounds = await officerCall("GET", "/rounds");
  renderRoundList();
  if (officer.roundId && officer.rounds.some((r) => r.id === officer.roundId)) {
    await selectRound(officer.roundId);
  } else {
    $("round-detail").innerHTML = `<p class="muted">${escapeHtml(t("choose_round"))}</p>`;
  }
}

function renderRoundList() {
  const body = document.querySelector("#officer-rounds tbody");
  if (!body) return;
  body.innerHTML = `<tr><th>#</th><th>${escapeHtml(t("round_name"))}</th><th>${escapeHtml(
    t("grade"))}</th><th>${escapeHtml(t("status"))}</th><th class="num">${escapeHtml(
    t("eligible"))}</th></tr>` + officer.rounds.map((r) =>
    `<tr data-round="${r.id}" data-testid="officer-round" tabindex="0" class="${r.id ===
      officer.roundId ? "chosen" : ""}"><td>${r.id}</td><td>${escapeHtml(r.name)}<span class="sub">${
      escapeHtml(r.school_year)} · ${escapeHtml(t("round"))} ${r.round_number}${r.review_until
      ? ` · ${escapeHtml(t("review_deadline"))} ${escapeHtml(dateTimeText(r.review_until))}` : ""}${
      r.residence_mismatches ? ` · <b class="bad">${escapeHtml(t("mismatch_short",
        r.residence_mismatches))}</b>` : ""}` +
    `</span></td><td>${r.grade}</td>` +
    `<td>${escapeHtml(t("round_statuses")[r.status] || r.status)}</td>` +
    `<td class="num">${r.eligible} / ${r.applications}</td></tr>`).join("");
}

async function createRound(event) {
  event.preventDefault();
  const form = event.target;
  const message = $("round-form-message");
  message.className = "acc-message";
  message.textContent = "";
  const area = pickedArea(form);
  if (!area.districts.length && !area.wards.length) {
    showError(message, new Error(t("area_needed")));
    return;
  }
  const body = {name: form.name.value.trim(), grade: Number(form.grade.value),
                school_year: form.school_year.value.trim(), districts: area.districts,
                wards: area.wards, review_until: withZoneOffset(form.review_until.value)};
  if (area.edition) body.edition = area.edition;
  let made;
  try {
    made = await officerCall("POST", "/rounds", {json: body});
  } catch (error) {
    showError(message, error);
    return;
  }
  officer.roundId = made.id;
  $("round-create").open = false;
  form.name.value = "";
  form.review_until.value = "";
  await loadRounds();
  notify(true, `${t("done")} ${t("round")} ${made.id}`);
}

// ------------------------------------------------------------------ one round

async function selectRound(roundId) {
  if (roundId !== officer.detailFor) {
    // Runs, comparison and map belong to one round: start afresh for another.
    officer.detailFor = roundId;
    officer.compared = [];
    officer.comparison = null;
    officer.changes = null;
    officer.mapRun = null;
    officer.perSchool = new Map();
    officer.amending = null;
    officer.amended = null;
  }
  officer.roundId = roundId;
  if (officer.mapElement) officer.mapElement.dataset.drawn = "";
  renderRoundList();
  officer.runs = await officerCall("GET", `/rounds/${roundId}/runs`);
  const chosen = currentRound();
  officer.claims = chosen && chosen.pending_claims
    ? (await officerCall("GET", `/rounds/${roundId}/claims?pending=true`)).claims : [];
  try {
    officer.residence = await api("GET", `/rounds/${roundId}/residence`);
  } catch {
    officer.residence = null;  // the rest of the round is still worth showing
  }
  if (!officer.mapRun) {
    const published = officer.runs.find((r) => r.published);
    officer.mapRun = published ? published.id : null;
  }
  renderRoundDetail();
  await Promise.all([loadDemand(), loadPerSchool()]);
  drawOfficerMap();
}

function currentRound() { return officer.rounds.find((r) => r.id === officer.roundId) || null; }

function renderRoundDetail() {
  const r = currentRound();
  const box = $("round-detail");
  if (!r || !box) return;
  box.innerHTML = `
    <h2 data-testid="round-title">${escapeHtml(r.name)} <span class="muted small">#${r.id} ·
      ${escapeHtml(t("round_statuses")[r.status] || r.status)}</span></h2>
    <p class="small">${escapeHtml(t("grade"))} ${r.grade} · ${escapeHtml(r.school_year)} ·
      ${escapeHtml(t("applications"))} ${r.applications} · ${escapeHtml(t("eligible"))} ${r.eligible}</p>
    ${roundFacts(r)}
    ${deadlineControl(r)}
    ${noticeSection(r)}
    <div class="row">
      ${can(r, "open") ? `<button type="button" data-do="open">${escapeHtml(
        t(r.status === "closed" ? "reopen" : "open"))}</button>` : ""}
      ${can(r, "review") ? `<button type="button" data-do="review">${escapeHtml(t("review"))}</button>` : ""}
      ${can(r, "close") ? `<button type="button" data-do="close">${escapeHtml(t("close"))}</button>` : ""}
      ${can(r, "next") ? `<button type="button" data-do="next">${escapeHtml(t("next_round"))}</button>` : ""}
    </div>
    ${r.conflicts ? `<p class="small bad" data-testid="conflicts">${escapeHtml(
      t("conflicts_waiting", r.conflicts))}</p>` : ""}
    ${claimsTable(r)}
    ${residenceSection(r)}
    ${!can(r, "import") ? "" : `<h3 id="applicants-file-title">${escapeHtml(t("import_applicants"))}</h3>
    <div class="row"><input type="file" id="applicants-file" accept=".csv,text/csv"
      aria-labelledby="applicants-file-title">
      <button type="button" data-do="import">${escapeHtml(t("import"))}</button></div>`}
    ${!can(r, "run") ? "" : `<h3>${escapeHtml(t("run_round"))}</h3>
    <form class="row" id="run-form">
      <label>${escapeHtml(t("mechanism"))} <select name="mechanism">${MECHANISMS.map((m) =>
        `<option value="${m}">${escapeHtml(t("mechanisms")[m])}</option>`).join("")}</select></label>
      <label>${escapeHtml(t("seed"))} <input name="seed" type="number" min="0" required
        value="${new Date().getFullYear()}" class="acc-seed"></label>
      <button type="submit">${escapeHtml(t("run"))}</button>
    </form>`}
    <h3>${escapeHtml(t("runs"))}</h3>
    <table class="acc-table" id="runs-table"><tbody>${officer.runs.map(runRow).join("")}</tbody></table>
    <div class="row">${officer.runs.length > 1 ? `<button type="button" data-do="compare">${escapeHtml(
      t("compare"))}</button>` : ""}</div>
    <div id="compare-box">${comparisonTable()}${changesTables()}</div>`;
  box.onclick = onRoundAction;
  const runForm = $("run-form");
  if (runForm) runForm.addEventListener("submit", runRound);
  const deadlineForm = $("deadline-form");
  if (deadlineForm) deadlineForm.addEventListener("submit", setDeadline);
  const amendBox = $("amend-form");
  if (amendBox) amendBox.addEventListener("submit", submitAmendment);
  const noticeForm = $("notice-form");
  if (noticeForm) noticeForm.addEventListener("submit", setNotice);
}

// The enrolment notice parents read beside their result: dates, papers, whom to ask for a
// review. Shown to every officer; set while the round allows (until it is archived).
function noticeSection(r) {
  const n = r.notice || {};
  const set = Boolean(n.enrol_from || n.papers.length || n.review_contact || n.review_requests_until);
  const facts = set ? `<dl class="acc-facts" data-testid="notice-facts">
      <dt>${escapeHtml(t("enrol_dates"))}</dt><dd>${escapeHtml(n.enrol_from
        ? `${dateText(n.enrol_from)} – ${dateText(n.enrol_until)}` : t("not_announced"))}</dd>
      <dt>${escapeHtml(t("enrol_papers"))}</dt><dd>${escapeHtml(n.papers.length
        ? n.papers.join("; ") : t("not_announced"))}</dd>
      <dt>${escapeHtml(t("review_contact"))}</dt><dd>${escapeHtml(n.review_contact
        ? n.review_contact : t("not_announced"))}${n.review_requests_until ? ` · ${escapeHtml(
        t("review_requests_until_short", dateText(n.review_requests_until)))}` : ""}</dd></dl>`
    : `<p class="muted small" data-testid="notice-facts">${escapeHtml(t("notice_none"))}</p>`;
  const form = !can(r, "notice") ? "" : `<form class="acc-form" id="notice-form" novalidate
      data-testid="notice-form">
    <div class="acc-grid">
      <label>${escapeHtml(t("enrol_from"))}<input type="date" name="enrol_from"
        value="${escapeHtml(n.enrol_from || "")}"></label>
      <label>${escapeHtml(t("enrol_until"))}<input type="date" name="enrol_until"
        value="${escapeHtml(n.enrol_until || "")}"></label></div>
    <label>${escapeHtml(t("enrol_papers_one_per_line"))}<textarea name="papers" rows="3"
      maxlength="2600">${escapeHtml(n.papers.join("\n"))}</textarea></label>
    <label>${escapeHtml(t("review_contact_hint"))}<input name="review_contact" maxlength="300"
      value="${escapeHtml(n.review_contact || "")}"></label>
    <label>${escapeHtml(t("review_requests_until"))}<input type="date" name="review_requests_until"
      value="${escapeHtml(n.review_requests_until || "")}"></label>
    <button type="submit">${escapeHtml(t("save_notice"))}</button>
  </form>`;
  return `<details class="acc-notice" data-testid="notice" ${set ? "" : "open"}>
    <summary>${escapeHtml(t("notice_title"))}</summary>
    <p class="muted small">${escapeHtml(t("notice_note"))}</p>${facts}${form}</details>`;
}

async function setNotice(event) {
  event.preventDefault();
  const r = currentRound();
  const form = event.target;
  const body = {
    enrol_from: form.enrol_from.value || null,
    enrol_until: form.enrol_until.value || null,
    papers: form.papers.value.split("\n").map((line) => line.trim()).filter(Boolean),
    review_contact: form.review_contact.value.trim() || null,
    review_requests_until: form.review_requests_until.value || null,
  };
  if (Boolean(body.enrol_from) !== Boolean(body.enrol_until)) {
    notify(false, t("enrol_both_days"));
    return;
  }
  try {
    await officerCall("PUT", `/rounds/${r.id}/notice`, {json: body});
    await loadRounds();
    notify(true, t("notice_saved"));
  } catch { /* the notice already says what went wrong */ }
}

// The round's edition, its area by name, and the parents' review window.
function roundFacts(r) {
  const names = (r.area || []).map((unit) => unit.name);
  const deadline = r.review_until
    ? `${dateTimeText(r.review_until)} — ${t(r.review_window_open ? "window_open" : "window_closed")}`
    : t("no_deadline");
  return `<dl class="acc-facts">
    <dt>${escapeHtml(t("edition"))}</dt>
    <dd data-testid="round-edition">${escapeHtml(t("editions")[r.edition] || r.edition)}</dd>
    <dt>${escapeHtml(t("round_area"))}</dt>
    <dd data-testid="round-area">${escapeHtml(names.join(", "))}</dd>
    <dt>${escapeHtml(t("review_deadline"))}</dt>
    <dd data-testid="review-deadline" class="${r.review_until && !r.review_window_open ? "bad" : ""}">${
      escapeHtml(deadline)}</dd>
  </dl>`;
}

// Set, change or remove the end of the parents' review window (each confirmed first).
function deadlineControl(r) {
  if (!can(r, "schedule")) return "";
  return `<form class="row acc-deadline" id="deadline-form" novalidate>
    <label>${escapeHtml(t("review_deadline"))}
      <input type="datetime-local" name="review_until" value="${escapeHtml(
        dateTimeInputValue(r.review_until))}"></label>
    <button type="submit">${escapeHtml(t(r.review_until ? "change_deadline" : "set_deadline"))}</button>
    ${r.review_until ? `<button type="button" data-do="clear-deadline">${escapeHtml(
      t("clear_deadline"))}</button>` : ""}
  </form>`;
}

async function setDeadline(event) {
  event.preventDefault();
  const r = currentRound();
  const until = withZoneOffset(event.target.review_until.value);
  if (!until) { notify(false, t("deadline_needed")); return; }
  if (!window.confirm(t("confirm_deadline", r.id, dateTimeText(until), hasPassed(until)))) return;
  try {
    const changed = await officerCall("PUT", `/rounds/${r.id}/review-until`,
                                      {json: {review_until: until}});
    await loadRounds();
    notify(true, t("deadline_set", dateTimeText(changed.review_until)));
  } catch { /* the notice already says what went wrong */ }
}

// A unit of the residence report by name, with its district when it has one.
const reportedUnit = (unit) => unitLabel(unit.name, null, unit.district);

// Applications whose stated unit of residence differs from the home's unit, with both
// names; each amendable with a written reason.
function residenceSection(r) {
  const report = officer.residence;
  if (!report || report.round_id !== r.id) return "";
  const amendable = can(r, "amend");
  const items = report.items || [];
  const rows = items.map((item) => {
    const stated = item.stated_unit ? reportedUnit(item.stated_unit) : `“${item.stated}”`;
    const written = item.stated_unit && foldName(item.stated) !== foldName(item.stated_unit.name)
      ? `“${item.stated}”` : "";
    const home = item.home_unit ? reportedUnit(item.home_unit)
      : item.home_unit_in_round ? item.home_unit_in_round.name : t("outside_units");
    return `<tr data-testid="mismatch-row" data-application="${item.application_id}"
      class="${officer.amending === item.application_id ? "chosen" : ""}">
      <td>#${item.application_id}</td>
      <td data-testid="mismatch-stated">${escapeHtml(stated)}<span class="sub">${escapeHtml(
        [written, item.stated_unit ? "" : t("not_found_unit"), t("checks")[item.check] || item.check]
          .filter(Boolean).join(" · "))}</span></td>
      <td data-testid="mismatch-home">${escapeHtml(home)}${item.distance_m == null ? "" :
        `<span class="sub">${escapeHtml(t(item.near_boundary ? "near_boundary" : "outside_by",
          item.distance_m))}</span>`}</td>
      <td>${amendable ? `<button type="button" data-do="amend" data-application="${
        item.application_id}">${escapeHtml(t("amend"))}</button>` : ""}</td></tr>`;
  });
  const list = items.length ? `<p class="small bad" data-testid="residence-count">${escapeHtml(
      t("residence_waiting", items.length))}</p>
    <p class="muted small">${escapeHtml(t("residence_note"))}</p>
    <table class="acc-table" id="mismatch-table"><tbody><tr><th>#</th><th>${escapeHtml(
      t("stated_col"))}</th><th>${escapeHtml(t("home_col"))}</th><th></th></tr>${rows.join("")}
    </tbody></table>`
    : `<p class="muted small" data-testid="residence-count">${escapeHtml(t("residence_none"))}</p>`;
  return `<section data-testid="residence"><h3>${escapeHtml(t("residence_title"))}</h3>
    ${report.stated ? `<p class="small" data-testid="residence-summary">${escapeHtml(
      t("residence_summary", report))}</p>` : ""}
    ${list}
    ${officer.amended ? `<p class="acc-message ok" data-testid="amend-result">${escapeHtml(
      officer.amended)}</p>` : ""}
    ${amendable && officer.amending === null ? `<div class="row"><button type="button"
      data-do="amend-any">${escapeHtml(t("amend_any"))}</button></div>` : ""}
    ${amendable && officer.amending !== null ? amendForm(r, items) : ""}
  </section>`;
}

// An officer's change of one application: its stated unit and/or its home, with a reason.
function amendForm(r, items) {
  const id = officer.amending === "any" ? null : officer.amending;
  const item = items.find((i) => i.application_id === id);
  return `<form class="acc-form acc-amend" id="amend-form" novalidate
      data-application="${id ?? ""}" data-testid="amend-form">
    <h4>${escapeHtml(id ? t("amend_title", id) : t("amend_any"))}</h4>
    ${item && item.stated ? `<p class="muted small">${escapeHtml(t("now_stated", item.stated))}</p>` : ""}
    ${id ? "" : `<label>${escapeHtml(t("application_id"))}
      <input name="application" type="number" min="1" step="1" required inputmode="numeric"></label>`}
    <label>${escapeHtml(t("amend_stated"))}<input name="stated_unit" maxlength="200"></label>
    <fieldset><legend>${escapeHtml(t("amend_home"))}</legend><div class="acc-grid">
      <label>${escapeHtml(t("lon"))}<input name="lon" type="number" step="any" min="-180" max="180"
        inputmode="decimal"></label>
      <label>${escapeHtml(t("lat"))}<input name="lat" type="number" step="any" min="-90" max="90"
        inputmode="decimal"></label></div></fieldset>
    <label>${escapeHtml(t("amend_reason"))}<textarea name="reason" rows="2" required
      minlength="${MIN_REASON_CHARS}" maxlength="1000"></textarea></label>
    <div class="row"><button type="submit">${escapeHtml(t("amend_submit"))}</button>
      <button type="button" data-do="amend-cancel">${escapeHtml(t("cancel"))}</button></div>
    <p class="acc-message" role="status" data-testid="amend-message"></p>
  </form>`;
}

async function submitAmendment(event) {
  event.preventDefault();
  const form = event.target;
  const message = form.querySelector(".acc-message");
  message.className = "acc-message";
  message.textContent = "";
  const r = currentRound();
  const id = form.application ? Number(form.application.value) : Number(form.dataset.application);
  const reason = form.reason.value.split(/\s+/).filter(Boolean).join(" ");
  const body = {reason};
  const stated = form.stated_unit.value.trim();
  if (stated) body.stated_unit = stated;
  const lon = form.lon.value.trim();
  const lat = form.lat.value.trim();
  const problem = !Number.isInteger(id) || id < 1 ? t("application_id_needed")
    : (lon || lat) && !(lon && lat) ? t("amend_both")
    : !stated && !lon ? t("amend_nothing")
    : reason.length < MIN_REASON_CHARS ? t("amend_reason_short") : null;
  if (problem) { showError(message, new Error(problem)); return; }
  if (lon) { body.lon = Number(lon); body.lat = Number(lat); }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const answer = await api("POST", `/rounds/${r.id}/applications/${id}/amend`, {json: body});
    const fields = (answer.changed || []).map((f) => t("amend_fields")[f] || f).join(", ");
    officer.amended = t("amended", answer, fields, t("statuses")[answer.status] || answer.status,
                        answer.residence_check ? t("checks")[answer.residence_check] : "");
    officer.amending = null;
    await loadRounds();
    notify(true, officer.amended);
  } catch (error) {
    button.disabled = false;
    showError(message, error);
  }
}

// Priority claims no officer has decided: they change no tier and no age rule in a run.
function claimsTable(r) {
  if (!r.pending_claims || !(officer.claims || []).length) return "";
  const rows = officer.claims.map((c) => `<tr data-testid="claim-row">
    <td>#${c.application_id}</td>
    <td>${escapeHtml(t("priority_groups")[c.priority_group] || c.priority_group)}</td>
    <td class="acc-buttons">
      <button type="button" data-do="claim" data-decision="verified"
        data-application="${c.application_id}">${escapeHtml(t("claim_verify"))}</button>
      <button type="button" data-do="claim" data-decision="rejected"
        data-application="${c.application_id}">${escapeHtml(t("claim_reject"))}</button></td></tr>`);
  return `<h3>${escapeHtml(t("claims_waiting", r.pending_claims))}</h3>
    <table class="acc-table" id="claims-table"><tbody>${rows.join("")}</tbody></table>`;
}

function runRow(run) {
  const m = run.metrics || {};
  const ticked = officer.compared.includes(run.id) ? "checked" : "";
  return `<tr data-testid="run-row" data-run="${run.id}" class="${run.id === officer.mapRun
    ? "chosen" : ""}">
    <td><label><input type="checkbox" data-compare="${run.id}" ${ticked}> #${run.id}</label></td>
    <td>${escapeHtml(t("mechanisms")[run.mechanism] || run.mechanism)}<span class="sub">seed ${run.seed}
      · ${escapeHtml(t("metrics").placed)} ${m.placed ?? "?"} · ${escapeHtml(t("metrics").beyond_norm)}
      ${m.beyond_norm ?? "?"}${run.published ? ` · <b>${escapeHtml(t("published"))}</b>` : ""}</span></td>
    <td class="acc-buttons">
      <button type="button" data-do="map" data-run="${run.id}">${escapeHtml(t("show_on_map"))}</button>
      ${can(currentRound(), "publish") ? `<button type="button" data-do="publish"
        data-run="${run.id}">${escapeHtml(t("publish"))}</button>` : ""}
      <button type="button" data-do="verify" data-run="${run.id}">${escapeHtml(t("verify"))}</button>
      <button type="button" data-do="export" data-format="csv" data-run="${run.id}">${escapeHtml(
        t("export_csv"))}</button>
      <button type="button" data-do="export" data-format="geojson" data-run="${run.id}"
        title="${escapeHtml(t("export_geojson"))}">GeoJSON</button>
      <button type="button" data-do="export" data-format="gpkg" data-run="${run.id}"
        title="${escapeHtml(t("export_geojson"))}">GeoPackage</button>
    </td></tr>`;
}

function formatMetric(key, value) {
  if (value === null || value === undefined) return "—";
  if (SHARE_METRICS.has(key)) return `${numberText(value * 100, 1)} %`;
  if (typeof value === "number") return numberText(value);
  return String(value);
}

function comparisonTable() {
  const c = officer.comparison;
  if (!c) return "";
  const worst = new Set(["beyond_norm", "classes_over_size", "unassigned",
                         "children_with_justified_envy", "siblings_split", "estimated_homes"]);
  const notes = c.notes || {};
  const english = document.documentElement.lang === "en";
  const note = (key) => (notes[key] ? (english ? notes[key].en : notes[key].vi) : "");
  const head = `<tr><th>${escapeHtml(t("metric"))}</th>${c.runs.map((run) =>
    `<th class="num">#${run.run}<span class="sub">${escapeHtml(t("mechanisms")[run.mechanism] ||
      run.mechanism)}</span></th>`).join("")}</tr>`;
  const rows = c.metrics.map((key) => `<tr data-metric="${key}"><td>${escapeHtml(
    t("metrics")[key] || key)}<span class="sub" data-testid="metric-note">${escapeHtml(
    note(key))}</span></td>${c.runs.map((run) => {
      const bad = worst.has(key) && Number(run[key]) > 0;
      return `<td class="num${bad ? " bad" : ""}">${escapeHtml(formatMetric(key, run[key]))}</td>`;
    }).join("")}</tr>`).join("");
  return `<table class="acc-table acc-compare" data-testid="compare-table">${head}${rows}</table>`;
}

async function onRoundAction(event) {
  const button = event.target.closest("button[data-do]");
  const tick = event.target.closest("input[data-compare]");
  if (tick) {
    const id = Number(tick.dataset.compare);
    officer.compared = tick.checked ? [...officer.compared, id] : officer.compared.filter((x) => x !== id);
    return;
  }
  if (!button) return;
  const r = currentRound();
  const run = Number(button.dataset.run);
  try {
    switch (button.dataset.do) {
      case "amend":
      case "amend-any":
        officer.amending = button.dataset.do === "amend" ? Number(button.dataset.application) : "any";
        officer.amended = null;
        renderRoundDetail();
        focusAmendForm();
        break;
      case "amend-cancel":
        officer.amending = null;
        renderRoundDetail();
        break;
      case "clear-deadline":
        if (!window.confirm(t("confirm_clear_deadline", r.id))) return;
        await officerCall("PUT", `/rounds/${r.id}/review-until`, {json: {review_until: null}});
        await loadRounds();
        notify(true, t("deadline_cleared"));
        break;
      case "open":
      case "review":
      case "close":
        // Say what cannot be undone before doing it.
        if (button.dataset.do !== "open" &&
            !window.confirm(t(`confirm_${button.dataset.do}`, r.id))) return;
        await officerCall("POST", `/rounds/${r.id}/${button.dataset.do}`);
        await loadRounds();
        notify(true, t("done"));
        break;
      case "import":
        await importApplicants(r);
        break;
      case "compare":
        await compareRuns(r);
        break;
      case "map":
        officer.mapRun = run;
        officer.mapElement.dataset.drawn = "";
        renderRoundDetail();
        await Promise.all([loadDemand(), loadPerSchool()]);
        drawOfficerMap();
        break;
      case "publish":
        if (!window.confirm(t("confirm_publish", run))) return;
        await officerCall("POST", `/rounds/${r.id}/runs/${run}/publish`);
        officer.mapRun = run;
        await loadRounds();
        notify(true, `${t("done")} #${run}: ${t("published")}`);
        break;
      case "verify": {
        const checked = await officerCall("POST", `/rounds/${r.id}/runs/${run}/verify`);
        notify(checked.ok, checked.ok ? `#${run}: ${t("verified_ok")}`
          : `#${run}: ${t("verified_bad")} ${checked.problems.join("; ")}`);
        break;
      }
      case "export":
        await exportRun(r, run, button.dataset.format);
        break;
      case "claim": {
        const note = window.prompt(t("claim_note"));
        if (!note || !note.trim()) return;
        await officerCall("POST", `/rounds/${r.id}/claims/${button.dataset.application}`,
                          {json: {decision: button.dataset.decision, note: note.trim()}});
        await loadRounds();
        notify(true, t("done"));
        break;
      }
      case "next": {
        const next = await officerCall("POST", `/rounds/${r.id}/next`, {json: {}});
        officer.roundId = next.round.id;
        await loadRounds();
        notify(true, t("next_done", next));
        break;
      }
      default:
    }
  } catch { /* the notice already says what went wrong */ }
}

function focusAmendForm() {
  const form = $("amend-form");
  if (!form) return;
  form.scrollIntoView({block: "nearest"});
  (form.application || form.stated_unit).focus();
}

async function importApplicants(r) {
  const input = $("applicants-file");
  const file = input && input.files[0];
  if (!file) { input.click(); return; }
  const report = await officerCall(
    "POST", `/rounds/${r.id}/applicants?filename=${encodeURIComponent(file.name)}`,
    {body: file, headers: {"Content-Type": "text/csv"}});
  await loadRounds();
  notify(true, t("imported", report.counts));
}

async function runRound(event) {
  event.preventDefault();
  const form = event.target;
  const r = currentRound();
  const button = form.querySelector("button");
  button.disabled = true;
  button.textContent = t("running");
  try {
    const made = await officerCall("POST", `/rounds/${r.id}/runs`, {json: {
      mechanism: form.mechanism.value, seed: Number(form.seed.value)}});
    officer.mapRun = made.id;
    await selectRound(r.id);
    notify(true, `${t("done")} #${made.id}: ${t("metrics").placed} ${made.metrics.placed}`);
  } catch {
    button.disabled = false;
    button.textContent = t("run");
  }
}

async function compareRuns(r) {
  const ids = officer.compared.length >= 2 ? officer.compared : officer.runs.map((run) => run.id);
  const query = ids.slice(0, 10).map((id) => `run=${id}`).join("&");
  officer.comparison = await officerCall("GET", `/rounds/${r.id}/runs/compare?${query}`);
  // Two runs: which children would change school, by unit and school, and who they are.
  officer.changes = ids.length === 2 ? await officerCall(
    "GET", `/rounds/${r.id}/runs/${Math.max(...ids)}/changes?other=${Math.min(...ids)}`) : null;
  $("compare-box").innerHTML = comparisonTable() + changesTables();
}

const CHANGES_LISTED = 200;

function changesTables() {
  const c = officer.changes;
  if (!c) return "";
  const title = `<h4 data-testid="changes-title">${escapeHtml(t("changes_title", c.first_run,
    c.second_run, numberText(c.changed), numberText(c.children)))}</h4>`;
  if (!c.changed) return `${title}<p class="muted">${escapeHtml(t("changes_none"))}</p>`;
  const units = Object.entries(c.by_unit).map(([unit, n]) =>
    `<tr><td>${escapeHtml(unit)}</td><td class="num">${numberText(n)}</td></tr>`).join("");
  const schools = c.by_school.map((s) => `<tr><td>${escapeHtml(s.school)}</td>` +
    `<td class="num">${numberText(s.leaving)}</td><td class="num">${numberText(s.arriving)}</td></tr>`)
    .join("");
  const metres = (m) => (m === null || m === undefined ? "" : ` (${kmText(m)} km)`);
  const moves = c.children_changed.slice(0, CHANGES_LISTED).map((m) =>
    `<tr data-testid="change-row"><td>${m.application_id}</td><td>${escapeHtml(m.home_unit || "")}` +
    `</td><td>${escapeHtml(m.from_school)}${metres(m.from_distance_m)}</td>` +
    `<td>${escapeHtml(m.to_school)}${metres(m.to_distance_m)}</td></tr>`).join("");
  const more = c.changed > CHANGES_LISTED
    ? `<p class="muted small">${escapeHtml(t("changes_more", c.changed - CHANGES_LISTED))}</p>` : "";
  return `${title}
    <table class="acc-table" data-testid="changes-by-unit"><tr><th>${escapeHtml(
      t("changes_unit"))}</th><th class="num">${escapeHtml(t("changes_children"))}</th></tr>${units}</table>
    <table class="acc-table" data-testid="changes-by-school"><tr><th>${escapeHtml(
      t("changes_school"))}</th><th class="num">${escapeHtml(t("changes_leaving"))}</th><th class="num">${
      escapeHtml(t("changes_arriving"))}</th></tr>${schools}</table>
    <details><summary>${escapeHtml(t("changes_list", numberText(c.changed)))}</summary>
      <table class="acc-table" data-testid="changes-list"><tr><th>${escapeHtml(t("changes_move"))}</th>
        <th>${escapeHtml(t("changes_unit"))}</th><th>${escapeHtml(t("changes_from"))}</th>
        <th>${escapeHtml(t("changes_to"))}</th></tr>${moves}</table>${more}</details>`;
}

async function exportRun(r, run, format) {
  // A file with children's homes is written only once the officer has read what it holds.
  if (format !== "csv" && !window.confirm(t("homes_warning"))) return;
  const homes = format === "csv" ? "" : "&homes=true";
  const response = await officerCall(
    "GET", `/rounds/${r.id}/runs/${run}/export?format=${format}${homes}`, {raw: true});
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = `round-${r.id}-run-${run}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ------------------------------------------------------------------ the aggregated map

async function loadDemand() {
  const r = currentRound();
  if (!r) return;
  const query = officer.mapRun ? `?run=${officer.mapRun}` : "";
  officer.demand = await officerCall("GET", `/rounds/${r.id}/demand${query}`);
}

// Children placed per school by the drawn run, from the officer's own export (no homes in it).
async function loadPerSchool() {
  const r = currentRound();
  const perSchool = new Map();
  if (!r || !officer.mapRun) { officer.perSchool = perSchool; return; }
  // Counts per school, aggregated by the service (groups under 10 come as null).
  const answer = await officerCall("GET", `/rounds/${r.id}/runs/${officer.mapRun}/schools`);
  for (const row of answer.schools) {
    perSchool.set(row.school_id, {placed: row.placed, beyond: row.beyond_norm});
  }
  officer.perSchool = perSchool;
}

function placeOfficerMap() {
  if (!officer.mapElement) {
    officer.mapElement = document.createElement("div");
    officer.mapElement.id = "officer-map";
    officer.mapElement.className = "acc-map";
  }
  $("officer-map-slot").replaceWith(officer.mapElement);
  if (!officer.map && currentView() === "officer") createOfficerMap();
  else if (officer.map) officer.map.resize();
}

function createOfficerMap() {
  officer.map = makeAccountMap(officer.mapElement);
  officer.map.whenLoaded.then(async () => {
    const m = officer.map;
    m.addSource("demand", {type: "geojson", data: emptyCollection()});
    m.addLayer({id: "demand-fill", type: "fill", source: "demand",
                paint: {"fill-color": ["case", ["==", ["get", "eligible"], null], "#d9d9d9",
                  ["interpolate", ["linear"], ["get", "eligible"], 10, "#fee8c8", 150, "#fdbb84",
                   400, "#e34a33"]],
                        "fill-opacity": ["case", ["get", "in_area"], 0.55, 0.25]}});
    m.addLayer({id: "demand-line", type: "line", source: "demand",
                paint: {"line-color": "#7a5230", "line-width": ["case", ["get", "in_area"], 1.5, 0.5]}});
    m.addSource("placed", {type: "geojson", data: emptyCollection()});
    m.addLayer({id: "placed", type: "circle", source: "placed",
                paint: {"circle-color": ["case", [">", ["get", "beyond"], 0], "#d7191c", "#1f77b4"],
                        "circle-opacity": 0.75, "circle-stroke-color": "#fff",
                        "circle-stroke-width": 1.5,
                        "circle-radius": ["interpolate", ["linear"], ["get", "placed"],
                                          0, 5, 50, 12, 300, 26]}});
    m.on("click", "placed", (event) => schoolPopup(event.features[0]));
    m.on("click", "demand-fill", (event) => {
      if (m.queryRenderedFeatures(event.point, {layers: ["placed"]}).length) return;
      const p = event.features[0].properties;
      // Properties of a clicked feature come back as strings ("null" for none).
      const given = (value) => (value === null || value === undefined || value === "null" ? null
        : value);
      keepPopup(new maplibregl.Popup()).setLngLat(event.lngLat).setHTML(
        `<b>${escapeHtml(unitLabel(p.name, given(p.unit_type_vi), given(p.district)))}</b><br>${
          escapeHtml(t("eligible"))}: ${shownCount(
          p.eligible === "null" ? null : p.eligible)} · ${escapeHtml(t("seats_classes", p.classes,
          p.seats))}`).addTo(m);
    });
    const {bounds} = await cityBounds();
    if (!bounds.isEmpty()) m.fitBounds(bounds, {padding: 20, duration: 0});
    drawOfficerMap();
  });
}

// A popup shown on the officer's map, closed with the others when the map is drawn again (a
// popup of an earlier run must not stay open over another run's figures).
function keepPopup(popup) {
  officer.popups.push(popup);
  return popup;
}

async function schoolPopup(feature) {
  const p = feature.properties;
  const popup = keepPopup(new maplibregl.Popup()).setLngLat(feature.geometry.coordinates)
    .setHTML(`<b>${escapeHtml(p.name)}</b>`).addTo(officer.map);
  try {
    const school = await getJson(`/schools/${p.id}`);
    const grade = school.properties.grades.find((g) => g.grade === currentRound().grade);
    popup.setHTML(`<b>${escapeHtml(p.name)}</b><br>${escapeHtml(t("placed_at",
      shownCount(p.placed), grade ? grade.seats : "?", shownCount(p.beyond)))}`);
  } catch { /* the name alone stays shown */ }
}

function drawOfficerMap() {
  const m = officer.map;
  if (!m || !m.getSource("demand")) return;
  m.getSource("demand").setData(officer.demand || emptyCollection());
  officer.popups.forEach((popup) => popup.remove());
  officer.popups = [];
  officer.markers.forEach((marker) => marker.remove());
  officer.markers = [];
  for (const ward of (officer.demand || emptyCollection()).features) {
    const p = ward.properties;
    if (!p.in_area) continue;
    // Applicants and seats of each ward of the round's area, as a label at its middle.
    const label = document.createElement("div");
    label.className = "acc-ward";
    label.dataset.testid = "ward-count";
    label.innerHTML = `${escapeHtml(unitLabel(p.name, p.unit_type_vi))}<br>${escapeHtml(t("ward_counts",
      shownCount(p.eligible), p.seats))}`;
    // A label, not a control: named by what it says, never a "Map marker" button.
    label.setAttribute("role", "img");
    label.setAttribute("aria-label", label.textContent);
    officer.markers.push(new maplibregl.Marker({element: label}).setLngLat(middle(ward.geometry))
      .addTo(m));
  }
  cityBounds().then(({schools}) => {
    const byId = new Map(schools.map((f) => [f.properties.id, f]));
    const features = [];
    for (const [id, entry] of officer.perSchool) {
      const school = byId.get(id);
      if (!school) continue;
      features.push({type: "Feature", geometry: school.geometry,
                     properties: {id, name: school.properties.name, ...entry}});
      // Counts as HTML labels (the map has no font server); small groups say only "<10".
      const label = document.createElement("div");
      label.className = `acc-count${entry.beyond ? " beyond" : ""}`;
      label.dataset.testid = "school-count";
      label.textContent = shownCount(entry.placed);
      label.setAttribute("role", "img");
      label.setAttribute("aria-label", t("school_count_label", school.properties.name,
                                         shownCount(entry.placed)));
      officer.markers.push(new maplibregl.Marker({element: label, offset: [0, -18]})
        .setLngLat(school.geometry.coordinates).addTo(m));
    }
    officer.drawnSchools = features;
    m.getSource("placed").setData({type: "FeatureCollection", features});
    officer.mapElement.dataset.drawn = officer.mapRun ? `run-${officer.mapRun}` : "demand";
  });
  renderLegend();
}

// The middle of a polygon's outer ring's bounding box: enough to place a ward's label.
function middle(geometry) {
  const ring = geometry.type === "MultiPolygon" ? geometry.coordinates[0][0] : geometry.coordinates[0];
  const xs = ring.map((c) => c[0]);
  const ys = ring.map((c) => c[1]);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

function renderLegend() {
  const legend = $("officer-legend");
  if (!legend) return;
  legend.innerHTML = `${officer.mapRun ? `<b>${escapeHtml(t("map_of", officer.mapRun))}</b> · `
    : ""}${escapeHtml(t("map_legend"))} <span class="muted">${escapeHtml(t("map_data"))} ${OSM_CREDIT}</span>`;
}

// ------------------------------------------------------------------ wiring

function onOfficerShown() {
  if (currentView() !== "officer") return;
  if (!officerRoot().dataset.rendered) { officerRoot().dataset.rendered = "yes"; renderOfficer(); return; }
  if (!officer.map && officer.mapElement && officer.mapElement.isConnected) createOfficerMap();
  else if (officer.map) officer.map.resize();
}

window.addEventListener("hashchange", onOfficerShown);
document.addEventListener("sessionchange", () => {
  officer.notice = null;
  if (officerRoot().dataset.rendered) renderOfficer();
});
document.addEventListener("languagechange", () => {
  if (!officerRoot().dataset.rendered) return;
  renderOfficer();
});
onOfficerShown();
