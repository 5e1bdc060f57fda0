// The planner's page: demand and seat gap per ward or commune of an edition on our own base
// map with its legend, the forecast over the years for the area or a unit (line and band),
// exports, and for planners saved scenarios compared side by side and proposed school sites.
// One language at a time (web/i18n.js); the sign-in is the app's (web/account/session.js).
"use strict";

const OSM_CREDIT = "© OpenStreetMap contributors";
const PLANNER_ROLES = ["planner", "city_admin"];
const NO_CENSUS_COLOUR = "#c9c6c0";
const SCALE = ["#fff7ec", "#fdbb84", "#ef6548", "#990000"];
const $ = (id) => document.getElementById(id);

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

const planner = {
  map: null,
  mapReady: false,   // the base style has loaded: layers may be added
  popup: null,       // the one popup open, closed whenever the data under it changes
  years: null,       // the school years the forecast takes (GET /planning/years)
  gap: null,         // the gap shown (GET /planning/gap)
  query: null,       // the settings the gap shown was made with
  forecast: null,    // the forecast over the chart's years (GET /planning/forecast)
  chartYears: null,  // [first, last]
  unit: null,        // the ward_id charted, or null for the whole area
  framed: null,      // the edition the map was last framed on
  scenarios: [],
  compared: null,
  sites: null,
  message: null,     // {ok, text} of the scenario tools
  zones: null,       // the published school zones of the grade (GET /zones), or null
  zonesShown: true,  // whether the zones are drawn on the map
  zonesMessage: null, // {ok, text} of making zones
  drawn: 0,          // how many times data was drawn (tests wait on it)
  // The legend's keys are open beside a large map, folded under a phone's small one.
  legendOpen: !matchMedia("(max-width: 720px)").matches,
};

// ------------------------------------------------------------------ language

function applyPageText() {
  applyStaticText();
  document.title = t("page_title");
  document.querySelectorAll("[data-i18n-aria]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nAria));
  });
  $("legend").setAttribute("aria-label", LANG === "vi" ? "Chú giải bản đồ" : "Map legend");
  $("lang").setAttribute("lang", LANG === "vi" ? "en" : "vi");
  if (planner.gap) showEditionName(planner.gap.statement.edition);
  if (planner.years) $("year-note").textContent = t("years_note", planner.years);
}

const fmt = (v) => (v == null ? "–" : numberText(v));
const metricLabel = (key) => (t("metric")[key] || [key, ""])[0];
const metricWhy = (key) => (t("metric")[key] || ["", ""])[1];

// A unit as a person reads it: its name with its type, and its district for census wards.
function unitName(p) {
  const name = p.unit_label || p.ward_name;
  return p.district_name ? `${name} (${p.district_name})` : name;
}

// A note of the service ("Vietnamese / English"), in the chosen language.
const noteText = (note) => (note && note !== "null" ? inChosenPart(String(note)) : "");

// ------------------------------------------------------------------ the query

function editionParam() {
  const value = $("edition").value;
  return value ? `&edition=${encodeURIComponent(value)}` : "";
}

function showEditionName(edition) {
  $("edition").querySelector("option[value='']").textContent = t("edition_current_named", edition);
}

function settings() {
  return {grade: Number($("grade").value), year: Number($("year").value),
          edition: $("edition").value || null, layer: $("layer").value};
}

function showError(text) {
  $("query-error").textContent = text ? `${t("error")}: ${text}` : "";
}

// The school years the forecast takes, set on the year box and said under it.
async function loadYears() {
  const years = await api("GET", `/planning/years?${editionParam().slice(1)}`);
  planner.years = years;
  const input = $("year");
  input.min = years.first;
  input.max = years.last;
  $("year-note").textContent = t("years_note", years);
  const now = new Date().getFullYear();
  const first = Math.min(Math.max(now, years.first), years.last);
  planner.chartYears = [first, Math.min(years.last, first + 14)];
  if (!input.value || Number(input.value) < years.first || Number(input.value) > years.last) {
    input.value = String(first);
  }
}

function closePopup() {
  if (planner.popup) planner.popup.remove();
  planner.popup = null;
}

function openPopup(lngLat, html) {
  closePopup();
  planner.popup = new maplibregl.Popup({maxWidth: "280px"}).setLngLat(lngLat).setHTML(html)
    .addTo(planner.map);
}

// Clear what was shown for other settings, so nothing on the page belongs to an older query.
function clearShown() {
  closePopup();
  planner.gap = null;
  planner.query = null;
  setExports(null);
  if (planner.map && planner.map.getSource("gap-wards")) {
    const empty = {type: "FeatureCollection", features: []};
    planner.map.getSource("gap-wards").setData(empty);
    planner.map.getSource("gap-schools").setData(empty);
  }
  $("wards").querySelector("tbody").innerHTML = "";
  $("metrics").innerHTML = "";
  $("coverage").textContent = "";
  $("shown-for").textContent = "";
  $("uncounted").hidden = true;
}

async function show(event) {
  if (event) event.preventDefault();
  const wanted = settings();
  const yearBox = $("year");
  closePopup();
  showError("");
  yearBox.removeAttribute("aria-invalid");
  if (!Number.isInteger(wanted.year) || !$("year").value) {
    yearBox.setAttribute("aria-invalid", "true");
    showError(t("year_invalid"));
    return;
  }
  $("status").textContent = t("computing");
  try {
    const [gap, forecast] = await Promise.all([
      api("GET", `/planning/gap?grade=${wanted.grade}&year=${wanted.year}${editionParam()}`),
      loadForecast(wanted),
    ]);
    await planner.map.whenLoaded;
    planner.gap = gap;
    planner.query = wanted;
    planner.forecast = forecast;
    if (planner.unit && !gap.wards.features.some((f) => f.id === planner.unit)) planner.unit = null;
    drawAll();
    setExports(wanted);
    planner.drawn += 1;
  } catch (error) {
    clearShown();
    $("status").textContent = "";
    const outside = planner.years &&
      (wanted.year < planner.years.first || wanted.year > planner.years.last);
    if (outside) yearBox.setAttribute("aria-invalid", "true");
    showError(error.message);
  }
}

async function loadForecast(wanted) {
  const [first, last] = planner.chartYears;
  return api("GET", `/planning/forecast?years=${first}-${last}&grade=${wanted.grade}` +
    editionParam());
}

function setExports(wanted) {
  for (const format of ["csv", "gpkg"]) {
    const link = $(`export-${format}`);
    if (!wanted) {
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
      continue;
    }
    link.href = `/planning/export?what=gap&format=${format}&grade=${wanted.grade}` +
      `&year=${wanted.year}${editionParam()}`;
    link.removeAttribute("aria-disabled");
  }
}

// Everything drawn from the data held, in the chosen language (again after a switch).
function drawAll() {
  const gap = planner.gap;
  if (!gap) return;
  const {grade, year, layer} = planner.query;
  if (!$("edition").value) showEditionName(gap.statement.edition);
  $("status").textContent = t("status_line", gap.statement);
  $("shown-for").textContent = t("shown_for", grade, year);
  drawMap(layer);
  drawLegend(layer);
  drawMetrics(gap.metrics);
  drawTable();
  drawChart();
}

// ------------------------------------------------------------------ the map

function firstLabelLayer() {
  const layer = planner.map.getStyle().layers.find((l) => l.type === "symbol");
  return layer ? layer.id : undefined;
}

function layerTop(key) {
  const values = planner.gap.wards.features.map((f) => f.properties[key] || 0);
  return Math.max(1, ...values);
}

function drawMap(key) {
  const map = planner.map;
  if (!planner.mapReady) {
    map.whenLoaded.then(() => { if (planner.query) drawMap(planner.query.layer); });
    return;
  }
  const gap = planner.gap;
  const top = layerTop(key);
  // Units without figures are grey, never coloured as zero.
  const fill = ["case", ["==", ["get", "figures"], "none"], NO_CENSUS_COLOUR,
    ["interpolate", ["linear"], ["coalesce", ["get", key], 0],
      0, SCALE[0], top / 3, SCALE[1], (2 * top) / 3, SCALE[2], top, SCALE[3]]];
  if (map.getSource("gap-wards")) {
    map.getSource("gap-wards").setData(gap.wards);
    map.getSource("gap-schools").setData(gap.schools);
    map.setPaintProperty("gap-fill", "fill-color", fill);
  } else {
    const before = firstLabelLayer();
    map.addSource("gap-wards", {type: "geojson", data: gap.wards});
    map.addSource("gap-schools", {type: "geojson", data: gap.schools});
    map.addSource("gap-sites", {type: "geojson", data: {type: "FeatureCollection", features: []}});
    map.addLayer({id: "gap-fill", type: "fill", source: "gap-wards",
                  paint: {"fill-color": fill, "fill-opacity": 0.7}}, before);
    map.addLayer({id: "gap-line", type: "line", source: "gap-wards",
                  paint: {"line-color": "#555", "line-width": 0.6}}, before);
    map.addLayer({id: "gap-selected", type: "line", source: "gap-wards",
                  filter: ["==", ["id"], -1],
                  paint: {"line-color": "#0b5394", "line-width": 3}}, before);
    map.addLayer({id: "gap-schools", type: "circle", source: "gap-schools", paint: {
      "circle-radius": ["+", 4, ["*", 1.5, ["min", 8, ["get", "classes_short"]]]],
      "circle-color": ["case", [">", ["get", "classes_short"], 0], "#b2182b", "#2166ac"],
      "circle-stroke-color": "#fff", "circle-stroke-width": 1}});
    map.addLayer({id: "gap-sites", type: "circle", source: "gap-sites", paint: {
      "circle-radius": 9, "circle-color": "#1a9850", "circle-stroke-color": "#000",
      "circle-stroke-width": 2}});
    map.on("click", "gap-fill", (e) => {
      const feature = e.features[0];
      openPopup(e.lngLat, unitPopup(feature.properties));
      selectUnit(Number(feature.id), {scroll: false});
    });
    map.on("click", "gap-schools", (e) => {
      e.originalEvent.cancelBubble = true;
      openPopup(e.lngLat, schoolPopup(e.features[0].properties));
    });
    for (const id of ["gap-fill", "gap-schools"]) {
      map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
    }
  }
  markSelected();
  const edition = gap.statement.edition;
  if (planner.framed !== edition) {
    planner.framed = edition;
    const bounds = new maplibregl.LngLatBounds();
    for (const f of gap.wards.features) {
      if (!f.geometry) continue;
      const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const poly of polys) for (const c of poly[0]) bounds.extend(c);
    }
    if (!bounds.isEmpty()) map.fitBounds(bounds, {padding: 20, duration: 0});
  }
}

function markSelected() {
  if (planner.map && planner.map.getLayer("gap-selected")) {
    planner.map.setFilter("gap-selected", ["==", ["id"], planner.unit ?? -1]);
  }
}

function unitPopup(p) {
  // MapLibre hands properties back as text; an absent figure comes back as "null".
  const counted = p.children != null && p.children !== "null";
  const note = noteText(p.note);
  const line = (label, value) => `${escapeHtml(t(label))}: ${fmt(value)}<br>`;
  const body = counted
    ? line("popup_children", p.children) + line("popup_needed", p.classes_needed) +
      line("popup_over", p.children_over_size) + line("popup_beyond", p.children_beyond_norm) +
      (note ? `<i>${escapeHtml(note)}</i>` : "")
    : `<i>${escapeHtml(note || t("legend_no_census"))}</i><br>` +
      line("popup_in_unit", p.classes_in_ward);
  return `<b>${escapeHtml(unitName(p))}</b><br>${body}`;
}

function schoolPopup(p) {
  const assumed = p.classes_assumed === true || p.classes_assumed === "true";
  return `<b>${escapeHtml(p.name)}</b><br>${escapeHtml(t("popup_classes"))}: ` +
    `${fmt(p.classes)}${assumed ? ` ${escapeHtml(t("popup_assumed"))}` : ""}<br>` +
    `${escapeHtml(t("popup_children"))}: ${fmt(p.children)}<br>` +
    `${escapeHtml(t("popup_short"))}: ${fmt(p.classes_short)}`;
}

// The colour scale with its numbers and unit, the grey class, and the markers.
function drawLegend(key) {
  const top = layerTop(key);
  const stops = [0, top / 3, (2 * top) / 3, top];
  const gradient = `linear-gradient(to right, ${SCALE.join(", ")})`;
  $("legend").innerHTML = `
    <p class="legend-title" data-testid="legend-title">${escapeHtml(t("legend_title",
      t(`layer_${key}`)))}</p>
    <div class="legend-scale" style="background: ${gradient}" aria-hidden="true"></div>
    <div class="legend-ticks" data-testid="legend-ticks">${stops.map((v) =>
      `<span>${fmt(Math.round(v))}</span>`).join("")}</div>
    <details class="legend-keys" ${planner.legendOpen ? "open" : ""}>
    <summary>${escapeHtml(t("legend_keys"))}</summary>
    <ul>
      <li><span class="swatch" style="background:${NO_CENSUS_COLOUR}"></span>
        ${escapeHtml(t("legend_no_census"))}</li>
      <li><span class="dot" style="background:#2166ac"></span>${escapeHtml(t("legend_school_ok"))}</li>
      <li><span class="dot" style="background:#b2182b"></span>
        ${escapeHtml(t("legend_school_short"))}</li>
      <li><span class="swatch selected"></span>${escapeHtml(t("legend_selected"))}</li>
      ${planner.sites ? `<li><span class="dot site"></span>${escapeHtml(t("legend_site"))}</li>` : ""}
      ${planner.zones && planner.zonesShown ? `<li><span class="swatch zone"></span>${escapeHtml(
        t("legend_zone"))}</li><li><span class="swatch zone short"></span>${escapeHtml(
        t("legend_zone_short"))}</li>` : ""}
    </ul></details>`;
  $("legend").querySelector("details").addEventListener("toggle", (event) => {
    planner.legendOpen = event.target.open;
  });
}

// ------------------------------------------------------------------ figures and table

function drawMetrics(m) {
  const keys = ["children", "classes_available", "classes_needed", "classes_short",
    "children_over_size", "children_beyond_norm", "mean_m", "p90_m"];
  $("metrics").innerHTML = keys.map((key) => `<tr><th scope="row">${escapeHtml(metricLabel(key))}
    <span class="why">${escapeHtml(metricWhy(key))}</span></th>
    <td class="num">${fmt(m[key])}</td></tr>`).join("");
  const parts = [];
  if (m.units_without_figures) parts.push(t("coverage_none", m.units_without_figures));
  if (m.units_reported) parts.push(t("coverage_reported", m.units_reported));
  if (m.units_partial_coverage) parts.push(t("coverage_partial", m.units_partial_coverage));
  $("coverage").textContent = parts.join("; ");
}

function drawTable() {
  const units = planner.gap.wards.features.map((f) => ({...f.properties, id: f.id}));
  const counted = units.filter((w) => w.children != null)
    .sort((a, b) => b.children_over_size - a.children_over_size ||
      b.children_beyond_norm - a.children_beyond_norm || b.children - a.children);
  const place = (w) => w.district_name || w.province_name || "";
  $("wards").querySelector("tbody").innerHTML = counted.map((w) => `
    <tr tabindex="0" data-unit="${w.id}" aria-label="${escapeHtml(t("row_label", unitName(w)))}"
        class="${w.id === planner.unit ? "chosen" : ""}">
      <td>${escapeHtml(w.unit_label || w.ward_name)}
        ${place(w) ? `<span class="sub">${escapeHtml(place(w))}</span>` : ""}
        ${w.note ? `<span class="sub note-text">${escapeHtml(noteText(w.note))}</span>` : ""}</td>
      <td class="num">${fmt(w.children)}${w.children_low != null ? `<span class="sub"
        title="${escapeHtml(t("interval_80"))}">${fmt(w.children_low)}–${fmt(
        w.children_high)}</span>` : ""}</td><td class="num">${fmt(w.classes_needed)}</td>
      <td class="num">${fmt(w.children_over_size)}</td>
      <td class="num">${fmt(w.children_beyond_norm)}</td></tr>`).join("");
  const uncounted = units.filter((w) => w.children == null);
  $("uncounted").hidden = uncounted.length === 0;
  $("uncounted-list").innerHTML = uncounted.map((w) =>
    `<li><b>${escapeHtml(unitName(w))}</b>: ${escapeHtml(noteText(w.note) ||
      t("legend_no_census"))}</li>`).join("");
}

function selectUnit(id, {scroll = true} = {}) {
  planner.unit = id;
  markSelected();
  document.querySelectorAll("#wards tbody tr").forEach((tr) => {
    tr.classList.toggle("chosen", Number(tr.dataset.unit) === id);
  });
  drawChart();
  if (scroll) $("chart-section").scrollIntoView({block: "nearest"});
}

// ------------------------------------------------------------------ the chart

function chartSeries() {
  const rows = planner.forecast.rows;
  const years = [...new Set(rows.map((r) => Number(r.school_year.slice(0, 4))))].sort();
  if (planner.unit != null) {
    const mine = rows.filter((r) => r.ward_id === planner.unit);
    const name = mine.length ? unitName(mine[0]) : "";
    if (!mine.length || mine.every((r) => r.children == null)) return {name, points: null};
    return {name, points: mine.filter((r) => r.children != null).map((r) => ({
      x: Number(r.school_year.slice(0, 4)), y: r.children, low: r.low, high: r.high}))};
  }
  const counted = rows.filter((r) => r.children != null);
  const leftOut = new Set(rows.filter((r) => r.children == null).map((r) => r.ward_id)).size;
  return {name: t("whole_area"), leftOut, points: years.map((year) => {
    const of = counted.filter((r) => Number(r.school_year.slice(0, 4)) === year);
    const sum = (key) => of.reduce((total, r) => total + r[key], 0);
    return {x: year, y: sum("children"), low: sum("low"), high: sum("high")};
  })};
}

function drawChart() {
  if (!planner.forecast || !planner.query) return;
  const grade = planner.query.grade;
  const {name, points, leftOut} = chartSeries();
  $("chart-area").hidden = planner.unit == null;
  if (!points) {
    $("chart").innerHTML = `<p class="note">${escapeHtml(t("chart_no_figures", name))}</p>`;
    $("chart-table").innerHTML = "";
    $("chart-note").textContent = "";
    return;
  }
  const title = planner.unit == null ? t("chart_title_area", grade)
    : t("chart_title_unit", grade, name);
  const series = [{name: t("chart_line"), points}];
  const first = points[0];
  const last = points[points.length - 1];
  const yText = (v) => numberText(Math.round(v));
  $("chart").innerHTML = lineChart({
    id: "forecast-chart", title, series, xLabel: t("chart_x"), yLabel: t("chart_y"),
    desc: t("chart_desc", first.x, last.x, yText(first.y), yText(last.y)), yText,
  });
  $("chart").dataset.unit = planner.unit ?? "area";
  $("chart-table").innerHTML = chartTable({
    caption: title, series, yText,
    heads: {x: t("year_label"), y: t("chart_line"), low: t("chart_band"),
            high: t("chart_band_high")},
  });
  $("chart-note").textContent = t("chart_note") +
    (leftOut ? ` ${t("chart_left_out", leftOut)}` : "");
  drawPeopleAndClasses(name);
}

// The unit's (or area's) people over the years, and the classes its entrants need against the
// classes its schools have, each with its 80 % interval.
function drawPeopleAndClasses(name) {
  const rows = planner.forecast.rows.filter((r) => r.children != null && (planner.unit == null
    || r.ward_id === planner.unit));
  const years = [...new Set(rows.map((r) => Number(r.school_year.slice(0, 4))))].sort();
  const size = planner.gap?.statement.class_size || 35;
  const ofYear = (year) => rows.filter((r) => Number(r.school_year.slice(0, 4)) === year);
  const sum = (list, pick) => list.reduce((total, r) => total + (pick(r) ?? 0), 0);
  const people = years.map((year) => {
    const of = ofYear(year);
    return {x: year, y: sum(of, (r) => r.population), low: sum(of, (r) => r.population_low),
            high: sum(of, (r) => r.population_high)};
  });
  const needed = years.map((year) => {
    const of = ofYear(year);
    return {x: year, y: sum(of, (r) => r.classes_needed),
            low: sum(of, (r) => Math.ceil(r.low / size)),
            high: sum(of, (r) => Math.ceil(r.high / size))};
  });
  const unitRow = planner.unit == null ? null
    : planner.gap?.wards.features.find((f) => f.id === planner.unit);
  const available = planner.unit == null ? planner.gap?.metrics.classes_available
    : unitRow?.properties.classes_in_ward;
  const yText = (v) => numberText(Math.round(v));
  if (!years.length) {
    $("chart-people").innerHTML = "";
    $("chart-classes").innerHTML = "";
    return;
  }
  const first = people[0];
  const last = people[people.length - 1];
  $("chart-people").innerHTML = lineChart({
    id: "people-chart", title: t("people_title", name), xLabel: t("chart_x"),
    yLabel: t("people_y"), series: [{name: t("people_line"), points: people}], yText,
    desc: t("people_desc", first.x, last.x, yText(first.y), yText(last.y)),
  });
  const series = [{name: t("classes_needed_line"), points: needed}];
  if (available != null) {
    series.push({name: t("classes_available_line"),
                 points: years.map((year) => ({x: year, y: Number(available)}))});
  }
  $("chart-classes").innerHTML = lineChart({
    id: "classes-chart", title: t("classes_title", planner.query.grade, name),
    xLabel: t("chart_x"), yLabel: t("classes_y"), series, yText,
    desc: t("classes_desc", planner.query.grade, yText(needed[0].y),
      yText(needed[needed.length - 1].y), available == null ? null : yText(available)),
  });
}

// ------------------------------------------------------------------ account and tools

const signedIn = () => session.read();
const isPlanner = (signed) => Boolean(signed) && PLANNER_ROLES.includes(signed.role);

function renderAccount() {
  const signed = signedIn();
  const roleName = (role) => t("roles")[role] || role;
  $("who").innerHTML = signed ? signedInBar(signed)
    : `<span data-testid="signed-out">${escapeHtml(t("signed_out"))}</span>
       <a href="#tools" class="button">${escapeHtml(t("sign_in_link"))}</a>`;
  wireSignOut($("who"));
  const tools = $("tools-content");
  if (!signed) {
    renderSignIn(tools, {allowRegister: false, note: t("planner_needed")});
    return;
  }
  if (!isPlanner(signed)) {
    tools.innerHTML = `<p class="note" data-testid="not-planner">${escapeHtml(
      t("not_planner", signed.username, roleName(signed.role)))}</p>
      <button type="button" class="acc-signout">${escapeHtml(t("sign_out"))}</button>`;
    wireSignOut(tools);
    return;
  }
  renderTools();
  loadScenarios();
}

function renderTools() {
  const tools = $("tools-content");
  const sites = planner.sites?.sites || [];
  tools.innerHTML = `
    <form id="scenario-form" class="acc-form">
      <label>${escapeHtml(t("scenario_name"))}
        <input name="name" required maxlength="200"></label>
      <p class="muted small" id="scenario-settings"></p>
      ${sites.length ? `<label class="check"><input type="checkbox" name="sites" checked>
        ${escapeHtml(t("scenario_with_sites", sites.length))}</label>` : ""}
      <button type="submit" class="primary">${escapeHtml(t("save_scenario"))}</button>
      <p id="tools-message" class="acc-message" role="status"></p>
    </form>
    <h3>${escapeHtml(t("saved_heading"))}</h3>
    <div id="scenario-list"></div>
    <div id="compare-result" class="scroll-x"></div>
    <h3>${escapeHtml(t("sites_heading"))}</h3>
    <form id="site-form" class="row">
      <label>${escapeHtml(t("sites_k"))}
        <input id="k" type="number" min="1" max="20" value="2"></label>
      <label>${escapeHtml(t("sites_minutes"))}
        <input id="minutes" type="number" min="1" max="120" value="15"></label>
      <button type="submit">${escapeHtml(t("propose"))}</button>
    </form>
    <ol id="sites"></ol>`;
  const wanted = settings();
  $("scenario-settings").textContent = t("scenario_settings", {
    grade: wanted.grade, school_year: wanted.year,
    edition: wanted.edition || planner.gap?.statement.edition || "…"});
  if (planner.message) {
    const message = $("tools-message");
    message.textContent = planner.message.text;
    message.className = `acc-message ${planner.message.ok ? "ok" : "error"}`;
  }
  $("scenario-form").addEventListener("submit", saveScenario);
  $("site-form").addEventListener("submit", propose);
  drawScenarios();
  drawCompared();
  drawSites();
}

async function loadScenarios() {
  try {
    planner.scenarios = await api("GET", "/planning/scenarios");
  } catch (error) {
    planner.scenarios = [];
    planner.message = {ok: false, text: `${t("error")}: ${error.message}`};
  }
  if ($("scenario-list")) drawScenarios();
}

async function saveScenario(event) {
  event.preventDefault();
  const form = event.target;
  if (!form.reportValidity()) return;
  const wanted = settings();
  const withSites = form.sites && form.sites.checked ? planner.sites.sites : [];
  const body = {
    name: form.name.value.trim(), grade: wanted.grade, school_year: wanted.year,
    edition: wanted.edition,
    new_sites: withSites.map((s) => ({name: s.name, lon: s.lon, lat: s.lat,
                                      classes: s.classes || 5})),
  };
  try {
    const saved = await api("POST", "/planning/scenarios", {json: body});
    planner.message = {ok: true, text: t("scenario_saved", saved.name)};
    form.name.value = "";
    await loadScenarios();
  } catch (error) {
    planner.message = {ok: false, text: `${t("error")}: ${error.message}`};
  }
  const message = $("tools-message");
  message.textContent = planner.message.text;
  message.className = `acc-message ${planner.message.ok ? "ok" : "error"}`;
}

function drawScenarios() {
  const list = $("scenario-list");
  if (!list) return;
  if (!planner.scenarios.length) {
    list.innerHTML = `<p class="muted">${escapeHtml(t("no_scenarios"))}</p>`;
    return;
  }
  const checked = new Set([...document.querySelectorAll("#scenario-list input:checked")]
    .map((box) => Number(box.value)));
  list.innerHTML = `<ul class="scenarios">${planner.scenarios.map((s) => `
    <li data-testid="scenario"><label class="check">
      <input type="checkbox" value="${s.id}" ${checked.has(s.id) ? "checked" : ""}
             aria-label="${escapeHtml(t("choose_scenario", s.name))}">
      <span><b>${escapeHtml(s.name)}</b>
      <span class="sub">${escapeHtml(t("scenario_settings", s))}${s.new_sites.length
        ? ` · ${escapeHtml(t("scenario_sites", s.new_sites.length))}` : ""} ·
        ${escapeHtml(t("scenario_by", s.created_by, dateText(s.created_at)))}</span></span>
    </label></li>`).join("")}</ul>
    <button type="button" id="compare">${escapeHtml(t("compare"))}</button>
    <p id="compare-message" class="acc-message" role="status"></p>`;
  $("compare").addEventListener("click", compare);
}

async function compare() {
  const ids = [...document.querySelectorAll("#scenario-list input:checked")].map((b) => b.value);
  const message = $("compare-message");
  message.className = "acc-message";
  if (ids.length < 2 || ids.length > 6) {
    message.className = "acc-message error";
    message.textContent = t("compare_pick");
    return;
  }
  message.textContent = t("comparing");
  try {
    planner.compared = await api("GET", `/planning/scenarios/compare?ids=${ids.join(",")}`);
    message.textContent = "";
  } catch (error) {
    message.className = "acc-message error";
    message.textContent = `${t("error")}: ${error.message}`;
  }
  drawCompared();
}

function drawCompared() {
  const box = $("compare-result");
  const table = planner.compared;
  if (!box || !table) return;
  const heads = table.scenarios.map((s) => `<th scope="col" class="num">${escapeHtml(s.name)}
    <span class="sub">${escapeHtml(t("scenario_settings", s))}</span></th>`).join("");
  box.innerHTML = `<table id="compare-table" data-testid="compare-table">
    <caption>${escapeHtml(t("compare_heading"))}
      <span class="sub">${escapeHtml(t("compare_caption"))}</span></caption>
    <thead><tr><th scope="col"></th>${heads}</tr></thead><tbody>
    ${table.rows.map((row) => `<tr data-metric="${escapeHtml(row.metric)}">
      <th scope="row">${escapeHtml(metricLabel(row.metric))}
        <span class="why">${escapeHtml(metricWhy(row.metric))}</span></th>
      ${row.values.map((v) => `<td class="num">${fmt(v)}</td>`).join("")}</tr>`).join("")}
    </tbody></table>`;
}

async function propose(event) {
  event.preventDefault();
  const list = $("sites");
  list.innerHTML = `<li>${escapeHtml(t("searching"))}</li>`;
  const wanted = settings();
  try {
    planner.sites = await api("POST", "/planning/site", {json: {
      grade: wanted.grade, year: wanted.year, k: Number($("k").value),
      minutes: Number($("minutes").value), edition: wanted.edition}});
  } catch (error) {
    planner.sites = null;
    list.innerHTML = `<li class="acc-message error">${escapeHtml(t("error"))}: ` +
      `${escapeHtml(error.message)}</li>`;
    return;
  }
  renderTools();
  if (planner.query) drawLegend(planner.query.layer);
}

function drawSites() {
  const out = planner.sites;
  const source = planner.map?.getSource("gap-sites");
  const features = (out?.sites || []).map((s) => ({type: "Feature", properties: {name: s.name},
    geometry: {type: "Point", coordinates: [s.lon, s.lat]}}));
  if (source) source.setData({type: "FeatureCollection", features});
  const list = $("sites");
  if (!list || !out) return;
  const missing = out.units_without_figures || [];
  list.innerHTML = out.sites.map((s) => `<li data-testid="site">${escapeHtml(t("site_line", s))}</li>`)
    .join("") + `<li class="muted">${escapeHtml(t("sites_within", out.minutes,
      out.served_within_before, out.served_within_after, out.children))}</li>` +
    (missing.length ? `<li class="note">${escapeHtml(t("sites_left_out", missing.length,
      missing.map((u) => u.unit_label).join(", ")))}</li>` : "");
}

// ------------------------------------------------------------------ school zones

// The published zones of the grade: outlines on the map, the schools whose zone leaves part of
// their own unit out, and (for a planner) making and publishing them for the year shown.
async function loadZones() {
  const grade = settings().grade;
  try {
    planner.zones = await api("GET", `/zones?grade=${grade}&simplify_m=10`);
  } catch {
    planner.zones = null;  // none published for this grade
  }
  drawZones();
}

function drawZones() {
  const box = $("zones-content");
  const zones = planner.zones;
  const signed = signedIn();
  const year = settings().year;
  const make = isPlanner(signed) ? `<button type="button" id="zones-make" class="primary">${
    escapeHtml(t("zones_make", settings().grade, year))}</button>` : "";
  const message = planner.zonesMessage ? `<p class="acc-message ${planner.zonesMessage.ok
    ? "ok" : "error"}" role="status" data-testid="zones-message">${escapeHtml(
    planner.zonesMessage.text)}</p>` : "";
  if (!zones) {
    box.innerHTML = `<p class="muted small" data-testid="zones-none">${escapeHtml(
      t("zones_none", settings().grade))}</p>${make}${message}`;
  } else {
    const schools = zones.features.map((f) => f.properties);
    const full = schools.filter((p) => p.full);
    const short = schools.filter((p) => p.shrinks_below_unit)
      .sort((a, b) => a.unit_share - b.unit_share);
    box.innerHTML = `
      <p class="small" data-testid="zones-summary">${escapeHtml(t("zones_summary",
        zones.school_year, schools.length, full.length, zones.statement.unplaced,
        zones.statement.no_road || 0))}</p>
      <label class="check"><input type="checkbox" id="zones-shown" ${planner.zonesShown
        ? "checked" : ""}> ${escapeHtml(t("zones_show"))}</label>
      <p class="muted small">${escapeHtml(inChosenPart(`${zones.statement.method_vi} / ${
        zones.statement.method_en}`))}</p>
      <h3>${escapeHtml(t("zones_short_heading", short.length))}</h3>
      <ul class="small" data-testid="zones-short">${short.slice(0, 20).map((p) =>
        `<li data-testid="zone-short">${escapeHtml(t("zones_short_line", p))}</li>`).join("")}</ul>
      ${make}${message}`;
    $("zones-shown").addEventListener("change", (event) => {
      planner.zonesShown = event.target.checked;
      drawZoneLayer();
    });
  }
  if ($("zones-make")) $("zones-make").addEventListener("click", makeZones);
  drawZoneLayer();
}

async function makeZones() {
  const wanted = settings();
  const button = $("zones-make");
  button.disabled = true;
  button.textContent = t("zones_making");
  try {
    planner.zones = await api("POST", "/planning/zones", {json: {
      grade: wanted.grade, school_year: wanted.year, edition: wanted.edition, publish: true}});
    planner.zonesMessage = {ok: true, text: t("zones_made", planner.zones.school_year)};
  } catch (error) {
    planner.zonesMessage = {ok: false, text: `${t("error")}: ${error.message}`};
  }
  drawZones();
}

function drawZoneLayer() {
  const map = planner.map;
  if (!planner.mapReady) {
    map.whenLoaded.then(drawZoneLayer);
    return;
  }
  closePopup();
  const data = planner.zones && planner.zonesShown
    ? {type: "FeatureCollection", features: planner.zones.features.filter((f) => f.geometry)}
    : {type: "FeatureCollection", features: []};
  if (map.getSource("zones")) {
    map.getSource("zones").setData(data);
  } else {
    map.addSource("zones", {type: "geojson", data});
    map.addLayer({id: "zones-fill", type: "fill", source: "zones",
                  paint: {"fill-color": "#6a3d9a", "fill-opacity": 0.06}}, firstLabelLayer());
    map.addLayer({id: "zones-line", type: "line", source: "zones",
                  paint: {"line-color": ["case", ["get", "shrinks_below_unit"], "#d95f02",
                                         "#6a3d9a"],
                          "line-width": 1, "line-opacity": 0.8}}, firstLabelLayer());
    map.on("click", "zones-fill", (e) => {
      if (e.defaultPrevented || map.queryRenderedFeatures(e.point,
        {layers: ["gap-schools"].filter((id) => map.getLayer(id))}).length) return;
      openPopup(e.lngLat, zonePopup(e.features[0].properties));
    });
  }
  if (planner.query) drawLegend(planner.query.layer);
}

function zonePopup(p) {
  const high = p.cutoff_high_m == null || p.cutoff_high_m === "null" ? null : p.cutoff_high_m;
  return `<b>${escapeHtml(p.name)}</b><br>${escapeHtml(t("zone_popup", {
    seats: p.seats, expected: p.expected_children, cutoff: p.cutoff_m, low: p.cutoff_low_m,
    high, unit: p.unit_name, share: p.unit_share}))}`;
}

// ------------------------------------------------------------------ start

function start() {
  applyPageText();
  planner.map = makeAccountMap($("map"));
  planner.map.whenLoaded.then(() => { planner.mapReady = true; });
  $("query").addEventListener("submit", show);
  $("edition").addEventListener("change", async () => {
    planner.unit = null;
    planner.framed = null;
    closePopup();
    try { await loadYears(); } catch (error) { showError(error.message); return; }
    show();
  });
  $("grade").addEventListener("change", () => { show(); loadZones(); });
  $("layer").addEventListener("change", () => {
    closePopup();
    if (!planner.gap) return;
    planner.query.layer = $("layer").value;
    drawMap(planner.query.layer);
    drawLegend(planner.query.layer);
  });
  $("chart-area").addEventListener("click", () => {
    closePopup();
    selectUnit(null);
  });
  const rows = $("wards").querySelector("tbody");
  rows.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-unit]");
    if (row) selectUnit(Number(row.dataset.unit));
  });
  rows.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-unit]");
    if (!row || (event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    selectUnit(Number(row.dataset.unit));
  });
  $("lang").addEventListener("click", switchLanguage);
  document.addEventListener("languagechange", () => {
    closePopup();
    applyPageText();
    drawAll();
    renderAccount();
    drawZones();
  });
  document.addEventListener("sessionchange", () => {
    planner.message = null;
    planner.compared = null;
    planner.zonesMessage = null;
    renderAccount();
    drawZones();
  });
  renderAccount();
  loadZones();
  loadYears().then(() => show()).catch((error) => showError(error.message));
}

start();
