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

const TOKEN_KEY = "dichte.staff_token";
const RECENT = 20;
const $ = (id) => document.getElementById(id);
const checkpointId = decodeURIComponent(location.pathname.split("/checkpoints/")[1] || "").replace(/\/$/, "");
const base = `/api/v1/checkpoints/${encodeURIComponent(checkpointId)}`;

let lang = localStorage.getItem("dichte.lang") === "en" ? "en" : "vi";
let token = localStorage.getItem(TOKEN_KEY);
let config = null;
let recent = [];            // newest first, at most RECENT
let latest = new Map();     // lane → its latest event
let faces = new Map();      // event_id → "ok" | "gone" (so a re-render does not flicker)
let shownError = null;      // {errors, where}: re-worded when the language changes
let connection = null;      // "live" | "reconnecting" | "network"
let generation = 0;         // a new token (or sign-out) ends the previous session's stream
let stream = null;          // the AbortController of the open stream

const t = (key) => T[lang][key] || T.vi[key] || key;
const word = (table, code) => (table[code] ? table[code][lang] : code);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.entries(props).forEach(([k, v]) => {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  });
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// --- words ---------------------------------------------------------------------------

const VN = "Asia/Ho_Chi_Minh";
const locale = () => (lang === "en" ? "en-GB" : "vi-VN");

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
    src: `${base}/events/${encodeURIComponent(ev.event_id)}/face.jpg?access_token=${encodeURIComponent(token)}`,
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
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  // The switch names the other language, in that language.
  $("lang").textContent = lang === "vi" ? "English" : "Tiếng Việt";
  $("lang").lang = lang === "vi" ? "en" : "vi";
  if (config) {
    $("lane_title").textContent = config.name;
    document.title = `${config.name} — ${t("title")}`;
  } else {
    document.title = t("page_title");
  }
  renderError();
  $("lane_conn").textContent = connection ? t(connection) : "";
  $("lane_conn").dataset.state = connection || "";
  if (!config) return;
  const lanes = Array.from({ length: config.lanes }, (_, i) => i + 1);
  $("lane_panels").replaceChildren(...lanes.map(panel));
  $("lane_events").replaceChildren(...recent.map(item));
  $("lane_recent_empty").hidden = recent.length > 0;
}

function renderError() {
  const target = shownError && shownError.where === "login" ? $("lane_login_error") : $("lane_error");
  $("lane_login_error").textContent = "";
  $("lane_error").textContent = "";
  if (!shownError) return;
  target.textContent = shownError.errors
    .map((e) => (lang === "en" ? e.message_en : e.message_vi) || e.code).join(" ");
}

function showError(errors, where) {
  shownError = errors ? { errors, where } : null;
  renderError();
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

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options, headers: { Authorization: `Bearer ${token}`, ...(options.headers || {}) },
  });
  return res;
}

async function errorsOf(res) {
  try {
    const body = await res.json();
    if (body && Array.isArray(body.errors)) return body.errors;
  } catch (_) { /* not the API's shape */ }
  return [{ code: String(res.status), message_vi: `Lỗi ${res.status}.`, message_en: `Error ${res.status}.` }];
}

// A refusal: a bad token asks for another; anything else is shown and ends the session.
async function refused(res) {
  const errors = await errorsOf(res);
  if (res.status === 401) askToken(errors);
  else {
    showError(errors, "page");
    $("lane_view").hidden = true;
  }
}

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function setConnection(state) {
  connection = state;
  $("lane_conn").textContent = state ? t(state) : "";
  $("lane_conn").dataset.state = state || "";
}

// The stream, read with fetch so it can carry the token in a header and resume exactly
// after the events just loaded (Last-Event-ID: the page's `next`); on a drop it resumes
// from the last event it got. The server says something at least every 15 s.
async function follow(session, cursor) {
  let delay = 1000;
  while (session === generation) {
    const control = new AbortController();
    stream = control;
    let watchdog = null;
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => control.abort(), 45_000);
    };
    try {
      setConnection("live");
      kick();
      const res = await api(`${base}/stream`, {
        headers: { Accept: "text/event-stream", "Last-Event-ID": cursor },
        cache: "no-store",
        signal: control.signal,
      });
      if (session !== generation) return;
      if (res.status >= 400 && res.status < 500) { await refused(res); return; }
      if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done || session !== generation) break;
        kick();
        delay = 1000;
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const got = message(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (got && got.event === "screening") {
            if (add(JSON.parse(got.data), true)) render();
            if (got.id) cursor = got.id;
          }
        }
      }
    } catch (_) {
      // dropped, aborted by the watchdog, or the network is down: try again below
    } finally {
      clearTimeout(watchdog);
    }
    if (session !== generation) return;
    setConnection("reconnecting");
    await pause(delay);
    delay = Math.min(delay * 2, 15_000);
  }
}

function message(block) {
  const got = { id: null, event: "message", data: "" };
  let data = null;
  block.split("\n").forEach((line) => {
    if (!line || line.startsWith(":")) return;  // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data = data === null ? value : `${data}\n${value}`;
    else if (field === "id") got.id = value;
    else if (field === "event") got.event = value;
  });
  if (data === null) return null;
  got.data = data;
  return got;
}

async function start() {
  const session = ++generation;
  if (stream) stream.abort();
  config = null;
  recent = [];
  latest = new Map();
  $("lane_login").hidden = true;
  $("lane_view").hidden = true;
  $("lane_bar").hidden = false;
  $("lane_loading").hidden = false;
  $("lane_announce").textContent = "";
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15_000)) {
    try {
      const res = await api(base);
      if (session !== generation) return;
      if (!res.ok) { $("lane_loading").hidden = true; await refused(res); return; }
      const found = await res.json();
      const page = await api(`${base}/events?last=${RECENT}`);
      if (session !== generation) return;
      if (!page.ok) { $("lane_loading").hidden = true; await refused(page); return; }
      const body = await page.json();
      config = found;
      body.events.forEach((ev) => add(ev, false));  // oldest first: the newest ends on top
      showError(null);
      setConnection(null);
      $("lane_loading").hidden = true;
      $("lane_view").hidden = false;
      render();
      follow(session, body.next || "0-0");
      return;
    } catch (_) {
      if (session !== generation) return;
      setConnection("network");
      await pause(delay);
    }
  }
}

function askToken(errors) {
  generation += 1;
  if (stream) stream.abort();
  token = null;
  localStorage.removeItem(TOKEN_KEY);
  config = null;
  setConnection(null);
  $("lane_loading").hidden = true;
  $("lane_view").hidden = true;
  $("lane_bar").hidden = true;
  $("lane_login").hidden = false;
  $("lane_token").value = "";
  if (errors) $("lane_token").setAttribute("aria-invalid", "true");
  else $("lane_token").removeAttribute("aria-invalid");
  showError(errors, "login");
  render();
  $("lane_token").focus();
}

$("lane_login").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("lane_token").value.trim();
  if (!value) {
    showError([{ code: "required", message_vi: T.vi.token_needed, message_en: T.en.token_needed }], "login");
    $("lane_token").setAttribute("aria-invalid", "true");
    $("lane_token").focus();
    return;
  }
  token = value;
  localStorage.setItem(TOKEN_KEY, token);
  $("lane_token").removeAttribute("aria-invalid");
  showError(null);
  start();
});

$("lane_signout").addEventListener("click", () => askToken(null));

$("lang").addEventListener("click", () => {
  lang = lang === "vi" ? "en" : "vi";
  localStorage.setItem("dichte.lang", lang);
  render();
});

render();
if (token) start();
else askToken(null);
