"use strict";
// The IOC's and the province's dashboard (/dashboard): the four reports of a unit for a
// period (QR deployment, screening at the checkpoints, epidemiology, flags) drawn as SVG
// charts made here, each with its numbers in a table, its CSV to download, and the whole
// read again every 30 s and when the unit's stream says something changed. No framework,
// no CDN, no chart library; data goes in as text only.

const T = {
  vi: {
    page_title: "Bảng điều khiển — dichte", title: "Bảng điều khiển", loading: "Đang tải…",
    login_title: "Đăng nhập cán bộ", token_label: "Mã nhân viên (staff token)", open: "Mở bảng điều khiển",
    token_needed: "Nhập mã nhân viên.", signout: "Đổi mã nhân viên", live: "Đang cập nhật trực tiếp",
    reconnecting: "Mất kết nối, đang kết nối lại…", network: "Lỗi mạng, đang thử lại…",
    period: "Thời gian", from: "Từ ngày", to: "Đến ngày", apply: "Xem", updated: "Số liệu lúc",
    refreshed: "Đã cập nhật số liệu.", data_table: "Bảng số liệu", csv_rows: "Tải CSV",
    csv_daily: "Tải CSV theo ngày", no_data: "Chưa có số liệu trong thời gian này.",
    hidden_zero: "xã/phường có giá trị 0 không vẽ (xem bảng số liệu).", day: "Ngày",
    commune: "Xã/phường", unit: "Đơn vị", level: "Cấp", count: "Số lượng", latest: "ngày cuối",
    highest: "cao nhất", total: "tổng", none: "—",
    // QR deployment
    qr_title: "Triển khai mã QR tại địa điểm", qr_checkins_title: "Lượt quét mã theo xã/phường",
    qr_venues_title: "Địa điểm theo xã/phường", qr_daily_title: "Lượt quét mã mỗi ngày",
    checkins: "Lượt quét mã", venues: "Địa điểm", population: "Dân số",
    venues_registered: "Đã đăng ký", venues_active_7d: "Có quét trong 7 ngày",
    venues_never_scanned: "Chưa có lượt quét", venues_inspected: "Đã kiểm tra",
    venues_compliant: "Đạt (có áp phích)", checkins_per_day: "Lượt quét mỗi ngày",
    checkins_per_1000_per_day: "Lượt quét/1.000 dân/ngày",
    // screening
    screening_title: "Sàng lọc tại chốt kiểm soát", screening_chart_title: "Lượt qua chốt theo chốt",
    checkpoint: "Chốt", passages: "Lượt qua chốt", secondary: "Kiểm tra thêm", fevers: "Sốt",
    decision_time: "Thời gian ra quyết định", decision_ms_median: "trung vị", decision_ms_p95: "p95",
    no_checkpoint: "Không có chốt kiểm soát nào trong đơn vị này.",
    secondary_fever: "Kiểm tra thêm: sốt", secondary_no_reading: "Kiểm tra thêm: không đo được",
    secondary_no_declaration: "Kiểm tra thêm: chưa khai báo", secondary_declaration_expired: "Kiểm tra thêm: tờ khai hết hạn",
    secondary_qr_forged: "Kiểm tra thêm: QR giả", secondary_qr_face_mismatch: "Kiểm tra thêm: mặt không khớp QR",
    secondary_case_or_contact: "Kiểm tra thêm: ca bệnh/F1",
    // epidemiology
    epi_title: "Dịch tễ", epi_cases_title: "Ca bệnh, F1, F2 và người đang cách ly mỗi ngày",
    epi_follow_title: "Theo dõi F1: đã làm và cần làm mỗi ngày", epi_rows_title: "Theo xã/phường và ngày",
    new_cases: "Ca mới", f1: "F1 mới", f2: "F2 mới", under_quarantine: "Đang cách ly",
    follow_ups_due: "Lượt theo dõi cần làm", follow_ups_done: "Lượt theo dõi đã làm", people: "Số người",
    // flags
    flags_title: "Cảnh báo khai báo không trung thực", flags_chart_title: "Cảnh báo theo quy tắc và trạng thái",
    rule: "Quy tắc", status: "Trạng thái", flags: "Số cảnh báo",
  },
  en: {
    page_title: "Dashboard — dichte", title: "Dashboard", loading: "Loading…",
    login_title: "Staff sign-in", token_label: "Staff token", open: "Open the dashboard",
    token_needed: "Enter your staff token.", signout: "Change staff token", live: "Live",
    reconnecting: "Connection lost, reconnecting…", network: "Network error, retrying…",
    period: "Period", from: "From", to: "To", apply: "Show", updated: "Figures as of",
    refreshed: "Figures updated.", data_table: "Data table", csv_rows: "Download CSV",
    csv_daily: "Download CSV per day", no_data: "No figures in this period.",
    hidden_zero: "communes at 0 not drawn (see the data table).", day: "Day", commune: "Commune",
    unit: "Unit", level: "Level", count: "Count", latest: "last day", highest: "highest", total: "total",
    none: "—",
    qr_title: "QR codes at venues", qr_checkins_title: "Check-ins per commune",
    qr_venues_title: "Venues per commune", qr_daily_title: "Check-ins per day", checkins: "Check-ins",
    venues: "Venues", population: "Population", venues_registered: "Registered",
    venues_active_7d: "Scanned in the last 7 days", venues_never_scanned: "Never scanned",
    venues_inspected: "Inspected", venues_compliant: "Compliant (poster displayed)",
    checkins_per_day: "Check-ins per day", checkins_per_1000_per_day: "Check-ins per 1,000 people per day",
    screening_title: "Screening at checkpoints", screening_chart_title: "Passages per checkpoint",
    checkpoint: "Checkpoint", passages: "Passages", secondary: "Secondary screening", fevers: "Fevers",
    decision_time: "Decision time", decision_ms_median: "median", decision_ms_p95: "p95",
    no_checkpoint: "No checkpoint in this unit.", secondary_fever: "Secondary: fever",
    secondary_no_reading: "Secondary: no reading", secondary_no_declaration: "Secondary: no declaration",
    secondary_declaration_expired: "Secondary: declaration expired", secondary_qr_forged: "Secondary: forged QR",
    secondary_qr_face_mismatch: "Secondary: face does not match the QR",
    secondary_case_or_contact: "Secondary: case or contact",
    epi_title: "Epidemiology", epi_cases_title: "Cases, F1, F2 and people in quarantine per day",
    epi_follow_title: "F1 follow-ups done and due per day", epi_rows_title: "Per commune and day",
    new_cases: "New cases", f1: "New F1", f2: "New F2", under_quarantine: "In quarantine",
    follow_ups_due: "Follow-ups due", follow_ups_done: "Follow-ups done", people: "People",
    flags_title: "Dishonest declaration flags", flags_chart_title: "Flags by rule and status",
    rule: "Rule", status: "Status", flags: "Flags",
  },
};

const WORDS = {
  undeclared_travel: { vi: "Đi lại không khai báo", en: "Undeclared travel" },
  undeclared_fever: { vi: "Sốt không khai báo", en: "Undeclared fever" },
  undeclared_contact: { vi: "Tiếp xúc không khai báo", en: "Undeclared contact" },
  borrowed_qr: { vi: "Dùng QR của người khác", en: "Borrowed QR code" },
  open: { vi: "Mới", en: "Open" },
  confirmed: { vi: "Đã xác nhận", en: "Confirmed" },
  dismissed: { vi: "Đã bỏ qua", en: "Dismissed" },
  referred: { vi: "Đã chuyển xử lý", en: "Referred" },
  commune: { vi: "xã/phường", en: "commune" },
  centre: { vi: "trung tâm y tế", en: "health centre" },
  province: { vi: "tỉnh", en: "province" },
};

const KINDS = ["qr-deployment", "screening", "epidemiology", "flags"];
const REFRESH_MS = 30_000;   // read again this often
const STREAM_GAP_MS = 5_000; // at most one reload per this much when the stream speaks
const VN = "Asia/Ho_Chi_Minh";
// Series colours, each also drawn its own way (dash pattern) and named in a legend.
const COLOURS = ["#0b6e4f", "#b35c00", "#1f5fa8", "#8e2c8a", "#b00020", "#5c5c5c"];
const DASHES = ["", "6 3", "2 3", "8 3 2 3"];

const $ = (id) => document.getElementById(id);
const asked = new URLSearchParams(location.search).get("unit");

let unit = asked;           // the reports' unit (the token's own unless the address names one)
let unitName = "";
let reports = null;         // kind -> the API's answer
let period = null;          // {from, to}: the period shown (the inputs may hold another, not yet asked)
let periodErrors = null;    // the API's refusal of the period asked, shown under it
let loading = false;        // a read of the four reports is under way
let again = null;           // a period to read once the read under way is done
let queued = null;          // the period the waiting reload reads (null: the one shown)
let lastRead = 0;
let pending = null;         // the stream's reload, waiting for its turn
let ticker = null;          // the 30 s refresh
let streamState = null;     // what the stream last said of the connection
const opened = new Set();   // data tables a person opened: kept open over a refresh

const page = staffPage({
  prefix: "dash",
  words: T,
  start,
  render,
  signedOut: () => {
    reports = null;
    unit = asked;
    clearInterval(ticker);
    clearTimeout(pending);
    pending = null;
    queued = null;
  },
});
const t = page.t;
const word = (code) => (WORDS[code] ? WORDS[code][page.lang] : code);
const locale = () => (page.lang === "en" ? "en-GB" : "vi-VN");
const fmt = (v) => (v === null || v === undefined ? t("none") : Number(v).toLocaleString(locale(), { maximumFractionDigits: 2 }));

// --- the period ----------------------------------------------------------------------------

const todayInVietnam = () => new Date().toLocaleDateString("en-CA", { timeZone: VN });
function daysBefore(iso, n) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}
function shortDay(iso) {
  const [, m, d] = iso.split("-");
  return `${d}/${m}`;
}
function longDay(iso) {
  const [y, m, d] = iso.split("-");
  return `${d}/${m}/${y}`;
}

function reportPath(kind, extra = {}, asked = period) {
  const query = new URLSearchParams({ ...(unit ? { unit } : {}), from: asked.from, to: asked.to, ...extra });
  return `/api/v1/reports/${kind}?${query}`;
}

// --- SVG made here --------------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  Object.entries(attrs).forEach(([k, v]) => { if (v !== null && v !== undefined) node.setAttribute(k, String(v)); });
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// What a number on the page is: its report, which part (rows or daily), which row (key)
// and which figure (series); the number itself in data-value.
function marks(report, part, key, series, value) {
  return { "data-report": report, "data-part": part, "data-key": key, "data-series": series, "data-value": value };
}

// Axis steps of 1, 2 or 5 × 10ⁿ, about four of them, from 0 past the largest value.
function ticks(max) {
  if (!(max > 0)) return [0, 1];
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw));
  const out = [];
  for (let v = 0; v < max + step; v += step) out.push(v);
  return out;
}

const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function legend(series, line) {
  return el("ul", { className: "dash-legend" }, ...series.map((s, i) => el("li", {},
    line
      ? svg("svg", { class: "dash-key", viewBox: "0 0 24 10", width: 24, height: 10, "aria-hidden": "true" },
        svg("line", { x1: 0, y1: 5, x2: 24, y2: 5, stroke: COLOURS[i], "stroke-width": 2.5, "stroke-dasharray": DASHES[i] || null }))
      : svg("svg", { class: "dash-key", viewBox: "0 0 12 12", width: 12, height: 12, "aria-hidden": "true" },
        svg("rect", { x: 0, y: 0, width: 12, height: 12, fill: COLOURS[i] })),
    s.label)));
}

// Drawn at its own size; a narrower screen shrinks it a little, then scrolls it sideways.
function frame(id, title, summary, width, height) {
  return svg("svg", {
    class: "dash-svg", role: "img", viewBox: `0 0 ${width} ${height}`, width, height,
    "aria-labelledby": `${id}_t ${id}_d`,
    "data-chart": id,
  }, svg("title", { id: `${id}_t` }, title), svg("desc", { id: `${id}_d` }, summary));
}

// Horizontal bars: a group per category (one bar per series), the value at each bar's
// end. categories: [{key, label, values: {series: number}}]; series: [{key, label}].
function barChart({ id, title, xLabel, yLabel, categories, series, report, part, summary }) {
  const W = 640; const LEFT = 190; const RIGHT = 48; const TOP = 8; const BOTTOM = 44;
  const barH = series.length > 1 ? 12 : 18;
  const groupH = series.length * barH + 10;
  const plotW = W - LEFT - RIGHT;
  const plotH = Math.max(96, categories.length * groupH);  // room for the axis's name
  const H = TOP + plotH + BOTTOM;
  const max = Math.max(0, ...categories.flatMap((c) => series.map((s) => Number(c.values[s.key]) || 0)));
  const steps = ticks(max);
  const top = steps[steps.length - 1];
  const x = (v) => LEFT + (Math.max(0, v) / top) * plotW;
  const chart = frame(id, title, summary, W, H);
  steps.forEach((s) => {
    chart.append(
      svg("line", { x1: x(s), x2: x(s), y1: TOP, y2: TOP + plotH, class: "dash-grid" }),
      svg("text", { x: x(s), y: TOP + plotH + 14, "text-anchor": "middle", class: "dash-tick" }, fmt(s)));
  });
  chart.append(
    svg("line", { x1: LEFT, x2: LEFT, y1: TOP, y2: TOP + plotH, class: "dash-axis" }),
    svg("line", { x1: LEFT, x2: LEFT + plotW, y1: TOP + plotH, y2: TOP + plotH, class: "dash-axis" }),
    svg("text", { x: LEFT + plotW / 2, y: H - 6, "text-anchor": "middle", class: "dash-label" }, xLabel),
    svg("text", { x: 12, y: TOP + plotH / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${TOP + plotH / 2})`, class: "dash-label" }, yLabel));
  if (!categories.length) {
    chart.append(svg("text", { x: LEFT + plotW / 2, y: TOP + plotH / 2 + 4, "text-anchor": "middle", class: "dash-tick" }, t("no_data")));
  }
  categories.forEach((c, i) => {
    const y0 = TOP + i * groupH + 5;
    chart.append(svg("text", { x: LEFT - 8, y: y0 + (series.length * barH) / 2 + 4, "text-anchor": "end", class: "dash-cat" },
      svg("title", {}, c.label), clip(c.label, 30)));
    series.forEach((s, j) => {
      const v = Number(c.values[s.key]) || 0;
      const y = y0 + j * barH;
      const said = `${c.label} — ${s.label}: ${fmt(v)}`;
      chart.append(svg("rect", {
        x: LEFT, y, width: Math.max(0, x(v) - LEFT), height: barH - 2, fill: COLOURS[j], class: "dash-bar",
        ...marks(report, part, c.key, s.key, c.values[s.key]),
      }, svg("title", {}, said)));
      // Each bar's number at its end (a group's zeros are left to the table: no bar, no clutter).
      if (v || series.length === 1) {
        chart.append(svg("text", {
          x: x(v) + 4, y: y + barH - 3, class: "dash-value", ...marks(report, part, c.key, s.key, c.values[s.key]),
        }, fmt(v)));
      }
    });
  });
  return chart;
}

// Lines per day: days is the rows' order; each point carries its number.
function lineChart({ id, title, yLabel, days, series, report, part, summary }) {
  const W = 640; const H = 260; const LEFT = 56; const RIGHT = 20; const TOP = 10; const BOTTOM = 48;
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  const n = days.length;
  const max = Math.max(0, ...days.flatMap((d) => series.map((s) => Number(d.values[s.key]) || 0)));
  const steps = ticks(max);
  const top = steps[steps.length - 1];
  const x = (i) => LEFT + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v) => TOP + plotH - (Math.max(0, v) / top) * plotH;
  const chart = frame(id, title, summary, W, H);
  steps.forEach((s) => {
    chart.append(
      svg("line", { x1: LEFT, x2: LEFT + plotW, y1: y(s), y2: y(s), class: "dash-grid" }),
      svg("text", { x: LEFT - 6, y: y(s) + 4, "text-anchor": "end", class: "dash-tick" }, fmt(s)));
  });
  const every = Math.max(1, Math.ceil(n / 8));
  days.forEach((d, i) => {
    if ((i % every === 0 && n - 1 - i >= every / 2) || i === n - 1) {  // the last day always
      chart.append(svg("text", { x: x(i), y: TOP + plotH + 14, "text-anchor": "middle", class: "dash-tick" }, shortDay(d.key)));
    }
  });
  chart.append(
    svg("line", { x1: LEFT, x2: LEFT, y1: TOP, y2: TOP + plotH, class: "dash-axis" }),
    svg("line", { x1: LEFT, x2: LEFT + plotW, y1: TOP + plotH, y2: TOP + plotH, class: "dash-axis" }),
    svg("text", { x: LEFT + plotW / 2, y: H - 6, "text-anchor": "middle", class: "dash-label" }, t("day")),
    svg("text", { x: 14, y: TOP + plotH / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${TOP + plotH / 2})`, class: "dash-label" }, yLabel));
  series.forEach((s, j) => {
    const points = days.map((d, i) => `${x(i).toFixed(1)},${y(Number(d.values[s.key]) || 0).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", {
      points, fill: "none", stroke: COLOURS[j], "stroke-width": 2, "stroke-dasharray": DASHES[j] || null, class: "dash-line",
    }));
    days.forEach((d, i) => {
      const v = d.values[s.key];
      chart.append(svg("circle", {
        cx: x(i), cy: y(Number(v) || 0), r: 2.6, fill: COLOURS[j], class: "dash-point", ...marks(report, part, d.key, s.key, v),
      }, svg("title", {}, `${longDay(d.key)} — ${s.label}: ${fmt(v)}`)));
    });
  });
  return chart;
}

function lineSummary(title, days, series) {
  if (!days.length) return `${title}: ${t("no_data")}`;
  const last = days[days.length - 1];
  return `${title}, ${longDay(days[0].key)}–${longDay(last.key)}. ` + series.map((s) => {
    const values = days.map((d) => Number(d.values[s.key]) || 0);
    return `${s.label}: ${t("latest")} ${fmt(last.values[s.key])}, ${t("highest")} ${fmt(Math.max(...values))}, ${t("total")} ${fmt(values.reduce((a, b) => a + b, 0))}`;
  }).join("; ") + ".";
}

function barSummary(title, categories, series) {
  if (!categories.length) return `${title}: ${t("no_data")}`;
  return `${title}. ` + series.map((s) => {
    const total = categories.reduce((a, c) => a + (Number(c.values[s.key]) || 0), 0);
    const most = categories.reduce((a, c) => ((Number(c.values[s.key]) || 0) > (Number(a.values[s.key]) || 0) ? c : a));
    return `${s.label}: ${t("total")} ${fmt(total)}, ${t("highest")} ${most.label} ${fmt(most.values[s.key])}`;
  }).join("; ") + ".";
}

// The numbers of a chart as a table, folded away until opened.
// columns: [{key, label, numeric}]; rows: [{key, cells: {column: value}}].
function dataTable({ id, caption, columns, rows, report, part }) {
  const details = el("details", { className: "dash-table", open: opened.has(id) },
    el("summary", {}, `${t("data_table")}: ${caption}`),
    el("div", { className: "dash-scroll", role: "group", "aria-label": caption },
      el("table", {},
        el("caption", { className: "lane-sr" }, caption),
        el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col" }, c.label)))),
        el("tbody", {}, ...rows.map((r) => el("tr", {}, ...columns.map((c, i) => {
          const v = r.cells[c.key];
          if (!c.numeric) return el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {}, v === null || v === undefined ? t("none") : String(v));
          return el("td", { className: "dash-num", ...(v === null || v === undefined ? {} : marks(report, part, r.key, c.key, v)) }, fmt(v));
        })))))));
  details.addEventListener("toggle", () => { if (details.open) opened.add(id); else opened.delete(id); });
  return details;
}

function figure(id, title, chart, legendNode, notes = []) {
  return el("figure", { className: "dash-figure", dataset: { figure: id } },
    el("figcaption", { className: "dash-caption" }, title),
    legendNode,
    el("div", { className: "dash-scroll", role: "group", "aria-label": title }, chart),
    ...notes);
}

function csvLinks(kind, parts) {
  return el("p", { className: "dash-downloads" }, ...parts.map((part) => {
    const link = el("a", {
      href: reportPath(kind, { format: "csv", ...(part === "daily" ? { part: "daily" } : {}) }),
      className: "button secondary dash-csv", download: `${kind}-${part}.csv`, dataset: { report: kind, part },
    }, part === "daily" ? t("csv_daily") : t("csv_rows"));
    link.addEventListener("click", download);
    return link;
  }));
}

// A plain link cannot send the token: read the CSV with it and save it from memory.
async function download(event) {
  event.preventDefault();
  const link = event.currentTarget;
  let res;
  try {
    res = await page.api(link.getAttribute("href"));
  } catch (_) {
    page.setConnection("network");
    return;
  }
  if (res.status === 401) { await page.refused(res); return; }
  if (!res.ok) { page.showError(await errorsOf(res), "page"); return; }
  const said = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
  const url = URL.createObjectURL(await res.blob());
  const save = el("a", { href: url, download: said ? said[1] : link.getAttribute("download"), hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function section(kind, title, ...children) {
  return el("section", { className: "dash-section", dataset: { report: kind }, "aria-labelledby": `sec_${kind}` },
    el("h2", { id: `sec_${kind}`, className: "dash-section-title" }, title),
    ...children);
}

// --- the four reports ------------------------------------------------------------------------

function qrSection(r) {
  const K = "qr-deployment";
  const scope = r.rows.find((x) => x.unit === r.unit) || r.rows[r.rows.length - 1];
  const communes = r.rows.filter((x) => x.level === "commune");
  const drawn = (keys) => communes
    .filter((c) => keys.some((k) => c[k]))
    .sort((a, b) => (b[keys[0]] - a[keys[0]]) || a.unit.localeCompare(b.unit))
    .map((c) => ({ key: c.unit, label: c.name, values: c }));
  const hidden = (list) => (communes.length > list.length
    ? [el("p", { className: "small dash-note" }, `${fmt(communes.length - list.length)} ${t("hidden_zero")}`)] : []);
  const checkinSeries = [{ key: "checkins", label: t("checkins") }];
  const venueSeries = ["venues_registered", "venues_active_7d", "venues_compliant"].map((k) => ({ key: k, label: t(k) }));
  const byCheckins = drawn(["checkins"]);
  const byVenues = drawn(["venues_registered", "venues_active_7d", "venues_compliant"]);
  const days = r.daily.filter((d) => d.unit === r.unit).map((d) => ({ key: d.day, values: d }));
  const facts = ["venues_registered", "venues_active_7d", "venues_never_scanned", "venues_inspected",
    "venues_compliant", "checkins", "checkins_per_day", "checkins_per_1000_per_day", "population"];
  return section(K, t("qr_title"),
    scope ? el("dl", { className: "dash-facts" }, ...facts.map((k) => el("div", { className: "dash-fact" },
      el("dt", {}, t(k)),
      el("dd", scope[k] === null || scope[k] === undefined ? {} : marks(K, "rows", scope.unit, k, scope[k]), fmt(scope[k]))))) : null,
    el("div", { className: "dash-grid-2" },
      figure("qr_checkins", t("qr_checkins_title"), barChart({
        id: "qr_checkins", title: t("qr_checkins_title"), xLabel: t("checkins"), yLabel: t("commune"),
        categories: byCheckins, series: checkinSeries, report: K, part: "rows",
        summary: barSummary(t("qr_checkins_title"), byCheckins, checkinSeries),
      }), null, hidden(byCheckins)),
      figure("qr_venues", t("qr_venues_title"), barChart({
        id: "qr_venues", title: t("qr_venues_title"), xLabel: t("venues"), yLabel: t("commune"),
        categories: byVenues, series: venueSeries, report: K, part: "rows",
        summary: barSummary(t("qr_venues_title"), byVenues, venueSeries),
      }), legend(venueSeries, false), hidden(byVenues))),
    figure("qr_daily", t("qr_daily_title"), lineChart({
      id: "qr_daily", title: t("qr_daily_title"), yLabel: t("checkins"), days, series: checkinSeries,
      report: K, part: "daily", summary: lineSummary(t("qr_daily_title"), days, checkinSeries),
    }), null),
    dataTable({
      id: "qr_rows", caption: t("qr_title"), report: K, part: "rows",
      columns: [{ key: "name", label: t("unit") }, { key: "level", label: t("level") },
        ...facts.map((k) => ({ key: k, label: t(k), numeric: true }))],
      rows: r.rows.map((x) => ({ key: x.unit, cells: { ...x, level: word(x.level) } })),
    }),
    csvLinks(K, ["rows", "daily"]));
}

function screeningSection(r) {
  const K = "screening";
  const series = ["passages", "secondary", "fevers"].map((k) => ({ key: k, label: t(k) }));
  const categories = r.rows.map((x) => ({ key: x.checkpoint_id, label: x.name, values: x }));
  const reasons = Object.keys(r.rows[0] || {}).filter((k) => k.startsWith("secondary_"));
  const times = el("ul", { className: "dash-times" }, ...r.rows.map((x) => el("li", {},
    `${x.name} — ${t("decision_time")}: ${t("decision_ms_median")} `,
    el("span", x.decision_ms_median === null ? {} : marks(K, "rows", x.checkpoint_id, "decision_ms_median", x.decision_ms_median), `${fmt(x.decision_ms_median)} ms`),
    `, ${t("decision_ms_p95")} `,
    el("span", x.decision_ms_p95 === null ? {} : marks(K, "rows", x.checkpoint_id, "decision_ms_p95", x.decision_ms_p95), `${fmt(x.decision_ms_p95)} ms`))));
  return section(K, t("screening_title"),
    r.rows.length ? null : el("p", { className: "small" }, t("no_checkpoint")),
    figure("screening_checkpoints", t("screening_chart_title"), barChart({
      id: "screening_checkpoints", title: t("screening_chart_title"), xLabel: t("passages"), yLabel: t("checkpoint"),
      categories, series, report: K, part: "rows", summary: barSummary(t("screening_chart_title"), categories, series),
    }), legend(series, false), [times]),
    dataTable({
      id: "screening_rows", caption: t("screening_title"), report: K, part: "rows",
      columns: [{ key: "name", label: t("checkpoint") },
        ...["passages", "secondary", "fevers", ...reasons, "decision_ms_median", "decision_ms_p95"]
          .map((k) => ({ key: k, label: k.startsWith("decision") ? `${t("decision_time")}: ${t(k)} (ms)` : t(k), numeric: true }))],
      rows: r.rows.map((x) => ({ key: x.checkpoint_id, cells: x })),
    }),
    csvLinks(K, ["rows", "daily"]));
}

function epidemiologySection(r) {
  const K = "epidemiology";
  const days = r.daily.map((d) => ({ key: d.day, values: d }));
  const cases = ["new_cases", "f1", "f2", "under_quarantine"].map((k) => ({ key: k, label: t(k) }));
  const follow = ["follow_ups_done", "follow_ups_due"].map((k) => ({ key: k, label: t(k) }));
  const all = [...cases, ...follow];
  return section(K, t("epi_title"),
    el("div", { className: "dash-grid-2" },
      figure("epi_cases", t("epi_cases_title"), lineChart({
        id: "epi_cases", title: t("epi_cases_title"), yLabel: t("people"), days, series: cases, report: K,
        part: "daily", summary: lineSummary(t("epi_cases_title"), days, cases),
      }), legend(cases, true)),
      figure("epi_follow", t("epi_follow_title"), lineChart({
        id: "epi_follow", title: t("epi_follow_title"), yLabel: t("count"), days, series: follow, report: K,
        part: "daily", summary: lineSummary(t("epi_follow_title"), days, follow),
      }), legend(follow, true))),
    dataTable({
      id: "epi_daily", caption: t("epi_title"), report: K, part: "daily",
      columns: [{ key: "day", label: t("day") }, ...all.map((s) => ({ key: s.key, label: s.label, numeric: true }))],
      rows: r.daily.map((d) => ({ key: d.day, cells: { ...d, day: longDay(d.day) } })),
    }),
    r.rows.length ? dataTable({
      id: "epi_rows", caption: t("epi_rows_title"), report: K, part: "rows",
      columns: [{ key: "name", label: t("commune") }, { key: "day", label: t("day") },
        ...all.map((s) => ({ key: s.key, label: s.label, numeric: true }))],
      rows: r.rows.map((x) => ({ key: `${x.unit}|${x.day}`, cells: { ...x, day: longDay(x.day) } })),
    }) : null,
    csvLinks(K, ["rows", "daily"]));
}

function flagsSection(r) {
  const K = "flags";
  const rules = [...new Set(r.rows.map((x) => x.rule))];
  const statuses = [...new Set(r.rows.map((x) => x.status))];
  const series = statuses.map((s) => ({ key: s, label: word(s) }));
  const count = (rule, status) => (r.rows.find((x) => x.rule === rule && x.status === status) || {}).flags;
  // One bar per rule and status; each bar is the row `rule|status` of the report.
  const chart = barChart({
    id: "flags_rules", title: t("flags_chart_title"), xLabel: t("flags"), yLabel: t("rule"),
    categories: rules.map((rule) => ({ key: rule, label: word(rule), values: Object.fromEntries(statuses.map((s) => [s, count(rule, s)])) })),
    series, report: K, part: "rows",
    summary: `${t("flags_chart_title")}. ` + rules.map((rule) => `${word(rule)}: ${statuses.map((s) => `${word(s)} ${fmt(count(rule, s))}`).join(", ")}`).join("; ") + ".",
  });
  chart.querySelectorAll("[data-key]").forEach((n) => {
    n.setAttribute("data-key", `${n.getAttribute("data-key")}|${n.getAttribute("data-series")}`);
    n.setAttribute("data-series", "flags");
  });
  return section(K, t("flags_title"),
    figure("flags_rules", t("flags_chart_title"), chart, legend(series, false)),
    dataTable({
      id: "flags_rows", caption: t("flags_title"), report: K, part: "rows",
      columns: [{ key: "rule", label: t("rule") }, { key: "status", label: t("status") },
        { key: "flags", label: t("flags"), numeric: true }],
      rows: r.rows.map((x) => ({ key: `${x.rule}|${x.status}`, cells: { ...x, rule: word(x.rule), status: word(x.status) } })),
    }),
    csvLinks(K, ["rows", "daily"]));
}

// --- rendering -------------------------------------------------------------------------------

function render() {
  page.renderFrame();
  const name = unitName || unit || "";
  $("dash_title").textContent = name ? `${t("title")} — ${name}` : t("title");
  document.title = name ? `${t("title")} — ${name} — dichte` : t("page_title");
  const periodError = $("dash_period_error");
  periodError.textContent = periodErrors
    ? periodErrors.map((e) => (page.lang === "en" ? e.message_en : e.message_vi) || e.code).join(" ") : "";
  ["from", "to"].forEach((f) => {
    const bad = Boolean(periodErrors && periodErrors.some((e) => e.field === f));
    $("dash_period").querySelector(`.field[data-field="${f}"]`).classList.toggle("invalid", bad);
    if (bad) $(`dash_${f}`).setAttribute("aria-invalid", "true");
    else $(`dash_${f}`).removeAttribute("aria-invalid");
  });
  if (!reports) return;
  const first = reports[KINDS[0]];
  $("dash_updated").textContent = `${t("updated")} ${new Date(first.generated_at).toLocaleString(locale(), { timeZone: VN, hour12: false })} · ${longDay(first.from)}–${longDay(first.to)}`;
  $("dash_reports").replaceChildren(
    qrSection(reports["qr-deployment"]),
    screeningSection(reports.screening),
    epidemiologySection(reports.epidemiology),
    flagsSection(reports.flags));
  scrollable();
}

// A chart or a table wider than the screen scrolls sideways: then a keyboard can reach it.
function scrollable() {
  document.querySelectorAll(".dash-scroll").forEach((n) => {
    if (n.scrollWidth > n.clientWidth + 1) n.tabIndex = 0;
    else n.removeAttribute("tabindex");
  });
}

// --- the API ---------------------------------------------------------------------------------

const figures = (r) => JSON.stringify([r.unit, r.from, r.to, r.rows, r.daily]);

// Reads the four reports again (for `wanted`, a period asked for); a period refused is
// said under the period and the one shown stays; anything else refused ends the view (a
// bad token asks for another).
async function read(session, wanted = period) {
  if (loading) { again = wanted; return; }
  loading = true;
  lastRead = Date.now();
  try {
    const got = {};
    for (const kind of KINDS) {
      const res = await page.api(reportPath(kind, {}, wanted));
      if (!page.current(session)) return;
      if (res.status === 422 || res.status === 400) {
        periodErrors = await errorsOf(res);
        render();
        return;
      }
      if (!res.ok) { await page.refused(res); return; }
      got[kind] = await res.json();
    }
    const changed = !reports || KINDS.some((k) => figures(got[k]) !== figures(reports[k]));
    reports = got;
    period = wanted;
    periodErrors = null;
    page.setConnection(streamState);
    render();
    if (changed) $("dash_announce").textContent = t("refreshed");
  } catch (_) {
    if (page.current(session)) page.setConnection("network");
  } finally {
    loading = false;
    const next = again;
    again = null;
    if (next && page.current(session)) soon(session, next);
  }
}

// The stream said something: read again, at most once per STREAM_GAP_MS.
function soon(session, wanted = null) {
  if (wanted) queued = wanted;
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    const asked = queued || period;
    queued = null;
    if (page.current(session)) read(session, asked);
  }, Math.max(0, lastRead + STREAM_GAP_MS - Date.now()));
}

async function follow(session) {
  let cursor = null;
  try {
    const res = await page.api(`/api/v1/units/${encodeURIComponent(unit)}/feed?last=1`);
    if (res.ok) cursor = (await res.json()).next;
  } catch (_) { /* the reports still refresh every 30 s */ }
  if (!cursor || !page.current(session)) return;
  followStream({
    url: `/api/v1/units/${encodeURIComponent(unit)}/stream`,
    token: page.token,
    cursor,
    current: () => page.current(session),
    onEvent: (message) => { if (message.id) soon(session); },
    onState: (state) => { streamState = state; page.setConnection(state); },
    onRefused: async (res) => { if (res.status === 401) await page.refused(res); },
    setAbort: (control) => { page.stream = control; },
  });
}

async function start() {
  const session = page.session();
  reports = null;
  unit = asked;
  unitName = "";
  streamState = null;
  clearInterval(ticker);
  clearTimeout(pending);
  pending = null;
  queued = null;
  if (!period) {  // the last 30 days, today included
    const today = todayInVietnam();
    period = { from: daysBefore(today, 29), to: today };
  }
  $("dash_from").value = period.from;
  $("dash_to").value = period.to;
  periodErrors = null;
  page.opening();
  const got = await page.load(session, KINDS.map((kind) => reportPath(kind)));
  if (!got) return;
  reports = Object.fromEntries(KINDS.map((kind, i) => [kind, got[i]]));
  unit = got[0].unit;  // the token's own unit, when the address names none
  try {  // its name for the title; the unit's code does when it cannot be read
    const about = await page.api(`/api/v1/units/${encodeURIComponent(unit)}`);
    if (about.ok) unitName = (await about.json()).name;
  } catch (_) { /* the code stands for the name */ }
  if (!page.current(session)) return;
  lastRead = Date.now();
  page.opened();
  render();
  ticker = setInterval(() => { if (page.current(session)) read(session); }, REFRESH_MS);
  follow(session);
}

window.addEventListener("resize", scrollable);
document.addEventListener("toggle", scrollable, true);  // a table opened may be wide
$("dash_period").addEventListener("submit", (e) => {
  e.preventDefault();
  read(page.generation, { from: $("dash_from").value, to: $("dash_to").value });
});

page.boot();
