// The planner view: choropleth of demand and gap by the units of an edition (the current one by
// default), schools short of classes, proposed sites. Units without census figures say so.
"use strict";
const $ = (id) => document.getElementById(id);
const EMPTY = { type: "FeatureCollection", features: [] };
let token = sessionStorage.getItem("schoolmap-token");
const map = new maplibregl.Map({
  container: "map",
  style: { version: 8, sources: {}, layers: [
    { id: "bg", type: "background", paint: { "background-color": "#f4f6f8" } }] },
  center: [106.7, 10.78], zoom: 10, attributionControl: false,
});
map.addControl(new maplibregl.AttributionControl({
  customAttribution: "© OpenStreetMap contributors" }));
map.addControl(new maplibregl.NavigationControl());

function number(v) { return v == null ? "–" : Number(v).toLocaleString("vi-VN"); }
const NO_CENSUS = "không có số liệu điều tra dân số 2019 / no 2019 census figures";
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c])); }

async function getJson(url, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { ...options, headers });
  const body = await response.json();
  if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

// A unit as a person reads it: its name with its type, and its district for census wards.
function unitName(p) {
  const name = p.unit_label || p.ward_name;
  return p.district_name ? `${name} (${p.district_name})` : name;
}

function editionParam() {
  const value = $("edition").value;
  return value ? `&edition=${encodeURIComponent(value)}` : "";
}

// The edition the service counted by, once known: the "current" choice names it.
function showEdition(edition) {
  const current = $("edition").querySelector("option[value='']");
  current.textContent = `Đơn vị hiện hành / current units (${edition})`;
}

function setSource(id, data) {
  if (map.getSource(id)) map.getSource(id).setData(data);
  else map.addSource(id, { type: "geojson", data });
}

function drawWards(wards, key) {
  const values = wards.features.map(f => f.properties[key] || 0);
  const top = Math.max(1, ...values);
  setSource("wards", wards);
  // Units without figures are grey, never coloured as zero.
  const fill = ["case", ["==", ["get", "figures"], "none"], "#d0d0d0",
    ["interpolate", ["linear"], ["coalesce", ["get", key], 0],
      0, "#fff7ec", top / 3, "#fdbb84", (2 * top) / 3, "#ef6548", top, "#990000"]];
  if (map.getLayer("wards-fill")) map.setPaintProperty("wards-fill", "fill-color", fill);
  else {
    map.addLayer({ id: "wards-fill", type: "fill", source: "wards",
                   paint: { "fill-color": fill, "fill-opacity": 0.75 } });
    map.addLayer({ id: "wards-line", type: "line", source: "wards",
                   paint: { "line-color": "#555", "line-width": 0.5 } });
    map.on("click", "wards-fill", (e) => {
      const p = e.features[0].properties;
      // MapLibre hands properties back as text; an absent figure comes back as "null".
      const counted = p.children != null && p.children !== "null";
      const note = p.note && p.note !== "null" ? `<br><i>${esc(p.note)}</i>` : "";
      const body = counted
        ? `Trẻ / children: ${number(p.children)}<br>` +
          `Lớp cần / classes needed: ${number(p.classes_needed)}<br>` +
          `Vượt sĩ số / over size: ${number(p.children_over_size)}<br>` +
          `Ngoài cự ly / beyond norm: ${number(p.children_beyond_norm)}${note}`
        : `<i>${esc(p.note && p.note !== "null" ? p.note : NO_CENSUS)}</i><br>` +
          `Lớp hiện có / classes in the unit: ${number(p.classes_in_ward)}`;
      new maplibregl.Popup().setLngLat(e.lngLat).setHTML(
        `<b>${esc(unitName(p))}</b><br>${body}`).addTo(map);
    });
  }
  const bounds = new maplibregl.LngLatBounds();
  for (const f of wards.features) {
    if (!f.geometry) continue;
    const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
    for (const poly of polys) for (const c of poly[0]) bounds.extend(c);
  }
  if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 20, duration: 0 });
}

function drawSchools(schools) {
  setSource("schools", schools);
  if (!map.getLayer("schools")) {
    map.addLayer({ id: "schools", type: "circle", source: "schools", paint: {
      "circle-radius": ["+", 4, ["*", 1.5, ["get", "classes_short"]]],
      "circle-color": ["case", [">", ["get", "classes_short"], 0], "#b2182b", "#2166ac"],
      "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    map.on("click", "schools", (e) => {
      const p = e.features[0].properties;
      new maplibregl.Popup().setLngLat(e.lngLat).setHTML(
        `<b>${esc(p.name)}</b><br>Lớp / classes: ${p.classes}${p.classes_assumed ? " (giả định)" : ""}` +
        `<br>Trẻ / children: ${number(p.children)}<br>Thiếu / short: ${p.classes_short} lớp`).addTo(map);
    });
  }
}

function drawSites(sites) {
  setSource("sites", { type: "FeatureCollection", features: sites.map(s => ({
    type: "Feature", properties: { name: s.name },
    geometry: { type: "Point", coordinates: [s.lon, s.lat] } })) });
  if (!map.getLayer("sites")) map.addLayer({ id: "sites", type: "circle", source: "sites",
    paint: { "circle-radius": 9, "circle-color": "#1a9850", "circle-stroke-color": "#000",
             "circle-stroke-width": 2 } });
}

async function show(event) {
  if (event) event.preventDefault();
  const grade = $("grade").value, year = $("year").value, key = $("layer").value;
  $("status").textContent = "Đang tính… / computing…";
  try {
    const gap = await getJson(`/planning/gap?grade=${grade}&year=${year}${editionParam()}`);
    drawWards(gap.wards, key);
    drawSchools(gap.schools);
    const m = gap.metrics;
    $("metrics").innerHTML = [
      ["Trẻ vào lớp / entrants", m.children], ["Lớp hiện có / classes", m.classes_available],
      ["Lớp cần / classes needed", m.classes_needed], ["Lớp thiếu / classes short", m.classes_short],
      ["Trẻ vượt sĩ số / over size", m.children_over_size],
      ["Trẻ ngoài cự ly / beyond norm", m.children_beyond_norm],
      ["Quãng đường TB / mean (m)", m.mean_m], ["P90 (m)", m.p90_m],
    ].map(([label, v]) => `<tr><td>${label}</td><td class="num">${number(v)}</td></tr>`).join("");
    const units = gap.wards.features.map(f => f.properties);
    const worst = units.filter(w => w.children != null)
      .sort((a, b) => b.children_over_size - a.children_over_size || b.children_beyond_norm - a.children_beyond_norm)
      .slice(0, 12);
    const place = (w) => w.district_name || w.province_name || "";
    $("wards").querySelector("tbody").innerHTML = worst.map(w =>
      `<tr><td>${esc(w.unit_label || w.ward_name)}<br><span class="muted small">${esc(place(w))}</span>` +
      (w.note ? `<br><span class="note small">${esc(w.note)}</span>` : "") + `</td>` +
      `<td class="num">${number(w.children)}</td><td class="num">${w.classes_needed}</td>` +
      `<td class="num">${number(w.children_over_size)}</td><td class="num">${number(w.children_beyond_norm)}</td></tr>`).join("");
    const uncounted = units.filter(w => w.children == null);
    $("uncounted").hidden = uncounted.length === 0;
    $("uncounted-list").innerHTML = uncounted.map(w =>
      `<li><b>${esc(unitName(w))}</b>: ${esc(w.note || NO_CENSUS)}</li>`).join("");
    const parts = [];
    if (m.units_without_figures) parts.push(`${m.units_without_figures} đơn vị ${NO_CENSUS}`);
    if (m.units_reported) parts.push(`${m.units_reported} đơn vị dùng số trẻ tự báo cáo / units counted from their own report`);
    if (m.units_partial_coverage) parts.push(`${m.units_partial_coverage} đơn vị chỉ có số liệu điều tra một phần / units the census covers in part`);
    $("coverage").textContent = parts.join("; ");
    if (!$("edition").value) showEdition(gap.statement.edition);
    $("status").textContent = `Đơn vị ${gap.statement.edition} / units of ${gap.statement.edition}; ` +
      `năm gốc dự báo / forecast base year ${gap.statement.forecast.base_year}; ` +
      `cự ly / norm ${gap.statement.norm_m} m; sĩ số / class size ${gap.statement.class_size}.`;
  } catch (err) {
    $("status").textContent = err.message;
  }
}

async function login(event) {
  event.preventDefault();
  try {
    const out = await getJson("/auth/login", { method: "POST",
      body: JSON.stringify({ username: $("user").value, password: $("pass").value }) });
    token = out.token || out.access_token;
    sessionStorage.setItem("schoolmap-token", token);
    showSiteForm();
  } catch (err) { $("status").textContent = err.message; }
}

function showSiteForm() { $("login").hidden = Boolean(token); $("site").hidden = !token; }

async function propose(event) {
  event.preventDefault();
  $("sites").innerHTML = "<li>Đang tìm… / searching…</li>";
  try {
    const out = await getJson("/planning/site", { method: "POST", body: JSON.stringify({
      grade: Number($("grade").value), year: Number($("year").value),
      k: Number($("k").value), minutes: Number($("minutes").value),
      edition: $("edition").value || null }) });
    drawSites(out.sites);
    $("sites").innerHTML = out.sites.map(s =>
      `<li><b>${esc(s.name)}</b>: ${number(s.children_served)} trẻ / children, ` +
      `TB / mean ${s.mean_min} phút / min</li>`).join("") +
      `<li class="muted">Trong ${out.minutes} phút: ${number(out.served_within_before)} → ` +
      `${number(out.served_within_after)} / ${number(out.children)} trẻ</li>` +
      (out.units_without_figures.length
        ? `<li class="note">${out.units_without_figures.length} đơn vị chưa tính, ${NO_CENSUS}: ` +
          `${out.units_without_figures.map(u => esc(u.unit_label)).join(", ")}</li>`
        : "");
  } catch (err) { $("sites").innerHTML = `<li>${esc(err.message)}</li>`; }
}

$("query").addEventListener("submit", show);
$("edition").addEventListener("change", show);
$("layer").addEventListener("change", show);
$("login").addEventListener("submit", login);
$("site").addEventListener("submit", propose);
showSiteForm();
map.on("load", () => show());
