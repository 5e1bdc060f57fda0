// Interface text, Vietnamese first; English beside it. t(key) reads the chosen language.
"use strict";
const TEXT = {
  vi: {
    title: "Bản đồ trường học", view_map: "Bản đồ trường",
    search_ph: "Tìm trường, địa chỉ, phường/xã (cả tên cũ; không dấu cũng được)",
    home_title: "Từ nhà tôi", home_ph: "Số nhà, đường, phường, quận", find: "Tìm",
    pin_hint: "Hoặc bấm vào bản đồ để đặt ghim tại nhà (kéo ghim để sửa).",
    level_for: "Cấp", reach_in: "Đi được trong", show_reach: "Xem vùng",
    school: "Trường", road_km: "Đường đi", straight_km: "Chim bay",
    motorbike_min: "Xe máy", walk_min: "Đi bộ",
    osm_base: "Nền OSM (cần mạng)", map_data: "Dữ liệu bản đồ",
    all_levels: "Mọi cấp", all_ownership: "Công lập và tư thục", all_districts: "Mọi quận/huyện",
    all_wards: "Mọi phường/xã", all_units: "Mọi phường, xã, đặc khu", public: "Công lập", private: "Tư thục", unknown: "Chưa rõ",
    mam_non: "Mầm non", tieu_hoc: "Tiểu học", thcs: "THCS", thpt: "THPT",
    lien_cap: "Liên cấp", unknown_level: "Chưa rõ cấp",
    shown: (n, all) => `${n} / ${all} trường trên bản đồ`,
    cluster_label: (n) => `${n} trường ở đây: bấm để phóng to`,
    to_confirm: "Cần xác nhận", confirm_home: "Đúng, nhà tôi ở đây",
    use_my_location: "Vị trí của tôi", locating: "Đang tìm vị trí của máy…",
    home_here: "Vị trí của máy",
    here_accuracy: (m) => `Vị trí của máy, sai số ~${numberText(m)} m: kéo ghim đến đúng nhà nếu cần.`,
    here_denied: "Trình duyệt không cho biết vị trí của máy: hãy cho phép truy cập vị trí, " +
      "hoặc nhập địa chỉ, hoặc bấm vào bản đồ tại nhà.",
    here_unavailable: "Không lấy được vị trí của máy: hãy nhập địa chỉ hoặc bấm vào bản đồ tại nhà.",
    no_match: "Không tìm thấy", schools_found: "Trường", places_found: "Địa điểm",
    address: "Địa chỉ", ward: "Phường/xã", district: "Quận/huyện", phone: "Điện thoại",
    website: "Trang web", ownership: "Loại hình", level: "Cấp học",
    grade: "Khối", classes: "Số lớp", class_size: "Sĩ số tối đa", seats: "Chỉ tiêu",
    entry_grade: "lớp đầu cấp", no_grades: "Chưa có số lớp của trường.",
    looking: "Đang tìm…", home_pin: "Nhà tôi (ghim)", minutes: "phút",
    near_note: "Khoảng cách đường đi theo xe máy; “chim bay” là đường thẳng.",
    chance_very_likely: "Rất có khả năng được nhận", chance_uncertain: "Chưa chắc được nhận",
    chance_unlikely: "Khó được nhận",
    chance_title: "Khả năng được nhận năm tới (ước tính)",
    route_to: (name, km, min) => `Đường đi đến ${name}: ${km} km, ${min} phút`,
    reach_area: (m, a) => `Vùng đi được trong ${m} phút: ${a} km²`,
    error: "Lỗi", outside: "Điểm này nằm ngoài mạng lưới đường.",
    precision: {house: "đúng số nhà", alley: "đầu hẻm", interpolated: "ước lượng theo số nhà",
                street: "trên đường", ward: "phường/xã", district: "quận/huyện"},
    uncertainty: (m) => `sai số ~${numberText(m)} m`, under_a_minute: "dưới 1 phút",
    walk: "Đi bộ", motorbike: "Xe máy", car: "Ô tô",
    units_found: "Phường, xã, đặc khu", unit_type: "Loại đơn vị", province: "Tỉnh/thành phố",
    population: "Dân số", carried: "chuyển từ số liệu điều tra 2019 của các phường/xã cũ",
    no_figures: "Chưa có số liệu dân số", reported_children: "Trẻ theo năm sinh (đơn vị báo cáo)",
    former: "Trước đây", area: "Diện tích", old_ward: "Phường/xã trước 1/7/2025",
    no_census_legend: "Không có số liệu điều tra dân số 2019",
  },
  en: {
    title: "School map", view_map: "School map",
    search_ph: "Search schools, addresses, wards (old names too; diacritics optional)",
    home_title: "From my home", home_ph: "House number, street, ward, district", find: "Find",
    pin_hint: "Or click the map to drop a pin at your home (drag it to correct).",
    level_for: "Level", reach_in: "Reachable in", show_reach: "Show area",
    school: "School", road_km: "By road", straight_km: "Straight",
    motorbike_min: "Motorbike", walk_min: "Walking",
    osm_base: "OSM base map (online)", map_data: "Map data",
    all_levels: "All levels", all_ownership: "Public and private", all_districts: "All districts",
    all_wards: "All wards", all_units: "All wards, communes and special zones", public: "Public", private: "Private", unknown: "Unknown",
    mam_non: "Preschool", tieu_hoc: "Primary", thcs: "Lower secondary", thpt: "Upper secondary",
    lien_cap: "Multi-level", unknown_level: "Level unknown",
    shown: (n, all) => `${n} of ${all} schools on the map`,
    cluster_label: (n) => `${n} schools here: select to zoom in`,
    to_confirm: "Please confirm", confirm_home: "Yes, my home is here",
    use_my_location: "My location", locating: "Finding this device's location…",
    home_here: "This device's location",
    here_accuracy: (m) => `This device's location, ~${numberText(m)} m uncertain: drag the pin ` +
      "to the home if needed.",
    here_denied: "The browser did not share this device's location: allow location access, " +
      "or type the address, or tap the map at the home.",
    here_unavailable: "This device's location could not be found: type the address or tap the " +
      "map at the home.",
    no_match: "Nothing found", schools_found: "Schools", places_found: "Places",
    address: "Address", ward: "Ward", district: "District", phone: "Phone",
    website: "Website", ownership: "Ownership", level: "Level",
    grade: "Grade", classes: "Classes", class_size: "Class size", seats: "Seats",
    entry_grade: "entry grade", no_grades: "No class figures for this school yet.",
    looking: "Searching…", home_pin: "My home (pin)", minutes: "min",
    near_note: "Road distance by motorbike; “straight” is the straight line.",
    chance_very_likely: "Very likely admitted", chance_uncertain: "Uncertain",
    chance_unlikely: "Unlikely admitted",
    chance_title: "Chance of a place next year (estimate)",
    route_to: (name, km, min) => `Route to ${name}: ${km} km, ${min} min`,
    reach_area: (m, a) => `Reachable within ${m} min: ${a} km²`,
    error: "Error", outside: "This point is outside the road network.",
    precision: {house: "exact house", alley: "alley mouth", interpolated: "interpolated number",
                street: "on the street", ward: "ward", district: "district"},
    uncertainty: (m) => `~${numberText(m)} m uncertain`, under_a_minute: "under a minute",
    walk: "Walking", motorbike: "Motorbike", car: "Car",
    units_found: "Wards, communes, special zones", unit_type: "Unit type", province: "Province",
    population: "Population", carried: "carried from the 2019 census figures of the former wards",
    no_figures: "No population figures yet", reported_children: "Children by birth year (reported)",
    former: "Formerly", area: "Area", old_ward: "Ward before 1 July 2025",
    no_census_legend: "No 2019 census figures",
  },
};
let LANG = localStorage.getItem("schoolmap.lang") === "en" ? "en" : "vi";

// The words of an error answer's detail: a sentence, a list of field problems, or an object
// carrying a message (never "[object Object]").
function problemText(detail) {
  if (detail === null || detail === undefined) return "";
  if (typeof detail === "string") return inChosenPart(detail);
  if (Array.isArray(detail)) {
    return detail.map((d) => (d && typeof d === "object" && "msg" in d
      ? `${(d.loc || []).slice(1).join(".")}: ${problemText(d.msg)}` : problemText(d))).join("; ");
  }
  if (typeof detail === "object") {
    const said = detail.message ?? detail.msg ?? (LANG === "vi" ? detail.vi : detail.en) ??
      detail.vi ?? detail.en ?? detail.detail;
    return said !== undefined ? problemText(said) : JSON.stringify(detail);
  }
  return String(detail);
}

// The service words its messages "Vietnamese / English": the chosen language's part.
function inChosenPart(text) {
  const at = text.indexOf(" / ");
  if (at < 0) return text;
  return LANG === "vi" ? text.slice(0, at) : text.slice(at + 3);
}

// The pin a family drags to its home: big enough for a finger (44 px wide).
const HOME_PIN = {color: "#d7191c", draggable: true, scale: 1.65};

// Numbers, distances, durations and dates as the chosen language writes them, made here for
// every page: "0,27 km", "1.036", "dưới 1 phút", "06/12/2026" (Vietnam's time).
const localeOf = () => (LANG === "vi" ? "vi-VN" : "en-GB");

function numberText(value, digits = 0) {
  return Number(value).toLocaleString(localeOf(),
    {minimumFractionDigits: digits, maximumFractionDigits: digits});
}

// Kilometres from metres, without the unit: "0,27", "12,4".
const kmText = (metres) => numberText(metres / 1000, metres < 10000 ? 2 : 1);

// Minutes without the unit, for sentences that say it: "3,5", "12".
const minutesNumber = (value) => numberText(value, value < 10 ? 1 : 0);

// A duration as a table cell shows it: "dưới 1 phút", "3,5 phút".
const minutesText = (value) => (value < 1 ? t("under_a_minute")
  : `${minutesNumber(value)} ${t("minutes")}`);

// A day (a date or a moment) as dd/mm/yyyy, in Vietnam's time.
function dateText(value) {
  const d = new Date(value);
  if (!value || Number.isNaN(d.getTime())) return "";
  return d.toLocaleDateString("en-GB",
    {day: "2-digit", month: "2-digit", year: "numeric", timeZone: "Asia/Ho_Chi_Minh"});
}

function t(key, ...args) {
  const value = TEXT[LANG][key] ?? TEXT.vi[key] ?? key;
  return typeof value === "function" ? value(...args) : value;
}

function applyStaticText() {
  document.documentElement.lang = LANG;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  document.getElementById("lang").textContent = LANG === "vi" ? "EN" : "VI";
}

function switchLanguage() {
  LANG = LANG === "vi" ? "en" : "vi";
  localStorage.setItem("schoolmap.lang", LANG);
  applyStaticText();
  document.dispatchEvent(new CustomEvent("languagechange"));
}
