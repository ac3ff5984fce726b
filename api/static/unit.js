"use strict";
// A health unit's work page (/units/<unit>): the lists a station works from (follow-ups
// due today, open cases, active quarantine orders, declarations, venues) and every record
// routed to the unit as it arrives. No framework, no CDN; data goes in as text only.

const T = {
  vi: {
    page_title: "Đơn vị y tế — dichte", title: "Đơn vị y tế", loading: "Đang tải…",
    login_title: "Đăng nhập cán bộ", token_label: "Mã nhân viên (staff token)", open: "Mở danh sách",
    token_needed: "Nhập mã nhân viên.", signout: "Đổi mã nhân viên", lists: "Danh sách",
    more: "Xem thêm", live: "Đang cập nhật trực tiếp", reconnecting: "Mất kết nối, đang kết nối lại…",
    network: "Lỗi mạng, đang thử lại…", empty: "Không có mục nào.",
    tab_feed: "Mới nhất", tab_due: "Theo dõi hôm nay", tab_cases: "Ca bệnh",
    tab_quarantine: "Cách ly", tab_declarations: "Tờ khai", tab_venues: "Địa điểm",
    document: "Giấy tờ", declared: "Khai lúc", symptoms: "Triệu chứng", no_symptoms: "không",
    onset: "Khởi phát", last_exposure: "Tiếp xúc gần nhất", follow_up: "Theo dõi",
    from: "Từ", to: "đến", active: "đang hoạt động", withdrawn: "đã ngừng",
    arrived: "Mới", checkin: "Quét mã tại địa điểm", screening: "Qua chốt kiểm soát",
    created: "mới", updated: "cập nhật", gone: "Hồ sơ đã hết thời hạn lưu.",
  },
  en: {
    page_title: "Health unit — dichte", title: "Health unit", loading: "Loading…",
    login_title: "Staff sign-in", token_label: "Staff token", open: "Open lists",
    token_needed: "Enter your staff token.", signout: "Change staff token", lists: "Lists",
    more: "Show more", live: "Live", reconnecting: "Connection lost, reconnecting…",
    network: "Network error, retrying…", empty: "Nothing here.",
    tab_feed: "Latest", tab_due: "Follow-ups due today", tab_cases: "Cases",
    tab_quarantine: "Quarantine", tab_declarations: "Declarations", tab_venues: "Venues",
    document: "Document", declared: "Declared", symptoms: "Symptoms", no_symptoms: "none",
    onset: "Onset", last_exposure: "Last exposure", follow_up: "Follow-up",
    from: "From", to: "to", active: "active", withdrawn: "withdrawn",
    arrived: "New", checkin: "Check-in at a venue", screening: "Checkpoint passage",
    created: "new", updated: "updated", gone: "Record past its retention.",
  },
};

const WORDS = {
  suspected: { vi: "nghi ngờ", en: "suspected" },
  probable: { vi: "có thể", en: "probable" },
  confirmed: { vi: "xác định", en: "confirmed" },
  not_a_case: { vi: "không phải ca bệnh", en: "not a case" },
  home: { vi: "tại nhà", en: "at home" },
  facility: { vi: "tập trung", en: "in a facility" },
  completed: { vi: "đã xong", en: "completed" },
  cancelled: { vi: "đã hủy", en: "cancelled" },
  pending: { vi: "chưa theo dõi", en: "not yet seen" },
  seen_ok: { vi: "bình thường", en: "seen, well" },
  seen_with_symptoms: { vi: "có triệu chứng", en: "seen with symptoms" },
  not_seen: { vi: "không gặp", en: "not seen" },
  pass: { vi: "QUA", en: "PASS" },
  secondary_screening: { vi: "KIỂM TRA THÊM", en: "SECONDARY SCREENING" },
  fever: { vi: "sốt", en: "fever" },
  cough: { vi: "ho", en: "cough" },
  shortness_of_breath: { vi: "khó thở", en: "shortness of breath" },
  sore_throat: { vi: "đau họng", en: "sore throat" },
  loss_of_taste_smell: { vi: "mất vị giác/khứu giác", en: "loss of taste or smell" },
  fatigue: { vi: "mệt mỏi", en: "fatigue" },
};

// Each list: its API path and query, and which records arriving change it.
const TABS = [
  { key: "feed", kinds: [] },
  { key: "due", path: "/api/v1/contacts", query: { due: "today" }, kinds: ["contact"] },
  { key: "cases", path: "/api/v1/cases", query: { status: "open" }, kinds: ["case"] },
  { key: "quarantine", path: "/api/v1/quarantine-orders", query: { status: "active" }, kinds: ["quarantine_order"] },
  { key: "declarations", path: "/api/v1/declarations", query: {}, kinds: ["declaration"] },
  { key: "venues", path: "/api/v1/venues", query: {}, kinds: ["venue"] },
];

const FEED_KEPT = 50;
const $ = (id) => document.getElementById(id);
const unit = decodeURIComponent(location.pathname.split("/units/")[1] || "").replace(/\/$/, "");
const base = `/api/v1/units/${encodeURIComponent(unit)}`;

let info = null;
let tab = "due";
let items = [];           // the open list's records
let next = null;          // its next page's cursor
let feed = [];            // feed items, newest first
let fresh = new Set();    // cursors of feed items that arrived while the page was open
let reload = null;        // a pending refresh of the open list (records arrived)

const page = staffPage({ prefix: "unit", words: T, start, render, signedOut: () => { info = null; } });
const t = page.t;
const word = (code) => (WORDS[code] ? WORDS[code][page.lang] : code);
const VN = "Asia/Ho_Chi_Minh";
const locale = () => (page.lang === "en" ? "en-GB" : "vi-VN");

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00+07:00` : iso);
  const day = d.toLocaleDateString(locale(), { timeZone: VN, day: "2-digit", month: "2-digit", year: "numeric" });
  if (iso.length === 10) return day;
  const time = d.toLocaleTimeString(locale(), { timeZone: VN, hour: "2-digit", minute: "2-digit", hour12: false });
  return `${day} ${time}`;
}

const todayInVietnam = () => new Date().toLocaleDateString("en-CA", { timeZone: VN });

// --- one record as a list item ----------------------------------------------------------

function symptomsOf(d) {
  const named = Object.entries(d.symptoms || {}).filter(([k, v]) => v && k !== "other").map(([k]) => word(k));
  if (d.symptoms && d.symptoms.other) named.push(d.symptoms.other);
  return named.length ? named.join(", ") : t("no_symptoms");
}

function describe(kind, r) {
  // [title, facts] in words of the current language
  if (!r) return [t("gone"), []];
  switch (kind) {
    case "declaration": {
      const d = r.declaration;
      return [d.full_name, [`${t("document")} ${d.document_number}`, `${t("declared")} ${when(r.created_at)}`,
        `${t("symptoms")}: ${symptomsOf(d)}`]];
    }
    case "case":
      return [r.full_name, [word(r.classification), r.onset ? `${t("onset")} ${when(r.onset)}` : null,
        `${t("document")} ${r.document_number}`].filter(Boolean)];
    case "contact": {
      const today = (r.follow_ups || []).find((f) => f.date === todayInVietnam());
      return [r.full_name, [`${t("document")} ${r.document_number}`,
        `${t("last_exposure")} ${when(r.last_exposure)}`,
        today ? `${t("follow_up")}: ${word(today.status)}` : null].filter(Boolean)];
    }
    case "quarantine_order":
      return [`${word(r.kind)}${r.place ? ` · ${r.place}` : ""}`,
        [`${t("from")} ${when(r.start)} ${t("to")} ${when(r.end)}`, word(r.status)]];
    case "venue":
      return [r.name, [r.address || r.street || "", r.active === false ? t("withdrawn") : t("active")]];
    case "checkin":
      return [t("checkin"), [when(r.at)]];
    case "screening":
      return [t("screening"), [word(r.decision), when(r.at)]];
    default:
      return [kind, []];
  }
}

function itemNode(kind, record, extra = {}) {
  const [title, facts] = describe(kind, record);
  return el("li", { className: `lane-event unit-item ${extra.isNew ? "unit-is-new" : ""}`, dataset: extra.dataset || {} },
    el("div", { className: "lane-event-text" },
      el("p", { className: "unit-item-title" }, extra.prefix ? `${extra.prefix} · ${title}` : title),
      el("p", { className: "small unit-item-facts" }, facts.join(" · "))));
}

function feedNode(f) {
  const [kind, change] = f.type.split(".");
  const label = `${change === "created" ? t("created") : t("updated")}`;
  return itemNode(kind, f.record, {
    prefix: label,
    isNew: fresh.has(f.cursor),
    dataset: { type: f.type, subject: f.subject, cursor: f.cursor },
  });
}

// --- rendering -----------------------------------------------------------------------------

function render() {
  page.renderFrame();
  $("unit_title").textContent = info ? info.name : t("title");
  document.title = info ? `${info.name} — dichte` : t("page_title");
  if (!info) return;
  $("unit_tabs").replaceChildren(...TABS.map((x) => el("li", {},
    el("button", { type: "button", dataset: { tab: x.key }, ...(x.key === tab ? { "aria-current": "page" } : {}) },
      t(`tab_${x.key}`)))));
  $("unit_tabs").querySelectorAll("button").forEach((b) => b.addEventListener("click", () => openTab(b.dataset.tab)));
  $("unit_list_title").textContent = t(`tab_${tab}`);
  const shown = tab === "feed"
    ? feed.map(feedNode)
    : items.map((r) => itemNode(kindOf(tab), r, { dataset: { id: r.id } }));
  $("unit_items").replaceChildren(...shown);
  $("unit_empty").textContent = t("empty");
  $("unit_empty").hidden = shown.length > 0;
  $("unit_more").hidden = tab === "feed" || !next;
}

const kindOf = (key) => TABS.find((x) => x.key === key).kinds[0];

// --- the API -------------------------------------------------------------------------------

function listPath(more) {
  const spec = TABS.find((x) => x.key === tab);
  if (!spec.path) return null;
  const query = new URLSearchParams({ unit, limit: "50", ...spec.query });
  if (more && next) query.set("cursor", next);
  return `${spec.path}?${query}`;
}

function listed(body, more) {
  items = more ? [...items, ...body.items] : body.items;
  next = body.next;
}

async function loadList(more) {
  const path = listPath(more);
  if (!path) return true;
  const res = await page.api(path);
  if (!res.ok) { await page.refused(res); return false; }
  listed(await res.json(), more);
  return true;
}

async function openTab(key) {
  tab = key;
  items = [];
  next = null;
  render();
  if (await loadList(false)) render();
  $("unit_list_title").focus();
}

function arrived(f) {
  if (feed.some((x) => x.cursor === f.cursor)) return;
  fresh.add(f.cursor);
  feed = [f, ...feed].slice(0, FEED_KEPT);
  const [kind] = f.type.split(".");
  const [title] = describe(kind, f.record);
  $("unit_announce").textContent = `${t("arrived")}: ${title}`;
  const spec = TABS.find((x) => x.key === tab);
  if (spec.kinds.includes(kind)) {  // the open list changed: read it again, once
    clearTimeout(reload);
    reload = setTimeout(async () => { if (await loadList(false)) render(); }, 300);
  }
  render();
}

async function start() {
  const session = page.session();
  info = null;
  feed = [];
  fresh = new Set();
  page.opening();
  const list = listPath(false);
  const got = await page.load(session, [base, `${base}/feed?last=${FEED_KEPT}`, ...(list ? [list] : [])]);
  if (!got) return;
  const [found, latest, firstPage] = got;
  info = found;
  feed = [...latest.items].reverse();
  if (firstPage) listed(firstPage, false);
  page.opened();
  render();
  followStream({
    url: `${base}/stream`,
    token: page.token,
    cursor: latest.next,
    current: () => page.current(session),
    onEvent: (message) => { if (message.id) arrived(JSON.parse(message.data)); },
    onState: page.setConnection,
    onRefused: page.refused,
    setAbort: (control) => { page.stream = control; },
  });
}

$("unit_more").addEventListener("click", async () => { if (await loadList(true)) render(); });

page.boot();
