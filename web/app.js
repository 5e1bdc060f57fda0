// The public school map: every school, filters and search, and "from my home" by road.
// Map data comes only from this server (GeoJSON and PostGIS vector tiles).
"use strict";

const LEVEL_COLOURS = {
  mam_non: "#e377c2", tieu_hoc: "#2ca02c", thcs: "#1f77b4", thpt: "#d62728",
  lien_cap: "#9467bd", unknown: "#8c8c8c",
};
const ENTRY_GRADE = {tieu_hoc: 1, thcs: 6, thpt: 10};
const OSM_CREDIT = "© OpenStreetMap contributors";
const $ = (id) => document.getElementById(id);

const state = {
  schools: [],      // every school feature, with folded search text
  units: [],        // the commune-level units of the edition shown (no outlines)
  edition: null,    // that edition: the current one, e.g. "2025" (or "2019" where only it is loaded)
  shown: [],
  home: null,       // {lon, lat}
  near: [],
  chosen: null,
  wantedSchool: null,  // the school a shared address names, chosen once the near list is in
  pending: null,    // an address answer shown, waiting for the family to confirm it
  chances: new Map(),  // school id -> its chance next year, where zones are published
  route: null,      // the drawn route (GeoJSON Feature)
  reach: null,      // the drawn reachable area
  homeMarker: null,
  clusterMarkers: new Map(),
};

// Diacritics-blind text: "Trường Tiểu học Lê Văn Thọ" -> "truong tieu hoc le van tho".
function fold(text) {
  return (text || "").replace(/[đĐÐð]/g, "d").normalize("NFD").replace(/[\u0300-\u036f]/g, "")
    .toLowerCase().replace(/[^0-9a-z]+/g, " ").trim();
}

function levelKey(levels) {
  if (!levels || levels.length === 0) return "unknown";
  return levels.length > 1 ? "lien_cap" : levels[0];
}

function levelText(levels) {
  if (!levels || levels.length === 0) return t("unknown_level");
  return levels.map((l) => t(l)).join(" + ");
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

async function getJson(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(problemText(body.detail) || `${response.status} ${url}`);
  return body;
}


// ------------------------------------------------------------------ map

const map = new maplibregl.Map({
  container: "map",
  center: [106.70, 10.78],
  zoom: 12,
  attributionControl: false,
  // The one style the service serves: our vector tiles, street and ward names, our glyphs.
  style: `${location.origin}/tiles/style.json`,
});
map.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
map.addControl(new maplibregl.AttributionControl({compact: false, customAttribution: OSM_CREDIT}));
map.addControl(new maplibregl.ScaleControl({unit: "metric"}), "bottom-right");

function emptyCollection() { return {type: "FeatureCollection", features: []}; }

// A circle of radius metres around a point, as a GeoJSON polygon (for an address's uncertainty).
function circle(lon, lat, metres) {
  const coordinates = [];
  for (let i = 0; i <= 48; i++) {
    const angle = (i / 48) * 2 * Math.PI;
    coordinates.push([lon + (metres * Math.cos(angle)) / (111320 * Math.cos((lat * Math.PI) / 180)),
                      lat + (metres * Math.sin(angle)) / 110574]);
  }
  return {type: "Feature", properties: {}, geometry: {type: "Polygon", coordinates: [coordinates]}};
}

function addOverlayLayers() {
  map.addSource("uncertainty", {type: "geojson", data: emptyCollection()});
  map.addLayer({id: "uncertainty", type: "fill", source: "uncertainty",
                paint: {"fill-color": "#f0a020", "fill-opacity": 0.18,
                        "fill-outline-color": "#c07000"}});
  map.addSource("reach", {type: "geojson", data: emptyCollection()});
  map.addLayer({id: "reach-fill", type: "fill", source: "reach",
                paint: {"fill-color": "#1f77b4", "fill-opacity": 0.15}});
  map.addLayer({id: "reach-line", type: "line", source: "reach",
                paint: {"line-color": "#1f77b4", "line-width": 1.5}});
  map.addSource("straight", {type: "geojson", data: emptyCollection()});
  map.addLayer({id: "straight", type: "line", source: "straight",
                paint: {"line-color": "#555", "line-width": 2, "line-dasharray": [2, 2]}});
  map.addSource("route", {type: "geojson", data: emptyCollection()});
  map.addLayer({id: "route", type: "line", source: "route",
                layout: {"line-cap": "round", "line-join": "round"},
                paint: {"line-color": "#d7191c", "line-width": 5, "line-opacity": 0.85}});
  map.addSource("schools", {type: "geojson", data: emptyCollection(), cluster: true,
                            clusterRadius: 45, clusterMaxZoom: 13});
  map.addLayer({id: "clusters", type: "circle", source: "schools", filter: ["has", "point_count"],
                paint: {"circle-radius": 0, "circle-opacity": 0}});
  map.addLayer({id: "schools", type: "circle", source: "schools",
                filter: ["!", ["has", "point_count"]],
                paint: {"circle-color": ["get", "colour"], "circle-stroke-color": "#fff",
                        "circle-stroke-width": 1.5,
                        "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 4, 16, 8]}});
}

// Cluster counts as HTML markers: a label a screen reader announces and a click expands.
function updateClusterMarkers() {
  const seen = new Set();
  for (const feature of map.querySourceFeatures("schools", {filter: ["has", "point_count"]})) {
    const id = feature.properties.cluster_id;
    if (seen.has(id)) continue;
    seen.add(id);
    let marker = state.clusterMarkers.get(id);
    if (!marker) {
      const el = document.createElement("div");
      const count = feature.properties.point_count;
      const size = Math.round(24 + Math.min(26, Math.sqrt(count) * 3));
      el.className = "cluster";
      el.style.width = el.style.height = `${size}px`;
      el.textContent = count;
      el.dataset.testid = "cluster";
      el.setAttribute("aria-label", t("cluster_label", count));
      el.addEventListener("click", (event) => {
        event.stopPropagation();
        map.getSource("schools").getClusterExpansionZoom(id).then((zoom) => {
          map.easeTo({center: feature.geometry.coordinates, zoom});
        });
      });
      marker = new maplibregl.Marker({element: el}).setLngLat(feature.geometry.coordinates);
      state.clusterMarkers.set(id, marker);
    }
    marker.addTo(map);
  }
  for (const [id, marker] of state.clusterMarkers) {
    if (!seen.has(id)) { marker.remove(); state.clusterMarkers.delete(id); }
  }
}

function setOsmBase(on) {
  // The OSM raster is optional and needs the internet; the map works without it.
  if (on && !map.getSource("osm")) {
    map.addSource("osm", {type: "raster", tileSize: 256, attribution: OSM_CREDIT,
                          tiles: ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]});
    map.addLayer({id: "osm", type: "raster", source: "osm"}, "wards-fill");
  } else if (!on && map.getSource("osm")) {
    map.removeLayer("osm");
    map.removeSource("osm");
  }
}

// ------------------------------------------------------------------ schools and filters

function fillSelect(select, options) {
  const current = select.value;
  select.innerHTML = options.map(([value, label]) =>
    `<option value="${escapeHtml(value)}">${escapeHtml(label)}</option>`).join("");
  if (options.some(([value]) => value === current)) select.value = current;
}

function fillFilters() {
  fillSelect($("f-level"), [["", t("all_levels")],
    ...["mam_non", "tieu_hoc", "thcs", "thpt"].map((l) => [l, t(l)]), ["unknown", t("unknown_level")]]);
  fillSelect($("f-ownership"), [["", t("all_ownership")], ["public", t("public")],
    ["private", t("private")], ["unknown", t("unknown")]]);
  const districts = new Map();
  const wards = new Map();
  // Today's units (the edition the map shows), else the units the schools name.
  const units = state.units.length ? state.units.map((f) => f.properties) : state.schools.map((f) => ({
    code: f.properties.ward_code, full_name: f.properties.ward_full_name || f.properties.ward_name,
    district_code: f.properties.district_code, district_name: f.properties.district_name}));
  for (const p of units) {
    if (p.district_code) districts.set(p.district_code, p.district_name);
    if (p.code && (!$("f-district").value || p.district_code === $("f-district").value)) {
      wards.set(p.code, p.full_name);
    }
  }
  const byName = (a, b) => a[1].localeCompare(b[1], "vi", {numeric: true});
  // Districts exist in the 2019 census units only; since 1 July 2025 a ward is under its province.
  $("f-district").hidden = districts.size === 0;
  fillSelect($("f-district"), [["", t("all_districts")], ...[...districts].sort(byName)]);
  fillSelect($("f-ward"), [["", t(state.edition === "2019" ? "all_wards" : "all_units")],
    ...[...wards].sort(byName)]);
  fillSelect($("near-level"), ["tieu_hoc", "thcs", "thpt", "mam_non"].map((l) => [l, t(l)]));
  fillSelect($("reach-mode"), ["motorbike", "walk"].map((m) => [m, t(m)]));
  $("legend").innerHTML = Object.entries(LEVEL_COLOURS).map(([key, colour]) =>
    `<span class="dot" style="background:${colour}"></span>` +
    escapeHtml(key === "unknown" ? t("unknown_level") : t(key))).join("") +
    (state.units.some((f) => f.properties.no_census)
      ? `<span class="swatch no-census"></span>${escapeHtml(t("no_census_legend"))}` : "");
}

function matchesFilters(p) {
  const level = $("f-level").value;
  if (level === "unknown" && p.levels.length) return false;
  if (level && level !== "unknown" && !p.levels.includes(level)) return false;
  if ($("f-ownership").value && p.ownership !== $("f-ownership").value) return false;
  if ($("f-district").value && p.district_code !== $("f-district").value) return false;
  if ($("f-ward").value && p.ward_code !== $("f-ward").value) return false;
  return true;
}

function applyFilters() {
  state.shown = state.schools.filter((f) => matchesFilters(f.properties));
  const source = map.getSource("schools");
  if (source) source.setData({type: "FeatureCollection", features: state.shown});
  $("count").textContent = t("shown", state.shown.length, state.schools.length);
}

// The units of the current edition, without outlines (the map draws them from the tiles).
async function loadUnits() {
  try {
    const data = await getJson("/wards?geometry=false");
    state.units = data.features;
    state.edition = data.edition;
  } catch (error) {
    state.units = [];  // the schools still show; the ward filter falls back to their units
  }
}

async function loadSchools() {
  await loadUnits();
  const edition = state.edition ? `&edition=${encodeURIComponent(state.edition)}` : "";
  const data = await getJson(`/schools?limit=5000${edition}`);
  state.edition = data.edition || state.edition;
  state.schools = data.features.filter((f) => f.geometry);
  for (const f of state.schools) {
    const p = f.properties;
    p.colour = LEVEL_COLOURS[levelKey(p.levels)];
    const old = Object.entries(p.units || {}).filter(([e]) => e !== p.edition)
      .map(([, u]) => u.name);
    f.search = fold([p.name, p.address, p.ward_full_name || p.ward_name, p.district_name, ...old]
      .join(" "));
  }
  fillFilters();
  applyFilters();
  if (state.schools.length) {
    const bounds = new maplibregl.LngLatBounds();
    state.schools.forEach((f) => bounds.extend(f.geometry.coordinates));
    map.fitBounds(bounds, {padding: 30, duration: 0});
  }
}

// ------------------------------------------------------------------ search

let searchTimer = null;
function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, 150);
}

// What a person reads about a unit's census figures, in the chosen language.
function censusNote(p) {
  return LANG === "vi" ? p.census_note_vi : p.census_note_en;
}

function formerNote(p) {
  return LANG === "vi" ? p.former_note_vi : p.former_note_en;
}

let searchRun = 0;
function runSearch() {
  const text = $("search").value;
  const words = fold(text).split(" ").filter(Boolean);
  const list = $("search-results");
  const run = ++searchRun;
  if (!words.length) { list.hidden = true; list.innerHTML = ""; return; }
  const found = state.schools.filter((f) => words.every((w) => f.search.includes(w))).slice(0, 12);
  const schools = found.map((f) =>
    `<li tabindex="0" data-id="${f.properties.id}" data-testid="search-result">` +
    `${escapeHtml(f.properties.name)}<span class="sub">${escapeHtml(levelText(f.properties.levels))}` +
    ` · ${escapeHtml(f.properties.address || f.properties.ward_full_name || f.properties.ward_name || "")}` +
    "</span></li>").join("");
  const show = (units) => {
    if (run !== searchRun) return;  // a later search has begun
    const unitItems = units.map((f) => {
      const p = f.properties;
      const sub = [p.matched_by === "former_name" ? formerNote(p) : "",
        p.district_name, censusNote(p)].filter(Boolean).join(" · ");
      return `<li tabindex="0" data-unit="${escapeHtml(p.code)}" data-testid="unit-result">` +
        `${escapeHtml(p.full_name)}<span class="sub">${escapeHtml(sub)}</span></li>`;
    }).join("");
    list.hidden = false;
    list.innerHTML = (unitItems ? `<li class="group">${t("units_found")}</li>${unitItems}` : "") +
      (schools && unitItems ? `<li class="group">${t("schools_found")}</li>` : "") + schools ||
      `<li class="muted">${t("no_match")}</li>`;
  };
  show([]);
  // Units by new or old name, from the server (it knows which 2019 wards each unit took).
  const edition = state.edition ? `&edition=${encodeURIComponent(state.edition)}` : "";
  getJson(`/wards?geometry=false&limit=5&q=${encodeURIComponent(text.trim())}${edition}`)
    .then((data) => show(data.features)).catch(() => {});
}

function onSearchPick(event) {
  const unit = event.target.closest("li[data-unit]");
  if (unit) { pickUnit(unit.dataset.unit); return; }
  const item = event.target.closest("li[data-id]");
  if (!item) return;
  const feature = state.schools.find((f) => f.properties.id === Number(item.dataset.id));
  if (!feature) return;
  $("search-results").hidden = true;
  map.flyTo({center: feature.geometry.coordinates, zoom: Math.max(map.getZoom(), 15)});
  showPopup(feature.geometry.coordinates, feature.properties.name);
  showCard(feature.properties.id);
}

// ------------------------------------------------------------------ unit card

const number = (n) => numberText(n);
const capitalised = (text) => text ? text[0].toUpperCase() + text.slice(1) : text;

async function unitFeature(code) {
  const known = state.units.find((f) => f.properties.code === code);
  if (known) return known;
  const edition = state.edition ? `&edition=${encodeURIComponent(state.edition)}` : "";
  const data = await getJson(`/wards?geometry=false&q=${encodeURIComponent(code)}${edition}`);
  return data.features.find((f) => f.properties.code === code) || null;
}

// A unit picked in the search list: filter the schools to it, frame it, and say what it is.
async function pickUnit(code) {
  $("search-results").hidden = true;
  const feature = await unitFeature(code).catch(() => null);
  if (!feature) return;
  const p = feature.properties;
  if (p.district_code && !$("f-district").hidden) { $("f-district").value = p.district_code; fillFilters(); }
  $("f-ward").value = p.code;
  applyFilters();
  if (p.bbox) {
    const [x0, y0, x1, y1] = p.bbox;
    map.fitBounds([[x0, y0], [x1, y1]], {padding: 30, maxZoom: 16});
  }
  showUnitCard(feature);
}

function showUnitCard(feature) {
  const card = $("unit-card");
  if (!feature) { card.hidden = true; card.innerHTML = ""; return; }
  const p = feature.properties;
  const row = (label, value) => value ? `<dt>${label}</dt><dd>${value}</dd>` : "";
  const years = Object.keys(p.population || {}).sort();
  // A unit without census figures says so; it never shows a population of 0.
  const population = p.no_census || !years.length
    ? `<span data-testid="census-note">${escapeHtml(capitalised(censusNote(p)) || t("no_figures"))}</span>`
    : years.map((y) => `${y}: ${number(p.population[y])}`).join(" · ") +
      (p.population_source === "crosswalk" ? ` <span class="muted small">(${t("carried")})</span>` : "") +
      (censusNote(p) ? `<br><span class="muted small">${escapeHtml(censusNote(p))}</span>` : "");
  const children = Object.entries(p.reported_children || {}).map(([y, n]) => `${y}: ${number(n)}`)
    .join(" · ");
  card.hidden = false;
  card.innerHTML = `<h3 data-testid="unit-name">${escapeHtml(p.full_name)}</h3><dl>` +
    row(t("unit_type"), escapeHtml(p.unit_type_vi || "")) +
    row(t("district"), escapeHtml(p.district_name || "")) +
    row(t("province"), escapeHtml(p.province_name || "")) +
    row(t("population"), population) +
    row(t("reported_children"), escapeHtml(children)) +
    row(t("former"), escapeHtml((formerNote(p) || "").replace(/^[^:]*:\s*/, ""))) +
    row(t("area"), `${numberText(p.area_km2, 2)} km²`) +
    "</dl>";
}

// ------------------------------------------------------------------ school card

let popup = null;
function showPopup(coordinates, text) {
  if (popup) popup.remove();
  popup = new maplibregl.Popup({offset: 8}).setLngLat(coordinates).setText(text).addTo(map);
}

async function showCard(id) {
  const card = $("card");
  card.hidden = false;
  card.innerHTML = `<p class="muted">${t("looking")}</p>`;
  let school;
  try {
    school = await getJson(`/schools/${id}`);
  } catch (error) {
    card.innerHTML = `<p>${t("error")}: ${escapeHtml(error.message)}</p>`;
    return;
  }
  const p = school.properties;
  const entries = new Set(p.levels.map((l) => ENTRY_GRADE[l]).filter(Boolean));
  const grades = p.grades.length ? `<table><thead><tr><th>${t("grade")}</th>` +
    `<th class="num">${t("classes")}</th><th class="num">${t("class_size")}</th>` +
    `<th class="num">${t("seats")}</th></tr></thead><tbody>` +
    p.grades.map((g) => `<tr class="${entries.has(g.grade) ? "entry" : ""}"><td>${g.grade}` +
      `${entries.has(g.grade) ? ` (${t("entry_grade")})` : ""}</td><td class="num">${g.classes}</td>` +
      `<td class="num">${g.class_size}</td><td class="num">${g.seats}</td></tr>`).join("") +
    "</tbody></table>" : `<p class="muted">${t("no_grades")}</p>`;
  const row = (label, value) => value ? `<dt>${label}</dt><dd>${value}</dd>` : "";
  const near = state.near.find((n) => n.id === id);
  card.innerHTML = `<h3 data-testid="card-name">${escapeHtml(p.name)}</h3><dl>` +
    row(t("level"), escapeHtml(levelText(p.levels))) +
    row(t("ownership"), escapeHtml(t(p.ownership))) +
    row(t("address"), escapeHtml(p.address)) +
    row(t("ward"), escapeHtml(p.ward_full_name || p.ward_name)) +
    (p.edition === "2019" || !p.units || !p.units["2019"]
      ? row(t("district"), escapeHtml(p.district_name))
      : row(t("old_ward"), escapeHtml([p.units["2019"].full_name, p.units["2019"].district_name]
        .filter(Boolean).join(", ")))) +
    row(t("phone"), p.phone ? `<a href="tel:${escapeHtml(p.phone)}">${escapeHtml(p.phone)}</a>` : "") +
    row(t("website"), p.website ? `<a href="${escapeHtml(p.website)}" rel="noopener">` +
      `${escapeHtml(p.website)}</a>` : "") +
    (near ? row(t("road_km"), `${kmText(near.motorbike.distance_m)} km · ` +
      `${minutesText(near.motorbike.time_min)} (${t("straight_km")} ` +
      `${kmText(near.motorbike.straight_m)} km)`) : "") +
    `</dl>${grades}`;
}

// ------------------------------------------------------------------ from my home

function setHome(lon, lat, label) {
  state.home = {lon, lat};
  state.pending = null;
  placeHomeMarker(lon, lat, label);
  map.getSource("route").setData(emptyCollection());
  map.getSource("straight").setData(emptyCollection());
  map.getSource("reach").setData(emptyCollection());
  state.chosen = null;
  shareInAddress();
  loadNear();
}

// The draggable pin at the home (or at an answer waiting to be confirmed).
function placeHomeMarker(lon, lat, label) {
  if (!state.homeMarker) {
    state.homeMarker = new maplibregl.Marker(HOME_PIN);
    state.homeMarker.on("dragend", () => {
      const at = state.homeMarker.getLngLat();
      map.getSource("uncertainty").setData(emptyCollection());
      setHome(at.lng, at.lat, t("home_pin"));
    });
  }
  state.homeMarker.setLngLat([lon, lat]).addTo(map);
  state.homeMarker.getElement().dataset.testid = "home-marker";
  if (label) state.homeMarker.setPopup(new maplibregl.Popup({offset: 25}).setText(label));
}

function showStatus(html, exact) {
  const box = $("home-status");
  box.hidden = !html;
  box.className = exact ? "note exact" : "note";
  box.innerHTML = html || "";
}

// Suggestions while the address is typed (after a pause), without choosing any of them.
let suggesting = null;
function suggestAddresses() {
  clearTimeout(suggesting);
  const q = $("home-address").value.trim();
  if (q.length < 4) return;
  suggesting = setTimeout(() => findAddress(null, {choose: false}), 350);
}

async function findAddress(event, {choose = true} = {}) {
  if (event) event.preventDefault();
  clearTimeout(suggesting);
  const q = $("home-address").value.trim();
  if (!q) return;
  const list = $("home-candidates");
  if (choose) list.innerHTML = `<li class="muted">${t("looking")}</li>`;
  try {
    const result = await getJson(`/geocode?q=${encodeURIComponent(q)}&limit=5`);
    if (q !== $("home-address").value.trim()) return;  // typed on since: a newer answer comes
    state.candidates = result.candidates;
    if (!result.candidates.length) {
      const hint = LANG === "vi" ? result.hint_vi : result.hint_en;
      list.innerHTML = `<li class="muted" data-testid="address-hint">${escapeHtml(
        hint || t("no_match"))}</li>`;
      return;
    }
    list.innerHTML = result.candidates.map((c, i) =>
      `<li tabindex="0" data-index="${i}" data-testid="address-candidate">${escapeHtml(c.label)}` +
      `<span class="sub">${escapeHtml([c.ward_name, c.district_name].filter(Boolean).join(", "))}` +
      ` · ${escapeHtml(t("precision")[c.precision])}, ${t("uncertainty", c.uncertainty_m)}` +
      `${c.needs_confirmation ? ` · <b>${escapeHtml(t("to_confirm"))}</b>` : ""}</span></li>`
    ).join("");
    if (choose) pickCandidate(0);
  } catch (error) {
    list.innerHTML = `<li>${t("error")}: ${escapeHtml(error.message)}</li>`;
  }
}

// A candidate shown with its circle; one the service is not sure of (wider than about 100 m,
// not a house, or outside a unit the address names) waits for the family to confirm it or
// move the pin: it is never taken silently.
function pickCandidate(index) {
  const c = state.candidates[index];
  if (!c) return;
  const area = circle(c.lon, c.lat, c.uncertainty_m);
  if (c.needs_confirmation) {
    state.pending = c;
    placeHomeMarker(c.lon, c.lat, c.label);
    showStatus(`<b>${escapeHtml(t("to_confirm"))}:</b> ${escapeHtml(
      LANG === "vi" ? c.confirm_vi : c.confirm_en)} <button type="button" id="home-confirm" ` +
      `data-testid="home-confirm">${escapeHtml(t("confirm_home"))}</button>`);
    $("home-confirm").addEventListener("click", () => {
      state.pending = null;
      setHome(c.lon, c.lat, c.label);
      map.getSource("uncertainty").setData(area);
      showStatus(escapeHtml(LANG === "vi" ? c.note_vi : c.note_en));
    });
  } else {
    state.pending = null;
    showStatus(`<b>${escapeHtml(t("precision")[c.precision])}</b> (${t("uncertainty", c.uncertainty_m)}): ` +
      escapeHtml(LANG === "vi" ? c.note_vi : c.note_en), c.precision === "house");
    setHome(c.lon, c.lat, c.label);
  }
  // Show how far off the point may be, and frame all of it.
  map.getSource("uncertainty").setData(area);
  const bounds = new maplibregl.LngLatBounds();
  area.geometry.coordinates[0].forEach((xy) => bounds.extend(xy));
  map.fitBounds(bounds, {padding: 40, maxZoom: 16});
}

async function loadNear() {
  if (!state.home) return;
  const {lon, lat} = state.home;
  const level = $("near-level").value || "tieu_hoc";
  const table = $("near");
  const body = table.querySelector("tbody");
  table.hidden = false;
  body.innerHTML = `<tr><td colspan="5" class="muted">${t("looking")}</td></tr>`;
  try {
    const query = `lat=${lat}&lon=${lon}&level=${level}&limit=10`;
    const [bike, walk] = await Promise.all([
      getJson(`/schools/near?${query}&mode=motorbike`), getJson(`/schools/near?${query}&mode=walk`)]);
    const walking = new Map(walk.features.map((f) => [f.properties.id, f.properties]));
    state.near = bike.features.map((f) => ({
      id: f.properties.id, name: f.properties.name, coordinates: f.geometry.coordinates,
      motorbike: f.properties, walk: walking.get(f.properties.id)}));
    body.innerHTML = state.near.length ? state.near.map((n) =>
      `<tr data-id="${n.id}" data-testid="near-row" tabindex="0"><td>${escapeHtml(n.name)}</td>` +
      `<td class="num">${kmText(n.motorbike.distance_m)} km</td>` +
      `<td class="num">${kmText(n.motorbike.straight_m)} km</td>` +
      `<td class="num">${minutesText(n.motorbike.time_min)}</td>` +
      `<td class="num">${n.walk ? minutesText(n.walk.time_min) : "—"}</td></tr>`
    ).join("") + `<tr><td colspan="5" class="muted small">${t("near_note")}</td></tr>`
      : `<tr><td colspan="5">${t("no_match")}</td></tr>`;
    const wanted = state.near.find((n) => n.id === state.wantedSchool);
    state.wantedSchool = null;
    if (state.near.length) chooseSchool((wanted || state.near[0]).id);
    showChances(lon, lat, level);
  } catch (error) {
    body.innerHTML = `<tr><td colspan="5">${t("error")}: ${escapeHtml(error.message)}</td></tr>`;
  }
}

// Each near school's chance of a place next year, where the planners have published zones
// for the level's entry grade: a word in the row, and how it was estimated for the one chosen.
const GRADE_OF_LEVEL = {tieu_hoc: 1, thcs: 6};
async function showChances(lon, lat, level) {
  state.chances = new Map();
  const grade = GRADE_OF_LEVEL[level];
  if (!grade) { showChanceNote(); return; }
  const home = state.home;
  let said;
  try {
    said = await getJson(`/zones/chances?lat=${lat}&lon=${lon}&grade=${grade}&limit=30`);
  } catch {
    return;  // the chances are a help, not the answer: the list stands without them
  }
  // Another home since, or no zones published for the grade: no word is shown.
  if (state.home !== home || said.run === null) return;
  said.schools.filter((s) => s.chance).forEach((s) => state.chances.set(s.school_id, s.chance));
  document.querySelectorAll("#near tbody tr[data-id]").forEach((tr) => {
    const found = state.chances.get(Number(tr.dataset.id));
    if (!found || tr.querySelector("[data-testid=chance]")) return;
    tr.cells[0].insertAdjacentHTML("beforeend", `<span class="chance ${found.label}" ` +
      `data-testid="chance" data-chance="${found.label}">${escapeHtml(
        t(`chance_${found.label}`))}</span>`);
  });
  showChanceNote();
}

// How the chosen school's chance was estimated, in the chosen language (an estimate only).
function showChanceNote() {
  const note = $("near-chance");
  const found = state.chances && state.chances.get(state.chosen);
  note.hidden = !found;
  note.innerHTML = found ? `<b>${escapeHtml(t("chance_title"))}: ${escapeHtml(
    t(`chance_${found.label}`))}.</b> ${escapeHtml(LANG === "vi" ? found.vi : found.en)}` : "";
}

async function chooseSchool(id) {
  const chosen = state.near.find((n) => n.id === id);
  if (!chosen || !state.home) return;
  state.chosen = id;
  shareInAddress();
  document.querySelectorAll("#near tbody tr").forEach((tr) =>
    tr.classList.toggle("chosen", Number(tr.dataset.id) === id));
  showChanceNote();
  const {lon, lat} = state.home;
  map.getSource("straight").setData({type: "Feature", properties: {},
    geometry: {type: "LineString", coordinates: [[lon, lat], chosen.coordinates]}});
  showCard(id);
  try {
    const route = await getJson(`/route?from=${lat},${lon}&to_school=${id}&mode=motorbike`);
    state.route = route;
    map.getSource("route").setData(route);
    const bounds = new maplibregl.LngLatBounds();
    route.geometry.coordinates.forEach((c) => bounds.extend(c));
    bounds.extend([lon, lat]);
    map.fitBounds(bounds, {padding: 60, maxZoom: 16});
    showStatus(escapeHtml(t("route_to", chosen.name, kmText(route.properties.length_m),
      minutesNumber(route.properties.time_min))), true);
  } catch (error) {
    showStatus(`${t("error")}: ${escapeHtml(error.message)}`);
  }
}

async function showReach() {
  if (!state.home) { showStatus(t("pin_hint")); return; }
  const minutes = $("reach-minutes").value;
  const mode = $("reach-mode").value || "motorbike";
  const {lon, lat} = state.home;
  try {
    const area = await getJson(`/reach?lat=${lat}&lon=${lon}&mode=${mode}&minutes=${minutes}`);
    state.reach = area;
    map.getSource("reach").setData(area);
    showStatus(escapeHtml(t("reach_area", minutes, numberText(area.properties.area_km2, 2))), true);
  } catch (error) {
    showStatus(`${t("error")}: ${escapeHtml(error.message)}`);
  }
}

// The home where this device is (the browser asks the family first), with its accuracy as the
// circle; never stored or sent anywhere but the map's own requests.
function useMyLocation() {
  if (!navigator.geolocation) { showStatus(escapeHtml(t("here_unavailable"))); return; }
  showStatus(escapeHtml(t("locating")));
  navigator.geolocation.getCurrentPosition((position) => {
    const {longitude: lon, latitude: lat, accuracy} = position.coords;
    $("home-candidates").innerHTML = "";
    setHome(lon, lat, t("home_here"));
    const area = circle(lon, lat, Math.max(accuracy, 10));
    map.getSource("uncertainty").setData(area);
    const bounds = new maplibregl.LngLatBounds();
    area.geometry.coordinates[0].forEach((xy) => bounds.extend(xy));
    map.fitBounds(bounds, {padding: 40, maxZoom: 16});
    showStatus(escapeHtml(t("here_accuracy", Math.round(accuracy))), accuracy <= 100);
  }, (error) => {
    showStatus(escapeHtml(t(error.code === error.PERMISSION_DENIED ? "here_denied" : "here_unavailable")));
  }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
}

// ------------------------------------------------------------------ a link to share

// The home, the level and the school chosen, kept in the address (#/map?home=lon,lat&…), so
// the page can be reloaded, bookmarked or sent as it is. Nothing about a child is in it.
function shareInAddress() {
  if (!state.home || currentView() !== "map") return;
  const {lon, lat} = state.home;
  const level = $("near-level").value || "tieu_hoc";
  const school = state.chosen ? `&school=${state.chosen}` : "";
  history.replaceState(null, "",
    `#/map?home=${lon.toFixed(6)},${lat.toFixed(6)}&level=${level}${school}`);
}

// A shared address opened: the home it names, and the school, once the map is ready. A link
// that does not read as one is ignored.
function openSharedAddress() {
  const query = (location.hash.match(/^#\/map\?(.*)$/) || [])[1];
  if (!query) return;
  const params = new URLSearchParams(query);
  const [lon, lat] = (params.get("home") || "").split(",").map(Number);
  if (!Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lon) > 180 || Math.abs(lat) > 90) {
    return;
  }
  const level = params.get("level");
  if ([...$("near-level").options].some((o) => o.value === level)) $("near-level").value = level;
  const school = Number(params.get("school"));
  state.wantedSchool = Number.isInteger(school) && school > 0 ? school : null;
  setHome(lon, lat, t("home_pin"));
  map.jumpTo({center: [lon, lat], zoom: 14});
}

// ------------------------------------------------------------------ views

// The app is a shell of views, one <main class="view" id="view-NAME"> each, shown by the
// address "#/NAME"; more views (parents', officers') are added as a section and a nav link.
function showView() {
  const name = (location.hash.match(/^#\/([\w-]+)/) || [null, "map"])[1];
  const target = document.getElementById(`view-${name}`) ? name : "map";
  document.querySelectorAll(".view").forEach((view) => { view.hidden = view.id !== `view-${target}`; });
  document.querySelectorAll("#views a").forEach((link) => {
    link.classList.toggle("active", link.getAttribute("href") === `#/${target}`);
  });
  if (target === "map") map.resize();
  // A link within the app to a home and school on the map (a parent's result): shown now.
  if (target === "map" && document.body.dataset.ready === "yes") openSharedAddress();
}

// ------------------------------------------------------------------ wiring

function wire() {
  window.addEventListener("hashchange", showView);
  $("lang").addEventListener("click", switchLanguage);
  $("search").addEventListener("input", onSearchInput);
  $("search-results").addEventListener("click", onSearchPick);
  $("search-results").addEventListener("keydown", (e) => { if (e.key === "Enter") onSearchPick(e); });
  $("f-district").addEventListener("change", () => {
    $("f-ward").value = ""; fillFilters(); applyFilters(); showUnitCard(null);
  });
  for (const id of ["f-level", "f-ownership"]) $(id).addEventListener("change", applyFilters);
  $("f-ward").addEventListener("change", () => {
    applyFilters();
    showUnitCard(state.units.find((f) => f.properties.code === $("f-ward").value) || null);
  });
  $("home-form").addEventListener("submit", findAddress);
  $("home-address").addEventListener("input", suggestAddresses);
  $("home-here").addEventListener("click", useMyLocation);
  $("home-candidates").addEventListener("click", (e) => {
    const item = e.target.closest("li[data-index]");
    if (item) pickCandidate(Number(item.dataset.index));
  });
  $("home-candidates").addEventListener("keydown", (e) => {
    const item = e.target.closest("li[data-index]");
    if (item && e.key === "Enter") pickCandidate(Number(item.dataset.index));
  });
  $("near").addEventListener("keydown", (e) => {
    const row = e.target.closest("tr[data-id]");
    if (row && e.key === "Enter") chooseSchool(Number(row.dataset.id));
  });
  $("near").addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-id]");
    if (row) chooseSchool(Number(row.dataset.id));
  });
  $("near-level").addEventListener("change", loadNear);
  $("reach-btn").addEventListener("click", showReach);
  $("osm-base").addEventListener("change", (e) => setOsmBase(e.target.checked));
  document.addEventListener("languagechange", () => {
    fillFilters(); applyFilters(); runSearch();
    if ($("f-ward").value) {
      showUnitCard(state.units.find((f) => f.properties.code === $("f-ward").value) || null);
    }
    if (state.home) loadNear();
  });
  map.on("click", "schools", (e) => {
    e.preventDefault();
    const p = e.features[0].properties;
    showPopup(e.features[0].geometry.coordinates, p.name);
    showCard(p.id);
  });
  map.on("click", (e) => {
    if (e.defaultPrevented) return;
    showStatus("");
    map.getSource("uncertainty").setData(emptyCollection());
    $("home-candidates").innerHTML = "";
    setHome(e.lngLat.lng, e.lngLat.lat, t("home_pin"));
  });
  map.on("mouseenter", "schools", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "schools", () => { map.getCanvas().style.cursor = ""; });
  map.on("render", () => { if (map.getSource("schools")) updateClusterMarkers(); });
}

applyStaticText();
wire();
showView();
map.on("load", async () => {
  addOverlayLayers();
  try {
    await loadSchools();
  } catch (error) {
    $("count").textContent = `${t("error")}: ${error.message}`;
  }
  openSharedAddress();
  document.body.dataset.ready = "yes";
});
