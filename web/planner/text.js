// Text of the planner's page, Vietnamese first; merged into the app's dictionary.
"use strict";

const PLANNER_TEXT = {
  vi: {
    planner_title: "Quy hoạch trường lớp", page_title: "Quy hoạch trường lớp — schoolmap",
    to_school_map: "Bản đồ trường", lang_switch: "Switch to English",
    edition: "Bộ đơn vị", edition_current: "Đơn vị hiện hành",
    edition_current_named: (e) => `Đơn vị hiện hành (${e})`,
    edition_2025: "2025: phường, xã (2 cấp)", edition_2019: "2019: phường theo quận (điều tra)",
    grade_label: "Lớp", grade_1: "Lớp 1", grade_6: "Lớp 6", year_label: "Năm học",
    layer_label: "Tô màu theo", show: "Xem",
    layer_children_over_size: "Trẻ vượt sĩ số", layer_children: "Số trẻ vào lớp",
    layer_children_beyond_norm: "Trẻ ngoài định mức cự ly",
    years_note: (y) => `Dự báo được cho năm học ${y.first}–${y.last}: từ điều tra dân số ` +
      `${y.census_year} đến ${y.horizon_years} năm sau (trẻ vào lớp 1 năm ${y.last} sinh trước ` +
      "kỳ điều tra sau; xa hơn là số trẻ chưa ai đếm).",
    computing: "Đang tính…",
    status_line: (s) => `Đơn vị ${s.edition}; năm gốc dự báo ${s.forecast.base_year}; ` +
      `định mức cự ly ${numberText(s.norm_m)} m; sĩ số tối đa ${s.class_size}.`,
    shown_for: (grade, year) => `Lớp ${grade}, năm học ${year}–${year + 1}`,
    chart_heading: "Dự báo theo năm", whole_area: "Cả khu vực",
    chart_title_area: (grade) => `Trẻ vào lớp ${grade}: cả khu vực`,
    chart_title_unit: (grade, name) => `Trẻ vào lớp ${grade}: ${name}`,
    chart_x: "Năm học (năm bắt đầu)", chart_y: "Số trẻ",
    chart_line: "Dự báo", chart_band: "thấp (80 %)", chart_band_high: "cao (80 %)",
    chart_desc: (first, last, a, b) => `Dự báo từ năm học ${first} đến ${last}: từ ${a} ` +
      `đến ${b} trẻ. Vùng tô là khoảng dự báo 80 %.`,
    chart_note: "Đường là dự báo; vùng tô là khoảng dự báo 80 %: trong kiểm định quá khứ (dân " +
      "số phường năm 2019 dự báo từ số liệu 2014 và 2017), số thật rơi vào khoảng như thế ở 8 " +
      "trên 10 phường. Khoảng tính cho dân số của phường, chưa gồm sai số của số trẻ sinh " +
      "trong tương lai; tổng cả khu vực cộng các khoảng của phường nên rộng hơn thực tế.",
    chart_left_out: (n) => `${n} đơn vị không có số liệu không được cộng vào.`,
    interval_80: "khoảng dự báo 80 %",
    people_title: (name) => `Dân số: ${name}`, people_y: "Số người", people_line: "Dân số",
    people_desc: (first, last, a, b) => `Dân số dự báo đầu năm học ${first} là ${a} người, ` +
      `năm học ${last} là ${b} người; vùng tô là khoảng dự báo 80 %.`,
    classes_title: (grade, name) => `Lớp ${grade} cần và hiện có: ${name}`, classes_y: "Số lớp",
    classes_needed_line: "Lớp cần (dự báo)", classes_available_line: "Lớp hiện có",
    classes_desc: (grade, a, b, have) => `Số lớp ${grade} cần từ ${a} đến ${b} lớp qua các ` +
      `năm${have == null ? "" : `; hiện có ${have} lớp`}; vùng tô là khoảng dự báo 80 %.`,
    chart_no_figures: (name) => `${name}: không có số liệu dân số để dự báo.`,
    chart_table: "Số liệu của biểu đồ", chart_hint: "Bấm một phường, xã trên bản đồ hoặc " +
      "trong bảng (hoặc chọn hàng rồi nhấn Enter) để xem biểu đồ của đơn vị đó.",
    metrics_heading: "Toàn khu vực",
    wards_heading: "Phường, xã theo số trẻ vượt sĩ số",
    col_unit: "Phường, xã", col_children: "Trẻ", col_needed: "Lớp cần",
    col_over: "Vượt sĩ số", col_beyond: "Ngoài cự ly",
    row_label: (name) => `${name}: xem biểu đồ dự báo`,
    export_csv: "Tải bảng CSV", export_gpkg: "Tải GeoPackage",
    export_note: "Số liệu theo phường, xã của lựa chọn đang xem; CSV mở được bằng Excel, " +
      "GeoPackage mở bằng QGIS (ranh giới, EPSG:4326).",
    uncounted_heading: "Đơn vị không có số liệu điều tra dân số 2019",
    coverage_none: (n) => `${n} đơn vị không có số liệu điều tra dân số 2019`,
    coverage_reported: (n) => `${n} đơn vị dùng số trẻ tự báo cáo`,
    coverage_partial: (n) => `${n} đơn vị chỉ có số liệu điều tra một phần`,
    metric: {
      children: ["Trẻ vào lớp", "Trẻ dự báo vào lớp trong năm học, cộng mọi phường, xã có số liệu."],
      classes_available: ["Lớp hiện có", "Số lớp của khối ở các trường (cùng lớp thêm và trường " +
        "mới của kịch bản)."],
      classes_needed: ["Lớp cần", "Số lớp cần để học đủ sĩ số tối đa ở trường trẻ được xếp vào."],
      classes_short: ["Lớp thiếu", "Lớp cần mà trường chưa có: số lớp phải mở thêm."],
      classes_over_size: ["Lớp vượt sĩ số", "Lớp sẽ vượt sĩ số tối đa nếu không mở thêm lớp."],
      children_over_size: ["Trẻ vượt sĩ số", "Trẻ không còn chỗ trong sĩ số tối đa ở trường " +
        "trong định mức cự ly."],
      children_beyond_norm: ["Trẻ ngoài định mức cự ly", "Trẻ phải học xa nhà hơn định mức " +
        "(tiểu học 4 km, THCS 7 km theo đường đi)."],
      mean_m: ["Quãng đường trung bình (m)", "Quãng đường trung bình theo đường đi từ nơi ở đến " +
        "trường được xếp."],
      p90_m: ["Quãng đường P90 (m)", "9 trên 10 trẻ đi không quá quãng đường này."],
    },
    legend_title: (layer) => `${layer} (trẻ)`, legend_no_census: "Không có số liệu điều tra 2019",
    legend_school_ok: "Trường đủ lớp", legend_school_short: "Trường thiếu lớp (to hơn: thiếu nhiều hơn)",
    legend_site: "Địa điểm trường mới đề xuất", legend_selected: "Đơn vị đang xem",
    legend_keys: "Ký hiệu",
    popup_children: "Trẻ", popup_needed: "Lớp cần", popup_over: "Vượt sĩ số",
    popup_beyond: "Ngoài cự ly", popup_in_unit: "Lớp hiện có trong đơn vị",
    popup_classes: "Lớp", popup_assumed: "(giả định)", popup_short: "Thiếu",
    tools_heading: "Kịch bản và địa điểm trường mới",
    zones_heading: "Vùng tuyển năm tới",
    zones_none: (grade) => `Chưa công bố vùng tuyển lớp ${grade}.`,
    zones_make: (grade, year) => `Tính và công bố vùng tuyển lớp ${grade} năm học ${year}–${year + 1}`,
    zones_making: "Đang tính vùng tuyển…",
    zones_made: (year) => `Đã công bố vùng tuyển năm học ${year}; phụ huynh thấy khả năng được ` +
      "nhận của từng trường gần nhà trên bản đồ trường.",
    zones_summary: (year, n, full, unplaced, noRoad) => `Năm học ${year}: ${n} trường, ${full} ` +
      `trường dự kiến hết chỗ; ${numberText(unplaced)} trẻ dự kiến chưa có chỗ` + (noRoad
        ? ` (${numberText(noRoad)} trẻ ở nơi bản đồ chưa có đường đến trường nào).` : "."),
    zones_show: "Hiện vùng tuyển trên bản đồ",
    zones_short_heading: (n) => `Trường có vùng tuyển không phủ hết phường, xã của mình: ${n}`,
    zones_short_line: (p) => `${p.name} (${p.unit_name || "?"}): phủ ${numberText(
      Math.round(p.unit_share * 100))} % đơn vị; nhận đến khoảng ${numberText(p.cutoff_m)} m` +
      ` (${numberText(p.cutoff_low_m)}–${p.cutoff_high_m == null ? "…" : numberText(
        p.cutoff_high_m)} m)`,
    zone_popup: (z) => `${numberText(z.seats)} chỗ, dự kiến ${numberText(z.expected)} trẻ; ` +
      `nhận trẻ ở cách đến khoảng ${numberText(z.cutoff)} m (${numberText(z.low)}–${z.high == null
        ? "…" : numberText(z.high)} m); vùng phủ ${numberText(Math.round(z.share * 100))} % ` +
      `${z.unit || "đơn vị của trường"}.`,
    legend_zone: "Vùng tuyển dự kiến của trường",
    legend_zone_short: "Vùng tuyển không phủ hết phường, xã của trường",
    planner_needed: "Lưu, so sánh kịch bản và đề xuất địa điểm trường mới cần tài khoản cán bộ " +
      "quy hoạch (hoặc quản trị Sở GD&ĐT). Bản đồ, biểu đồ và bảng ở trên ai cũng xem được.",
    not_planner: (name, role) => `Tài khoản ${name} (${role}) không có quyền quy hoạch: lưu, so ` +
      "sánh kịch bản và đề xuất địa điểm cần tài khoản cán bộ quy hoạch hoặc quản trị Sở " +
      "GD&ĐT. Hãy đăng xuất rồi đăng nhập bằng tài khoản đó.",
    signed_out: "Chưa đăng nhập", sign_in_link: "Đăng nhập",
    scenario_name: "Tên kịch bản", save_scenario: "Lưu kịch bản",
    scenario_with_sites: (n) => `Kèm ${n} địa điểm đề xuất`,
    scenario_saved: (name) => `Đã lưu kịch bản “${name}”.`,
    scenario_settings: (s) => `Lớp ${s.grade}, năm học ${s.school_year}–${s.school_year + 1}, ` +
      `đơn vị ${s.edition}`,
    saved_heading: "Kịch bản đã lưu", no_scenarios: "Chưa có kịch bản nào.",
    scenario_sites: (n) => `${n} trường mới`, scenario_by: (who, when) => `${who}, ${when}`,
    choose_scenario: (name) => `Chọn ${name} để so sánh`,
    compare: "So sánh", compare_pick: "Chọn từ 2 đến 6 kịch bản để so sánh.",
    comparing: "Đang tính các kịch bản…", compare_heading: "So sánh kịch bản",
    compare_caption: "Mỗi số tính lại từ số liệu hôm nay; dòng chữ nhỏ giải thích số đó.",
    sites_heading: "Đề xuất địa điểm trường mới", sites_k: "Số trường", sites_minutes: "Trong (phút)",
    propose: "Đề xuất", searching: "Đang tìm…",
    site_line: (s) => `${s.name}: ${numberText(s.children_served)} trẻ, trung bình ` +
      `${minutesText(s.mean_min)}`,
    sites_within: (m, a, b, all) => `Trong ${m} phút: ${numberText(a)} → ${numberText(b)} / ` +
      `${numberText(all)} trẻ`,
    sites_left_out: (n, names) => `${n} đơn vị chưa tính, không có số liệu: ${names}`,
    privacy: "Số liệu tổng hợp theo phường, xã; không hiển thị từng trẻ.",
    year_invalid: "Hãy nhập năm học (năm bắt đầu), ví dụ 2026.",
  },
  en: {
    planner_title: "School planning", page_title: "School planning — schoolmap",
    to_school_map: "School map", lang_switch: "Chuyển sang tiếng Việt",
    edition: "Unit edition", edition_current: "Current units",
    edition_current_named: (e) => `Current units (${e})`,
    edition_2025: "2025: communes and wards (2 tiers)", edition_2019: "2019: census wards by district",
    grade_label: "Grade", grade_1: "Grade 1", grade_6: "Grade 6", year_label: "School year",
    layer_label: "Colour by", show: "Show",
    layer_children_over_size: "Children over class size", layer_children: "Entrants",
    layer_children_beyond_norm: "Children beyond the distance norm",
    years_note: (y) => `Forecasts cover school years ${y.first}-${y.last}: from the ` +
      `${y.census_year} census to ${y.horizon_years} years after it (grade-1 entrants of ` +
      `${y.last} are born by the next census; further out are children nobody has counted).`,
    computing: "Computing…",
    status_line: (s) => `Units of ${s.edition}; forecast base year ${s.forecast.base_year}; ` +
      `distance norm ${numberText(s.norm_m)} m; class size ${s.class_size}.`,
    shown_for: (grade, year) => `Grade ${grade}, school year ${year}-${year + 1}`,
    chart_heading: "Forecast by year", whole_area: "Whole area",
    chart_title_area: (grade) => `Grade-${grade} entrants: whole area`,
    chart_title_unit: (grade, name) => `Grade-${grade} entrants: ${name}`,
    chart_x: "School year (first year)", chart_y: "Children",
    chart_line: "Forecast", chart_band: "low (80 %)", chart_band_high: "high (80 %)",
    chart_desc: (first, last, a, b) => `Forecast from school year ${first} to ${last}: from ` +
      `${a} to ${b} children. The shaded band is the 80 % prediction interval.`,
    chart_note: "The line is the forecast; the band is its 80 % prediction interval: in the " +
      "backtest (wards' 2019 population forecast from what was known in 2014 and 2017) the " +
      "real count fell in such an interval for 8 wards in 10. It holds the error of the " +
      "ward's population, not that of births yet to come; the area's band adds the wards' " +
      "and is wider than the area's own.",
    chart_left_out: (n) => `${n} units without figures are not added in.`,
    interval_80: "80 % prediction interval",
    people_title: (name) => `Population: ${name}`, people_y: "People", people_line: "Population",
    people_desc: (first, last, a, b) => `Population forecast when school year ${first} opens: ` +
      `${a}; ${last}: ${b}. The band is the 80 % prediction interval.`,
    classes_title: (grade, name) => `Grade-${grade} classes needed and available: ${name}`,
    classes_y: "Classes", classes_needed_line: "Classes needed (forecast)",
    classes_available_line: "Classes available",
    classes_desc: (grade, a, b, have) => `Grade-${grade} classes needed go from ${a} to ${b} ` +
      `over the years${have == null ? "" : `; ${have} available`}. The band is the 80 % ` +
      "prediction interval.",
    chart_no_figures: (name) => `${name}: no population figures to forecast from.`,
    chart_table: "The chart's figures", chart_hint: "Select a ward or commune on the map or in " +
      "the table (or focus its row and press Enter) to chart it.",
    metrics_heading: "Whole area",
    wards_heading: "Wards and communes by children over class size",
    col_unit: "Ward, commune", col_children: "Children", col_needed: "Classes needed",
    col_over: "Over size", col_beyond: "Beyond norm",
    row_label: (name) => `${name}: show its forecast chart`,
    export_csv: "Download CSV", export_gpkg: "Download GeoPackage",
    export_note: "Figures per ward or commune of the choice shown; the CSV opens in Excel, the " +
      "GeoPackage in QGIS (outlines, EPSG:4326).",
    uncounted_heading: "Units with no 2019 census figures",
    coverage_none: (n) => `${n} units with no 2019 census figures`,
    coverage_reported: (n) => `${n} units counted from their own report`,
    coverage_partial: (n) => `${n} units the census covers in part`,
    metric: {
      children: ["Entrants", "Children forecast to enter in the school year, over every unit " +
        "with figures."],
      classes_available: ["Classes available", "Classes of the grade at the schools (with the " +
        "scenario's added classes and new schools)."],
      classes_needed: ["Classes needed", "Classes needed at the legal class size in the schools " +
        "the children are placed in."],
      classes_short: ["Classes short", "Classes needed that the schools do not have: classes " +
        "to open."],
      classes_over_size: ["Classes over size", "Classes over the legal size unless more are " +
        "opened."],
      children_over_size: ["Children over size", "Children with no seat within the legal class " +
        "size at a school within the distance norm."],
      children_beyond_norm: ["Children beyond the norm", "Children placed further than the " +
        "norm (primary 4 km, lower secondary 7 km by road)."],
      mean_m: ["Mean distance (m)", "Mean road distance from home to the school placed in."],
      p90_m: ["P90 distance (m)", "Nine children in ten travel no further than this."],
    },
    legend_title: (layer) => `${layer} (children)`, legend_no_census: "No 2019 census figures",
    legend_school_ok: "School with enough classes",
    legend_school_short: "School short of classes (larger: more short)",
    legend_site: "Proposed new school site", legend_selected: "Unit charted",
    legend_keys: "Symbols",
    popup_children: "Children", popup_needed: "Classes needed", popup_over: "Over size",
    popup_beyond: "Beyond norm", popup_in_unit: "Classes in the unit",
    popup_classes: "Classes", popup_assumed: "(assumed)", popup_short: "Short",
    tools_heading: "Scenarios and new school sites",
    zones_heading: "Next year's school zones",
    zones_none: (grade) => `No school zones published for grade ${grade}.`,
    zones_make: (grade, year) => `Make and publish the grade-${grade} zones for ${year}–${year + 1}`,
    zones_making: "Making the zones…",
    zones_made: (year) => `Zones for ${year} published; parents see each nearby school's ` +
      "chance on the school map.",
    zones_summary: (year, n, full, unplaced, noRoad) => `${year}: ${n} schools, ${full} ` +
      `expected to fill; ${numberText(unplaced)} children expected without a seat` + (noRoad
        ? ` (${numberText(noRoad)} where the map has no road to any school).` : "."),
    zones_show: "Show the zones on the map",
    zones_short_heading: (n) => `Schools whose zone leaves part of their own unit out: ${n}`,
    zones_short_line: (p) => `${p.name} (${p.unit_name || "?"}): ${numberText(
      Math.round(p.unit_share * 100))} % of the unit; admits to about ${numberText(p.cutoff_m)} m` +
      ` (${numberText(p.cutoff_low_m)}–${p.cutoff_high_m == null ? "…" : numberText(
        p.cutoff_high_m)} m)`,
    zone_popup: (z) => `${numberText(z.seats)} seats, ${numberText(z.expected)} children ` +
      `expected; admits children up to about ${numberText(z.cutoff)} m away (${numberText(
        z.low)}–${z.high == null ? "…" : numberText(z.high)} m); the zone holds ${numberText(
        Math.round(z.share * 100))} % of ${z.unit || "the school's unit"}.`,
    legend_zone: "A school's expected zone",
    legend_zone_short: "A zone leaving part of its school's unit out",
    planner_needed: "Saving and comparing scenarios and proposing new school sites need a " +
      "planner's (or the education department's admin) account. The map, chart and tables " +
      "above are open to everyone.",
    not_planner: (name, role) => `The account ${name} (${role}) may not plan: saving and ` +
      "comparing scenarios and proposing sites need a planner's or the education department's " +
      "admin account. Sign out, then sign in with one.",
    signed_out: "Not signed in", sign_in_link: "Sign in",
    scenario_name: "Scenario name", save_scenario: "Save scenario",
    scenario_with_sites: (n) => `With the ${n} proposed sites`,
    scenario_saved: (name) => `Scenario “${name}” saved.`,
    scenario_settings: (s) => `Grade ${s.grade}, school year ${s.school_year}-` +
      `${s.school_year + 1}, units of ${s.edition}`,
    saved_heading: "Saved scenarios", no_scenarios: "No scenario yet.",
    scenario_sites: (n) => (n === 1 ? "1 new school" : `${n} new schools`), scenario_by: (who, when) => `${who}, ${when}`,
    choose_scenario: (name) => `Pick ${name} to compare`,
    compare: "Compare", compare_pick: "Pick 2 to 6 scenarios to compare.",
    comparing: "Computing the scenarios…", compare_heading: "Scenarios compared",
    compare_caption: "Each figure is computed afresh from today's data; the small line says " +
      "what it is.",
    sites_heading: "Propose new school sites", sites_k: "Schools", sites_minutes: "Within (min)",
    propose: "Propose", searching: "Searching…",
    site_line: (s) => `${s.name}: ${numberText(s.children_served)} children, mean ` +
      `${minutesText(s.mean_min)}`,
    sites_within: (m, a, b, all) => `Within ${m} min: ${numberText(a)} → ${numberText(b)} of ` +
      `${numberText(all)} children`,
    sites_left_out: (n, names) => `${n} units left out, without figures: ${names}`,
    privacy: "Figures are per ward or commune; no child is shown.",
    year_invalid: "Type a school year (its first year), e.g. 2026.",
  },
};
Object.assign(TEXT.vi, PLANNER_TEXT.vi);
Object.assign(TEXT.en, PLANNER_TEXT.en);
