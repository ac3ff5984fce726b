"use strict";
// The field inspector's page (/inspect), on a phone: the venues of a commune due for a
// visit (first things first, as the API orders them), each with why it is due, a form
// to record a visit (the poster, the people there, a photo, where the phone says it
// is) and the venue's past visits. No framework, no CDN; data goes in as text only.

const T = {
  vi: {
    page_title: "Kiểm tra điểm quét QR — dichte", title: "Kiểm tra điểm quét QR", loading: "Đang tải…",
    login_title: "Đăng nhập cán bộ", token_label: "Mã nhân viên (staff token)", open: "Mở danh sách",
    token_needed: "Nhập mã nhân viên.", signout: "Đổi mã nhân viên", reload: "Tải lại",
    live: "Đang cập nhật trực tiếp", reconnecting: "Mất kết nối, đang kết nối lại…",
    network: "Lỗi mạng, đang thử lại…", hint: "Địa điểm cần kiểm tra trước được xếp lên đầu.",
    empty: "Không có địa điểm nào cần kiểm tra.", due_title: "cần kiểm tra", venues_word: "địa điểm",
    flags_label: "Lý do cần kiểm tra", last_scan: "Lượt quét gần nhất", last_inspection: "Kiểm tra gần nhất",
    never: "chưa có", poster_last: "Lần trước", poster_seen: "có áp phích", poster_not_seen: "không có áp phích",
    record: "Ghi nhận kiểm tra", history: "Lịch sử kiểm tra", hide_history: "Ẩn lịch sử",
    record_title: "Kết quả kiểm tra", poster: "Áp phích mã QR tại địa điểm",
    poster_yes: "Có treo/dán, nhìn thấy được", poster_no: "Không có hoặc không nhìn thấy",
    people_present: "Số người có mặt", scans_seen_last_hour: "Số lượt quét mã trong 1 giờ qua",
    notes: "Ghi chú", photo: "Ảnh áp phích hoặc lối vào (không bắt buộc)",
    photo_hint: "Chụp bằng camera sau của điện thoại.", position_label: "Vị trí",
    locating: "Đang lấy vị trí…", located: "Đã lấy vị trí", accuracy: "sai số",
    no_position: "Không lấy được vị trí; vẫn gửi được kết quả.", save: "Lưu kết quả kiểm tra",
    sending: "Đang gửi…", cancel: "Đóng", network_send: "Lỗi mạng, chưa gửi được. Vui lòng thử lại.",
    recorded: "Đã ghi nhận kiểm tra tại", no_history: "Chưa có lần kiểm tra nào.",
    people: "người có mặt", scans: "lượt quét/giờ", by: "Cán bộ", photo_show: "Xem ảnh",
    photo_alt: "Ảnh chụp khi kiểm tra lúc", photo_gone: "Ảnh không còn lưu.",
    yes: "có", no: "không", notes_label: "Ghi chú",
  },
  en: {
    page_title: "QR check-in point inspection — dichte", title: "QR check-in point inspection",
    loading: "Loading…", login_title: "Staff sign-in", token_label: "Staff token", open: "Open list",
    token_needed: "Enter your staff token.", signout: "Change staff token", reload: "Reload",
    live: "Live", reconnecting: "Connection lost, reconnecting…", network: "Network error, retrying…",
    hint: "Venues to visit first are listed first.", empty: "No venue is due for a visit.",
    due_title: "due for a visit", venues_word: "venues", flags_label: "Why it is due",
    last_scan: "Last scan", last_inspection: "Last inspection", never: "never", poster_last: "Last visit",
    poster_seen: "poster displayed", poster_not_seen: "no poster", record: "Record a visit",
    history: "Past visits", hide_history: "Hide past visits", record_title: "Visit",
    poster: "The venue's QR poster", poster_yes: "Displayed, can be seen",
    poster_no: "Missing or cannot be seen", people_present: "People present",
    scans_seen_last_hour: "Scans seen in the last hour", notes: "Notes",
    photo: "Photo of the poster or the entrance (optional)", photo_hint: "Taken with the phone's back camera.",
    position_label: "Position", locating: "Finding the position…", located: "Position found",
    accuracy: "accuracy", no_position: "No position; the visit can still be sent.",
    save: "Save the visit", sending: "Sending…", cancel: "Close",
    network_send: "Network error, not sent. Please try again.", recorded: "Visit recorded at",
    no_history: "No visit yet.", people: "people present", scans: "scans per hour", by: "Inspector",
    photo_show: "Show photo", photo_alt: "Photo taken at the visit of", photo_gone: "Photo no longer kept.",
    yes: "yes", no: "no", notes_label: "Notes",
  },
};

// Why a venue is due (domain/inspections.py's VenueFlag), in words.
const FLAGS = {
  never_scanned: { vi: "Chưa có lượt quét nào", en: "Never scanned" },
  poster_missing: { vi: "Lần trước không có áp phích", en: "Poster missing at the last visit" },
  never_inspected: { vi: "Chưa kiểm tra lần nào", en: "Never inspected" },
  inspection_overdue: { vi: "Quá hạn kiểm tra", en: "Inspection overdue" },
};

const TYPES = {
  restaurant: { vi: "Nhà hàng", en: "Restaurant" },
  cafe: { vi: "Quán cà phê", en: "Café" },
  market: { vi: "Chợ", en: "Market" },
  supermarket: { vi: "Siêu thị", en: "Supermarket" },
  school: { vi: "Trường học", en: "School" },
  office: { vi: "Cơ quan", en: "Office" },
  factory: { vi: "Nhà máy", en: "Factory" },
  hospital: { vi: "Cơ sở y tế", en: "Health facility" },
  transport: { vi: "Bến xe, nhà ga", en: "Station" },
  hotel: { vi: "Khách sạn, nhà nghỉ", en: "Hotel" },
  religious: { vi: "Cơ sở tôn giáo", en: "Place of worship" },
  other: { vi: "Địa điểm", en: "Venue" },
};

const ROLES = {
  commune: { vi: "Trạm y tế xã", en: "Commune health station" },
  police_commune: { vi: "Công an xã", en: "Commune police" },
  health_centre: { vi: "Trung tâm y tế khu vực", en: "Health centre" },
  province: { vi: "Sở Y tế / CDC tỉnh", en: "Province health department" },
  police_province: { vi: "Công an tỉnh", en: "Province police" },
  national: { vi: "Bộ Y tế", en: "Ministry of Health" },
};

const $ = (id) => document.getElementById(id);
// Commune staff see their own commune; anyone else names one: /inspect?commune=<code>.
const chosenCommune = new URLSearchParams(location.search).get("commune");
const duePath = () => `/api/v1/inspections/due${chosenCommune ? `?${new URLSearchParams({ commune: chosenCommune })}` : ""}`;
const visitsPath = (venueId) => `/api/v1/venues/${encodeURIComponent(venueId)}/inspections`;

let due = null;               // the API's answer: {commune_code, commune_name, venues}
const forms = new Map();      // venue id -> an open visit form's state (its node kept while open)
const histories = new Map();  // venue id -> {items: [...] | null, errors}
const photos = new Map();     // inspection id -> a blob URL of its photo, or "" when gone
let announced = null;         // {key, name}: what was just recorded, re-worded on a switch

const page = staffPage({
  prefix: "insp",
  words: T,
  start,
  render,
  signedOut: () => {
    due = null;
    forms.clear();
    histories.clear();
    photos.forEach((url) => { if (url) URL.revokeObjectURL(url); });
    photos.clear();
    announced = null;
  },
});
const t = page.t;
const word = (table, code) => (table[code] ? table[code][page.lang] : code);
const VN = "Asia/Ho_Chi_Minh";
const locale = () => (page.lang === "en" ? "en-GB" : "vi-VN");
const number = (n, digits = 0) => Number(n).toLocaleString(locale(), { maximumFractionDigits: digits });

function when(iso) {
  if (!iso) return t("never");
  const d = new Date(iso);
  const day = d.toLocaleDateString(locale(), { timeZone: VN, day: "2-digit", month: "2-digit", year: "numeric" });
  const time = d.toLocaleTimeString(locale(), { timeZone: VN, hour: "2-digit", minute: "2-digit", hour12: false });
  return `${day} ${time}`;
}

// --- the visit form ------------------------------------------------------------------------

// Errors on the position's parts are said under the position line.
const FIELD_OF = { latitude: "position", longitude: "position", accuracy_m: "position" };

function newForm(v) {
  const id = (name) => `v${v.venue_id}_${name}`;
  const errorOf = (name) => el("p", { id: `${id(name)}_err`, className: "err" });
  const label = (name, key) => el("label", { htmlFor: id(name), dataset: { w: key } });
  const count = (name) => el("div", { className: "field", dataset: { field: name } },
    label(name, name),
    el("input", {
      id: id(name), name, type: "number", inputMode: "numeric", min: "0", step: "1",
      "aria-describedby": `${id(name)}_err`,
    }),
    errorOf(name));
  const choice = (value, key) => el("label", { className: "insp-option" },
    el("input", { type: "radio", name: "poster_displayed", value, id: id(`poster_${value}`) }),
    el("span", { dataset: { w: key } }));
  const node = el("form", { className: "insp-form", noValidate: true, dataset: { venue: v.venue_id } },
    el("h4", { className: "insp-form-title", dataset: { w: "record_title" } }),
    el("fieldset", {
      className: "field insp-choice", dataset: { field: "poster_displayed" },
      "aria-describedby": `${id("poster_displayed")}_err`,
    },
    el("legend", { dataset: { w: "poster" } }),
    choice("true", "poster_yes"),
    choice("false", "poster_no"),
    errorOf("poster_displayed")),
    el("div", { className: "row" }, count("people_present"), count("scans_seen_last_hour")),
    el("div", { className: "field", dataset: { field: "notes" } },
      label("notes", "notes"),
      el("textarea", { id: id("notes"), name: "notes", rows: 3, maxLength: 1000, "aria-describedby": `${id("notes")}_err` }),
      errorOf("notes")),
    el("div", { className: "field", dataset: { field: "photo" } },
      label("photo", "photo"),
      el("input", {
        id: id("photo"), name: "photo", type: "file", accept: "image/*", capture: "environment",
        "aria-describedby": `${id("photo")}_hint ${id("photo")}_err`,
      }),
      el("p", { id: `${id("photo")}_hint`, className: "small insp-hint", dataset: { w: "photo_hint" } }),
      errorOf("photo")),
    el("div", { className: "field insp-position", dataset: { field: "position" } },
      el("p", { id: id("position"), className: "small" }),
      errorOf("position")),
    el("p", { id: `${id("form")}_err`, className: "err", role: "alert" }),
    el("div", { className: "insp-actions" },
      el("button", { type: "submit", className: "insp-save" }),
      el("button", { type: "button", className: "secondary insp-cancel", dataset: { w: "cancel" } })));
  const state = { venue: v, node, id, errors: null, position: null, locating: false, sending: false };
  node.addEventListener("submit", (e) => { e.preventDefault(); send(state); });
  node.querySelector(".insp-cancel").addEventListener("click", () => {
    forms.delete(v.venue_id);
    render();
    const opener = document.querySelector(`li[data-venue-id="${v.venue_id}"] .insp-record`);
    if (opener) opener.focus();
  });
  locate(state);
  return state;
}

// The phone's position when it gives one; the visit never waits for it.
function locate(state) {
  if (!navigator.geolocation) return;
  state.locating = true;
  navigator.geolocation.getCurrentPosition(
    (p) => {
      state.locating = false;
      state.position = { latitude: p.coords.latitude, longitude: p.coords.longitude, accuracy_m: p.coords.accuracy };
      paintForm(state, false);
    },
    () => {
      state.locating = false;
      paintForm(state, false);
    },
    { enableHighAccuracy: true, timeout: 20_000, maximumAge: 60_000 },
  );
}

function paintForm(state, focus) {
  const { node, id } = state;
  node.querySelectorAll("[data-w]").forEach((n) => { n.textContent = t(n.dataset.w); });
  const p = state.position;
  node.querySelector(`#${id("position")}`).textContent = p
    ? `${t("position_label")}: ${t("located")} (${p.latitude.toFixed(5)}, ${p.longitude.toFixed(5)}; ${t("accuracy")} ±${number(p.accuracy_m)} m)`
    : `${t("position_label")}: ${state.locating ? t("locating") : t("no_position")}`;
  const save = node.querySelector(".insp-save");
  save.textContent = state.sending ? t("sending") : t("save");
  save.disabled = state.sending;
  // Each error under its field, in the page's language; what has no field, under the form.
  node.querySelectorAll(".field").forEach((f) => {
    f.classList.remove("invalid");
    f.querySelector(":scope > .err").textContent = "";
    f.querySelectorAll("input, textarea").forEach((c) => c.removeAttribute("aria-invalid"));
  });
  const general = node.querySelector(`#${id("form")}_err`);
  general.textContent = "";
  let first = null;
  (state.errors || []).forEach((e) => {
    const message = (page.lang === "en" ? e.message_en : e.message_vi) || e.code;
    const name = FIELD_OF[e.field] || e.field;
    const field = node.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
    if (!field) {
      general.textContent = general.textContent ? `${general.textContent} ${message}` : message;
      return;
    }
    field.classList.add("invalid");
    const err = field.querySelector(":scope > .err");
    if (!err.textContent.includes(message)) err.textContent = err.textContent ? `${err.textContent} ${message}` : message;
    field.querySelectorAll("input, textarea").forEach((c) => c.setAttribute("aria-invalid", "true"));
    first = first || field.querySelector("input, textarea");
  });
  if (focus && first) first.focus();
  else if (focus && general.textContent) general.scrollIntoView({ block: "center" });
}

async function send(state) {
  if (state.sending) return;
  const { node, venue } = state;
  const body = new FormData();
  const chosen = node.querySelector("input[name=poster_displayed]:checked");
  if (chosen) body.append("poster_displayed", chosen.value);
  ["people_present", "scans_seen_last_hour", "notes"].forEach((name) => {
    const value = node.elements[name].value.trim();
    if (value !== "") body.append(name, value);
  });
  if (state.position) {
    Object.entries(state.position).forEach(([k, value]) => { if (value !== null && value !== undefined) body.append(k, String(value)); });
  }
  const file = node.elements.photo.files[0];
  if (file) body.append("photo", file, file.name || "photo.jpg");  // none chosen: no part at all
  state.sending = true;
  state.errors = null;
  paintForm(state, false);
  let res = null;
  try {
    res = await page.api(visitsPath(venue.venue_id), { method: "POST", body });
  } catch (_) {
    state.errors = [{ field: "form", code: "network", message_vi: T.vi.network_send, message_en: T.en.network_send }];
  }
  state.sending = false;
  if (!res) { paintForm(state, true); return; }
  if (res.status === 401) { await page.refused(res); return; }
  if (!res.ok) {
    state.errors = await errorsOf(res);
    paintForm(state, true);
    return;
  }
  await res.json();
  forms.delete(venue.venue_id);
  announced = { key: "recorded", name: venue.name };
  if (histories.has(venue.venue_id)) await loadHistory(venue.venue_id);
  await reloadList();
  $("insp_list_title").focus();
}

// --- past visits ---------------------------------------------------------------------------

async function loadHistory(venueId) {
  histories.set(venueId, { items: null, errors: null });
  render();
  let got = { items: [], errors: null };
  try {
    const res = await page.api(`${visitsPath(venueId)}?limit=50`);
    if (res.status === 401) { await page.refused(res); return; }
    if (res.ok) got.items = await res.json();
    else got = { items: [], errors: await errorsOf(res) };
  } catch (_) {
    got = { items: [], errors: [{ code: "network", message_vi: T.vi.network_send, message_en: T.en.network_send }] };
  }
  if (histories.has(venueId)) histories.set(venueId, got);
  render();
}

async function showPhoto(inspectionId, button) {
  button.disabled = true;
  try {
    const res = await page.api(`/api/v1/inspections/${encodeURIComponent(inspectionId)}/photo`);
    photos.set(inspectionId, res.ok ? URL.createObjectURL(await res.blob()) : "");
  } catch (_) {
    button.disabled = false;
    return;
  }
  render();
}

function visitNode(i) {
  const facts = [
    `${t("poster_last")}: ${i.poster_displayed ? t("poster_seen") : t("poster_not_seen")}`,
    `${number(i.people_present)} ${t("people")}`,
    `${number(i.scans_seen_last_hour)} ${t("scans")}`,
  ];
  const where = i.latitude !== null && i.longitude !== null
    ? `${t("position_label")}: ${i.latitude.toFixed(5)}, ${i.longitude.toFixed(5)}${i.accuracy_m !== null ? ` (±${number(i.accuracy_m)} m)` : ""}`
    : null;
  let picture = null;
  if (i.photo && photos.has(i.id)) {
    picture = photos.get(i.id)
      ? el("img", { className: "insp-photo", src: photos.get(i.id), alt: `${t("photo_alt")} ${when(i.at)}` })
      : el("p", { className: "small" }, t("photo_gone"));
  } else if (i.photo) {
    picture = el("button", { type: "button", className: "secondary insp-photo-show" }, t("photo_show"));
    picture.addEventListener("click", () => showPhoto(i.id, picture));
  }
  return el("li", {
    className: `insp-visit ${i.poster_displayed ? "insp-is-compliant" : "insp-is-missing"}`,
    dataset: { inspectionId: i.id, posterDisplayed: String(i.poster_displayed) },
  },
  el("p", { className: "insp-visit-when" }, when(i.at)),
  el("p", { className: "small insp-visit-facts" }, facts.join(" · ")),
  i.notes ? el("p", { className: "small insp-visit-notes" }, `${t("notes_label")}: ${i.notes}`) : null,
  el("p", { className: "small" }, [`${t("by")}: ${word(ROLES, i.role)}`, where].filter(Boolean).join(" · ")),
  picture);
}

function historyNode(v, h) {
  let body;
  if (h.items === null) body = el("p", { className: "small" }, t("loading"));
  else if (h.errors) body = el("p", { className: "err" }, h.errors.map((e) => (page.lang === "en" ? e.message_en : e.message_vi) || e.code).join(" "));
  else if (!h.items.length) body = el("p", { className: "small" }, t("no_history"));
  else body = el("ol", { className: "insp-visits" }, ...h.items.map(visitNode));
  return el("section", { className: "insp-history", id: `v${v.venue_id}_history`, "aria-label": `${t("history")}: ${v.name}` },
    el("h4", { className: "insp-form-title" }, t("history")),
    body);
}

// --- the list ------------------------------------------------------------------------------

function venueNode(v) {
  const form = forms.get(v.venue_id);
  const history = histories.get(v.venue_id);
  const record = el("button", {
    type: "button", className: "secondary insp-record", "aria-expanded": String(Boolean(form)),
  }, t("record"));
  record.addEventListener("click", () => {
    if (forms.has(v.venue_id)) forms.delete(v.venue_id);
    else forms.set(v.venue_id, newForm(v));
    render();
    const opened = forms.get(v.venue_id);
    if (opened) opened.node.querySelector("input").focus();
  });
  const past = el("button", {
    type: "button", className: "secondary insp-history-toggle", "aria-expanded": String(Boolean(history)),
  }, history ? t("hide_history") : t("history"));
  past.addEventListener("click", () => {
    if (histories.has(v.venue_id)) { histories.delete(v.venue_id); render(); } else loadHistory(v.venue_id);
  });
  const lastVisit = v.poster_displayed === null ? null
    : `${t("poster_last")}: ${v.poster_displayed ? t("poster_seen") : t("poster_not_seen")}`;
  if (form) paintForm(form, false);
  return el("li", { className: "lane-event insp-venue", dataset: { venueId: v.venue_id, flags: v.flags.join(" ") } },
    el("div", { className: "insp-venue-body" },
      el("h3", { className: "insp-venue-name" }, v.name),
      el("p", { className: "small insp-venue-address" }, `${word(TYPES, v.type)} · ${v.address}`),
      v.flags.length
        ? el("ul", { className: "insp-badges", "aria-label": t("flags_label") },
          ...v.flags.map((f) => el("li", { className: `insp-badge insp-flag-${f}`, dataset: { flag: f } }, word(FLAGS, f))))
        : null,
      el("p", { className: "small insp-venue-facts" },
        [`${t("last_scan")}: ${when(v.last_scan_at)}`, `${t("last_inspection")}: ${when(v.last_inspection_at)}`, lastVisit]
          .filter(Boolean).join(" · ")),
      el("div", { className: "insp-actions" }, record, past),
      form ? form.node : null,
      history ? historyNode(v, history) : null));
}

function render() {
  page.renderFrame();
  document.title = t("page_title");
  $("insp_announce").textContent = announced ? `${t(announced.key)} ${announced.name}.` : "";
  if (!due) return;
  const n = due.venues.length;
  $("insp_list_title").textContent = `${due.commune_name} — ${t("due_title")}: ${number(n)} ${t("venues_word")}`;
  $("insp_empty").hidden = n > 0;
  $("insp_venues").replaceChildren(...due.venues.map(venueNode));
}

// --- the API -------------------------------------------------------------------------------

async function reloadList() {
  const got = await page.load(page.generation, [duePath()]);
  if (!got) return;
  [due] = got;
  page.setConnection(null);
  // Forms and histories of venues no longer listed are dropped.
  const listed = new Set(due.venues.map((v) => v.venue_id));
  [...forms.keys()].forEach((k) => { if (!listed.has(k)) forms.delete(k); });
  [...histories.keys()].forEach((k) => { if (!listed.has(k)) histories.delete(k); });
  render();
}

async function start() {
  const session = page.session();
  due = null;
  page.opening();
  const got = await page.load(session, [duePath()]);
  if (!got) return;
  [due] = got;
  page.opened();
  render();
}

$("insp_reload").addEventListener("click", async () => {
  announced = null;
  await reloadList();
});

page.boot();
