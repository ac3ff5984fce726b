"use strict";
// The lane view an officer keeps open at a checkpoint (/checkpoints/<id>): one panel per
// lane with its latest decision, the last passages below, live from the event stream.
// No framework, no CDN; every text from data goes in as text (never as markup).

const T = {
  vi: {
    page_title: "Chốt kiểm soát — dichte", title: "Chốt kiểm soát", loading: "Đang tải…",
    login_title: "Đăng nhập cán bộ", token_label: "Mã nhân viên (staff token)", open: "Mở chốt",
    token_needed: "Nhập mã nhân viên.", signout: "Đổi mã nhân viên", recent: "Lượt gần đây",
    none_yet: "Chưa có lượt nào.", lane: "Làn", no_passage: "Chưa có lượt qua làn này.",
    pass: "QUA", secondary: "KIỂM TRA THÊM", temperature: "Nhiệt độ", core: "lõi",
    canthus: "khóe mắt", no_reading: "không đo được", declaration: "Tờ khai",
    identified: "Nhận diện", time: "Thời gian", via_qr: "mã QR", via_face: "khuôn mặt",
    match: "độ khớp", nobody: "không nhận diện được", enrolled: "Đã lưu khuôn mặt lần này.",
    face_alt: "Khuôn mặt người vừa qua làn", face_gone: "Ảnh không còn lưu.",
    live: "Đang cập nhật trực tiếp", reconnecting: "Mất kết nối, đang kết nối lại…",
    network: "Lỗi mạng, đang thử lại…",
  },
  en: {
    page_title: "Checkpoint — dichte", title: "Checkpoint", loading: "Loading…",
    login_title: "Staff sign-in", token_label: "Staff token", open: "Open checkpoint",
    token_needed: "Enter your staff token.", signout: "Change staff token",
    recent: "Recent passages", none_yet: "No passage yet.", lane: "Lane",
    no_passage: "No passage in this lane yet.", pass: "PASS", secondary: "SECONDARY SCREENING",
    temperature: "Temperature", core: "core", canthus: "canthus", no_reading: "no reading",
    declaration: "Declaration", identified: "Identified by", time: "Time", via_qr: "QR code",
    via_face: "face", match: "match", nobody: "not identified",
    enrolled: "Face enrolled on this passage.", face_alt: "Face of the person who just passed lane",
    face_gone: "Picture no longer kept.", live: "Live", reconnecting: "Connection lost, reconnecting…",
    network: "Network error, retrying…",
  },
};

// Why a person goes to secondary screening (domain/screening.py's Reason), in words.
const REASONS = {
  fever: { vi: "Sốt (nhiệt độ cao)", en: "Fever (elevated temperature)" },
  no_reading: { vi: "Không đo được nhiệt độ", en: "No temperature reading" },
  no_declaration: { vi: "Chưa khai báo y tế", en: "No health declaration" },
  declaration_expired: { vi: "Tờ khai y tế đã hết hạn", en: "Health declaration expired" },
  qr_forged: { vi: "Mã QR giả hoặc bị sửa", en: "Forged or altered QR code" },
  qr_face_mismatch: { vi: "Khuôn mặt không khớp với mã QR", en: "Face does not match the QR code" },
  case_or_contact: { vi: "Ca bệnh hoặc F1 đang cách ly", en: "Confirmed case or contact (F1) in quarantine" },
};

const DECLARATION = {
  valid: { vi: "hợp lệ", en: "valid" },
  none: { vi: "không có", en: "none" },
  expired: { vi: "hết hạn", en: "expired" },
  forged: { vi: "QR giả", en: "forged QR" },
};

const RECENT = 20;
const $ = (id) => document.getElementById(id);
const checkpointId = decodeURIComponent(location.pathname.split("/checkpoints/")[1] || "").replace(/\/$/, "");
const base = `/api/v1/checkpoints/${encodeURIComponent(checkpointId)}`;

let config = null;
let recent = [];            // newest first, at most RECENT
let latest = new Map();     // lane → its latest event
let faces = new Map();      // event_id → "ok" | "gone" (so a re-render does not flicker)

const page = staffPage({ prefix: "lane", words: T, start, render, signedOut: () => { config = null; } });
const t = page.t;
const word = (table, code) => (table[code] ? table[code][page.lang] : code);

// --- words ---------------------------------------------------------------------------

const VN = "Asia/Ho_Chi_Minh";
const locale = () => (page.lang === "en" ? "en-GB" : "vi-VN");

function when(iso) {
  const d = new Date(iso);
  const time = d.toLocaleTimeString(locale(), {
    timeZone: VN, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const day = (x) => x.toLocaleDateString("en-CA", { timeZone: VN });
  if (day(d) === day(new Date())) return time;
  return `${d.toLocaleDateString(locale(), { timeZone: VN, day: "2-digit", month: "2-digit" })} ${time}`;
}

function degrees(c) {
  return `${c.toLocaleString(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 1 })} °C`;
}

function temperatureText(ev) {
  const tc = ev.temperature;
  if (!tc) return t("no_reading");
  return `${t("core")} ${degrees(tc.core_c)} · ${t("canthus")} ${degrees(tc.canthus_c)}`;
}

function identifiedText(ev) {
  const p = ev.person;
  if (!p) return t("nobody");
  if (p.via === "face") {
    const score = p.score === null || p.score === undefined ? "" : ` (${t("match")} ${p.score.toFixed(2)})`;
    return `${t("via_face")}${score}`;
  }
  return p.via === "qr" ? t("via_qr") : p.via;
}

const decisionText = (ev) => (ev.decision === "pass" ? t("pass") : t("secondary"));
const reasonsText = (ev) => ev.reasons.map((r) => word(REASONS, r));

// --- the face crop: shown once it loaded, hidden when it is gone (404 after an hour) ---

function face(ev, className, alt) {
  const state = faces.get(ev.event_id);
  if (state === "gone") return null;
  const img = el("img", {
    className, alt, width: 112, height: 112, decoding: "async",
    src: `${base}/events/${encodeURIComponent(ev.event_id)}/face.jpg?access_token=${encodeURIComponent(page.token)}`,
  });
  img.hidden = state !== "ok";
  img.addEventListener("load", () => { faces.set(ev.event_id, "ok"); img.hidden = false; });
  img.addEventListener("error", () => {
    faces.set(ev.event_id, "gone");
    img.remove();
    render();
  });
  return img;
}

// --- rendering -----------------------------------------------------------------------

function fact(term, ...detail) {
  return [el("dt", {}, term), el("dd", {}, ...detail)];
}

function panel(lane) {
  const ev = latest.get(lane);
  const titleId = `lane_${lane}_title`;
  const section = el("section", {
    className: "lane-panel", dataset: { lane: String(lane) }, "aria-labelledby": titleId,
  }, el("h2", { id: titleId, className: "lane-panel-title" }, `${t("lane")} ${lane}`));
  if (!ev) {
    section.append(el("p", { className: "lane-empty" }, t("no_passage")));
    return section;
  }
  const pass = ev.decision === "pass";
  section.dataset.eventId = ev.event_id;
  section.dataset.decision = ev.decision;
  section.classList.add(pass ? "lane-is-pass" : "lane-is-secondary");
  section.append(
    // Said in words, with a sign, not by the colour alone.
    el("p", { className: `lane-decision ${pass ? "lane-pass" : "lane-secondary"}` },
      el("span", { className: "lane-sign", "aria-hidden": "true" }, pass ? "✓" : "!"), decisionText(ev)),
  );
  if (ev.reasons.length) {
    section.append(el("ul", { className: "lane-reasons" },
      ...ev.reasons.map((r) => el("li", { dataset: { reason: r } }, word(REASONS, r)))));
  }
  const img = face(ev, "lane-face", `${t("face_alt")} ${lane}`);
  const gone = faces.get(ev.event_id) === "gone"
    ? el("p", { className: "small lane-face-gone" }, t("face_gone")) : null;
  section.append(el("div", { className: "lane-detail" }, img, gone, el("dl", { className: "lane-facts" },
    ...fact(t("temperature"), temperatureText(ev)),
    ...fact(t("declaration"), word(DECLARATION, ev.declaration.status)),
    ...fact(t("identified"), identifiedText(ev)),
    ...fact(t("time"), el("time", { dateTime: ev.at }, when(ev.at))),
  )));
  if (ev.enrolled) section.append(el("p", { className: "small lane-enrolled" }, t("enrolled")));
  return section;
}

function item(ev) {
  const pass = ev.decision === "pass";
  const details = [
    ...reasonsText(ev),
    `${t("temperature")}: ${temperatureText(ev)}`,
    `${t("declaration")}: ${word(DECLARATION, ev.declaration.status)}`,
    `${t("identified")}: ${identifiedText(ev)}`,
  ];
  return el("li", {
    className: `lane-event ${pass ? "lane-is-pass" : "lane-is-secondary"}`,
    dataset: { eventId: ev.event_id, lane: String(ev.lane), decision: ev.decision },
  },
  face(ev, "lane-thumb", ""),
  el("div", { className: "lane-event-text" },
    el("p", { className: "lane-event-head" },
      el("time", { dateTime: ev.at }, when(ev.at)), ` · ${t("lane")} ${ev.lane} · `,
      el("strong", { className: pass ? "lane-pass-text" : "lane-secondary-text" },
        el("span", { "aria-hidden": "true" }, pass ? "✓ " : "! "), decisionText(ev))),
    el("p", { className: "small lane-event-facts" }, details.join(" · "))));
}

function render() {
  page.renderFrame();
  if (config) {
    $("lane_title").textContent = config.name;
    document.title = `${config.name} — ${t("title")}`;
  } else {
    document.title = t("page_title");
  }
  if (!config) return;
  const lanes = Array.from({ length: config.lanes }, (_, i) => i + 1);
  $("lane_panels").replaceChildren(...lanes.map(panel));
  $("lane_events").replaceChildren(...recent.map(item));
  $("lane_recent_empty").hidden = recent.length > 0;
}

// --- events --------------------------------------------------------------------------

function add(ev, announce) {
  if (recent.some((r) => r.event_id === ev.event_id)) return false;  // the same passage again
  recent = [ev, ...recent].slice(0, RECENT);
  latest.set(ev.lane, ev);
  const kept = new Set([...recent, ...latest.values()].map((e) => e.event_id));
  [...faces.keys()].forEach((id) => { if (!kept.has(id)) faces.delete(id); });
  if (announce) {
    const reasons = reasonsText(ev);
    $("lane_announce").textContent =
      `${t("lane")} ${ev.lane}: ${decisionText(ev)}${reasons.length ? `. ${reasons.join(", ")}` : ""}.`;
  }
  return true;
}

// The stream resumes exactly after the events just loaded (the page's `next`).
function follow(session, cursor) {
  return followStream({
    url: `${base}/stream`,
    token: page.token,
    cursor,
    current: () => page.current(session),
    onEvent: (got) => {
      if (got.event === "screening" && add(JSON.parse(got.data), true)) render();
    },
    onState: page.setConnection,
    onRefused: page.refused,
    setAbort: (control) => { page.stream = control; },
  });
}

async function start() {
  const session = page.session();
  config = null;
  recent = [];
  latest = new Map();
  page.opening();
  $("lane_announce").textContent = "";
  const got = await page.load(session, [base, `${base}/events?last=${RECENT}`]);
  if (!got) return;
  const [found, body] = got;
  config = found;
  body.events.forEach((ev) => add(ev, false));  // oldest first: the newest ends on top
  page.opened();
  render();
  follow(session, body.next || "0-0");
}

page.boot();
