// The admissions officer's console: rounds in their area, import, runs side by side on an
// aggregated map (wards and schools, never homes), publish, round 2 and export.
"use strict";

const OFFICER_ROLES = ["district_officer", "city_admin"];
const MECHANISMS = ["nearest", "da", "constrained", "greedy"];
const SHARE_METRICS = new Set(["share_at_nearest", "share_first_choice"]);

const officer = {
  me: null,
  rounds: [],
  roundId: null,
  detailFor: null,    // the round whose runs, comparison and map are held below
  runs: [],
  compared: [],       // run ids ticked for comparison
  comparison: null,   // the compare endpoint's answer
  mapRun: null,       // the run drawn on the map
  demand: null,
  perSchool: new Map(),
  drawnSchools: [],   // the per-school features on the map
  map: null,
  mapElement: null,
  markers: [],
  notice: null,       // {ok, text}
  claims: [],         // pending priority claims of the chosen round
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
            <label>${escapeHtml(t("districts"))}<input name="districts"></label>
            <label>${escapeHtml(t("wards"))}<input name="wards"></label>
            <button type="submit">${escapeHtml(t("create"))}</button>
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
  $("officer-rounds").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-round]");
    if (row) selectRound(Number(row.dataset.round));
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
    const area = officer.me.area.length ? officer.me.area.join(", ") : "—";
    $("officer-area").textContent = t("your_area", area);
    const form = $("round-form");
    if (form && !form.districts.value) form.districts.value = officer.me.area.join(", ");
  } catch (error) {
    notify(false, error.message);
  }
  await loadRounds();
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
    `<tr data-round="${r.id}" data-testid="officer-round" class="${r.id === officer.roundId
      ? "chosen" : ""}"><td>${r.id}</td><td>${escapeHtml(r.name)}<span class="sub">${escapeHtml(
      r.school_year)} · ${escapeHtml(t("round"))} ${r.round_number}</span></td><td>${r.grade}</td>` +
    `<td>${escapeHtml(t("round_statuses")[r.status] || r.status)}</td>` +
    `<td class="num">${r.eligible} / ${r.applications}</td></tr>`).join("");
}

async function createRound(event) {
  event.preventDefault();
  const form = event.target;
  const codes = (text) => text.split(/[\s,;]+/).filter(Boolean);
  const made = await officerCall("POST", "/rounds", {json: {
    name: form.name.value.trim(), grade: Number(form.grade.value),
    school_year: form.school_year.value.trim(), districts: codes(form.districts.value),
    wards: codes(form.wards.value)}});
  officer.roundId = made.id;
  $("round-create").open = false;
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
    officer.mapRun = null;
    officer.perSchool = new Map();
  }
  officer.roundId = roundId;
  if (officer.mapElement) officer.mapElement.dataset.drawn = "";
  renderRoundList();
  officer.runs = await officerCall("GET", `/rounds/${roundId}/runs`);
  const chosen = currentRound();
  officer.claims = chosen && chosen.pending_claims
    ? (await officerCall("GET", `/rounds/${roundId}/claims?pending=true`)).claims : [];
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
    ${!can(r, "import") ? "" : `<h3>${escapeHtml(t("import_applicants"))}</h3>
    <div class="row"><input type="file" id="applicants-file" accept=".csv,text/csv">
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
    <div id="compare-box">${comparisonTable()}</div>`;
  box.onclick = onRoundAction;
  const runForm = $("run-form");
  if (runForm) runForm.addEventListener("submit", runRound);
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
    </td></tr>`;
}

function formatMetric(key, value) {
  if (value === null || value === undefined) return "—";
  if (SHARE_METRICS.has(key)) return `${(value * 100).toFixed(1)} %`;
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(0);
  return String(value);
}

function comparisonTable() {
  const c = officer.comparison;
  if (!c) return "";
  const worst = new Set(["beyond_norm", "classes_over_size", "unassigned", "justified_envy",
                         "siblings_split"]);
  const head = `<tr><th>${escapeHtml(t("metric"))}</th>${c.runs.map((run) =>
    `<th class="num">#${run.run}<span class="sub">${escapeHtml(t("mechanisms")[run.mechanism] ||
      run.mechanism)}</span></th>`).join("")}</tr>`;
  const rows = c.metrics.map((key) => `<tr data-metric="${key}"><td>${escapeHtml(
    t("metrics")[key] || key)}</td>${c.runs.map((run) => {
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
      case "open":
      case "review":
      case "close":
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
  $("compare-box").innerHTML = comparisonTable();
}

async function exportRun(r, run, format) {
  const response = await officerCall("GET", `/rounds/${r.id}/runs/${run}/export?format=${format}`,
                                     {raw: true});
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
      new maplibregl.Popup().setLngLat(event.lngLat).setHTML(
        `<b>${escapeHtml(p.name)}</b><br>${escapeHtml(t("eligible"))}: ${shownCount(
          p.eligible === "null" ? null : p.eligible)} · ${escapeHtml(t("seats_classes", p.classes,
          p.seats))}`).addTo(m);
    });
    const {bounds} = await cityBounds();
    if (!bounds.isEmpty()) m.fitBounds(bounds, {padding: 20, duration: 0});
    drawOfficerMap();
  });
}

async function schoolPopup(feature) {
  const p = feature.properties;
  const popup = new maplibregl.Popup().setLngLat(feature.geometry.coordinates)
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
  officer.markers.forEach((marker) => marker.remove());
  officer.markers = [];
  for (const ward of (officer.demand || emptyCollection()).features) {
    const p = ward.properties;
    if (!p.in_area) continue;
    // Applicants and seats of each ward of the round's area, as a label at its middle.
    const label = document.createElement("div");
    label.className = "acc-ward";
    label.dataset.testid = "ward-count";
    label.innerHTML = `${escapeHtml(p.name)}<br>${escapeHtml(t("ward_counts",
      shownCount(p.eligible), p.seats))}`;
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
