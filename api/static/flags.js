"use strict";
// The dishonest-declaration flags of a unit (/flags, ?unit=commune-<code> for another
// than the token's own): each flag with its rule in words, its evidence and its history,
// and what the police or the health staff decide about it. The list is read again every
// 30 s (the police may not read a unit's stream). No framework, no CDN; text only.

const T = {
  vi: {
    page_title: "Cảnh báo khai báo gian dối — dichte", title: "Cảnh báo khai báo gian dối",
    loading: "Đang tải…", login_title: "Đăng nhập cán bộ", token_label: "Mã nhân viên (staff token)",
    open: "Mở danh sách", token_needed: "Nhập mã nhân viên.", signout: "Đổi mã nhân viên",
    more: "Xem thêm", reload: "Làm mới", polling: "Tự làm mới mỗi 30 giây",
    network: "Lỗi mạng, đang thử lại…", updated_at: "cập nhật lúc",
    unit: "Đơn vị", unit_own: "địa bàn của mã nhân viên này",
    filter_status: "Trạng thái", filter_rule: "Loại cảnh báo", list: "Cảnh báo",
    status_open: "Chưa xử lý", status_confirmed: "Đã xác nhận", status_dismissed: "Đã bác bỏ",
    status_referred: "Đã chuyển điều tra", status_all: "Tất cả",
    rule_all: "Tất cả các loại",
    rule_undeclared_travel: "Đi lại không khai báo",
    rule_undeclared_fever: "Sốt không khai báo",
    rule_undeclared_contact: "Tiếp xúc ca bệnh không khai báo",
    rule_borrowed_qr: "Dùng mã QR của người khác",
    meaning_undeclared_travel: "Đã quét mã tại một địa điểm hoặc đi qua chốt kiểm soát, trong 14 ngày trước khi khai, ở một tỉnh mà tờ khai không nêu (nơi ở, nơi đi, nơi đến, nơi đã qua).",
    meaning_undeclared_fever: "Tờ khai ghi không sốt, không triệu chứng, nhưng chốt kiểm soát đo thấy sốt cùng ngày.",
    meaning_undeclared_contact: "Tờ khai ghi không tiếp xúc ca bệnh, nhưng người này đã được ghi nhận là F1 trước khi khai.",
    meaning_borrowed_qr: "Mã QR của tờ khai được xuất trình tại chốt bởi người có mống mắt hoặc khuôn mặt khớp với một người khác đã đăng ký; cảnh báo ghi người đó.",
    empty: "Không có cảnh báo nào.",
    raised: "Phát hiện lúc", person: "Người", declaration: "Tờ khai", residence: "Nơi cư trú",
    status: "Trạng thái", evidence: "Bằng chứng", history: "Lịch sử xử lý", reason_of: "Lý do",
    place: "Tại", province: "tỉnh",
    ev_checkin: "Quét mã QR tại địa điểm", ev_passage: "Đi qua chốt kiểm soát",
    ev_screening: "Kiểm tra tại chốt kiểm soát", ev_contact: "Hồ sơ tiếp xúc gần (F1)",
    detail_fever: "đo thấy sốt", detail_case: "của ca bệnh",
    detail_qr_of_another_person: "khuôn mặt là của người khác",
    detail_qr_of_another_person_by_iris: "mống mắt là của người khác",
    role_system: "Hệ thống", role_police_commune: "Công an xã/phường", role_police_province: "Công an tỉnh",
    role_commune: "Trạm y tế xã/phường", role_health_centre: "Trung tâm y tế", role_province: "Sở Y tế",
    role_national: "Bộ Y tế",
    act_confirmed: "Xác nhận", act_referred: "Chuyển điều tra", act_dismissed: "Bác bỏ", act_open: "Mở lại",
    actions: "Xử lý", reason_label: "Lý do (bắt buộc khi bác bỏ)",
    done: "Đã cập nhật cảnh báo", new_flags: "cảnh báo mới", sending: "Đang gửi…",
    action_network: "Lỗi mạng: chưa rõ đã lưu hay chưa. Hãy làm mới danh sách rồi thử lại.",
  },
  en: {
    page_title: "Dishonest-declaration flags — dichte", title: "Dishonest-declaration flags",
    loading: "Loading…", login_title: "Staff sign-in", token_label: "Staff token",
    open: "Open the list", token_needed: "Enter your staff token.", signout: "Change staff token",
    more: "Show more", reload: "Refresh", polling: "Refreshes every 30 seconds",
    network: "Network error, retrying…", updated_at: "updated at",
    unit: "Unit", unit_own: "this token's own area",
    filter_status: "Status", filter_rule: "Kind of flag", list: "Flags",
    status_open: "Open", status_confirmed: "Confirmed", status_dismissed: "Dismissed",
    status_referred: "Referred", status_all: "All",
    rule_all: "All kinds",
    rule_undeclared_travel: "Undeclared travel",
    rule_undeclared_fever: "Undeclared fever",
    rule_undeclared_contact: "Undeclared contact with a case",
    rule_borrowed_qr: "Someone else's QR code",
    meaning_undeclared_travel: "Checked in at a venue or passed a checkpoint, in the 14 days before declaring, in a province the declaration names nowhere (residence, from, to, travel stops).",
    meaning_undeclared_fever: "The declaration says no fever and no symptom, but a checkpoint measured a fever the same day.",
    meaning_undeclared_contact: "The declaration says no contact with a case, but the person was already recorded as a contact (F1) before declaring.",
    meaning_borrowed_qr: "The declaration's QR code was shown at a checkpoint by someone whose iris or face matched another enrolled person; the flag names that person.",
    empty: "No flags here.",
    raised: "Raised", person: "Person", declaration: "Declaration", residence: "Lives in",
    status: "Status", evidence: "Evidence", history: "History", reason_of: "Reason",
    place: "At", province: "province",
    ev_checkin: "Check-in at a venue", ev_passage: "Passage at a checkpoint",
    ev_screening: "Screening at a checkpoint", ev_contact: "Contact record (F1)",
    detail_fever: "fever measured", detail_case: "of case",
    detail_qr_of_another_person: "the face is another person's",
    detail_qr_of_another_person_by_iris: "the iris is another person's",
    role_system: "System", role_police_commune: "Commune police", role_police_province: "Provincial police",
    role_commune: "Commune health station", role_health_centre: "Health centre",
    role_province: "Provincial health department", role_national: "Ministry of Health",
    act_confirmed: "Confirm", act_referred: "Refer", act_dismissed: "Dismiss", act_open: "Reopen",
    actions: "Decide", reason_label: "Reason (required to dismiss)",
    done: "Flag updated", new_flags: "new flags", sending: "Sending…",
    action_network: "Network error: it is not known whether it was saved. Refresh the list and try again.",
  },
};

const STATUSES = ["open", "confirmed", "dismissed", "referred", "all"];
const RULES = ["undeclared_travel", "undeclared_fever", "undeclared_contact", "borrowed_qr"];
// What can be done to a flag: every other status (a dismissal with its reason).
const ACTIONS = ["confirmed", "referred", "dismissed", "open"];
const POLL_MS = 30_000;
const PAGE_SIZE = 50;
const MAX_PAGE = 200;  // the API's largest page
const VN = "Asia/Ho_Chi_Minh";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const unit = (query.get("unit") || "").trim();
let status = STATUSES.includes(query.get("status")) ? query.get("status") : "open";
let rule = RULES.includes(query.get("rule")) ? query.get("rule") : "";

let flags = [];            // the list as shown, newest first
let next = null;           // the cursor of the page after it
let kept = new Set();      // flags acted on here: shown until the filter changes
let notes = new Map();     // id -> {errors, reasonErrors, done, busy}: what is said on a flag
let drafts = new Map();    // id -> the reason being typed
let built = new Map();     // id -> {sig, node}: flags drawn, redrawn only when they change
let provinces = new Map(); // code -> name
let communes = new Map();  // province code -> Map(code -> name), once asked for
let timer = null;
let listing = 0;           // a newer listing makes an older answer moot
let polledAt = null;

const page = staffPage({
  prefix: "flags", words: T, start, render,
  signedOut: () => { clearTimeout(timer); flags = []; next = null; notes = new Map(); built = new Map(); },
});
const t = page.t;
const locale = () => (page.lang === "en" ? "en-GB" : "vi-VN");
const said = (errors) => errors.map((e) => (page.lang === "en" ? e.message_en : e.message_vi) || e.code).join(" ");

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const day = d.toLocaleDateString(locale(), { timeZone: VN, day: "2-digit", month: "2-digit", year: "numeric" });
  const time = d.toLocaleTimeString(locale(), { timeZone: VN, hour: "2-digit", minute: "2-digit", hour12: false });
  return `${day} ${time}`;
}

const timeNode = (iso) => el("time", { dateTime: iso }, when(iso));
const provinceName = (code) => (code === null || code === undefined ? "" : provinces.get(code) || `${t("province")} ${code}`);

function communeName(provinceCode, code) {
  const names = communes.get(provinceCode);
  return (names && names.get(code)) || String(code);
}

// The communes of the provinces the shown flags' people live in, asked for once each.
async function nameCommunes() {
  const wanted = [...new Set(flags.map((f) => f.province_code).filter((p) => p !== null && !communes.has(p)))];
  if (!wanted.length) return;
  for (const code of wanted) {
    communes.set(code, null);
    try {
      const res = await fetch(`/api/v1/admin-units/provinces/${code}/communes`);
      if (res.ok) communes.set(code, new Map((await res.json()).map((c) => [c.code, c.name])));
      else communes.delete(code);
    } catch (_) {
      communes.delete(code);  // asked again next time
    }
  }
  render();
}

// --- the API ---------------------------------------------------------------------------

function listPath(cursor, limit = PAGE_SIZE) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (unit) q.set("unit", unit);
  if (status !== "all") q.set("status", status);
  if (rule) q.set("rule", rule);
  if (cursor) q.set("cursor", cursor);
  return `/api/v1/flags?${q}`;
}

const byNewest = (a, b) => Date.parse(b.raised_at) - Date.parse(a.raised_at);

// A fresh first part of the list: it replaces what it covers; flags acted on here stay.
function merged(body, limit) {
  const fresh = body.items;
  const ids = new Set(fresh.map((f) => f.id));
  let rest = [];
  if (flags.length > limit && fresh.length) {  // pages loaded beyond what was read again
    const last = Date.parse(fresh[fresh.length - 1].raised_at);
    rest = flags.slice(limit).filter((f) => !ids.has(f.id) && Date.parse(f.raised_at) <= last);
  } else next = body.next;
  const known = new Set([...fresh, ...rest].map((f) => f.id));
  const stay = flags.filter((f) => kept.has(f.id) && !known.has(f.id));
  const before = new Set(flags.map((f) => f.id));
  flags = [...fresh, ...rest, ...stay].sort(byNewest);
  return fresh.filter((f) => !before.has(f.id)).length;
}

// Reads the list again; `quiet`: the 30 s refresh (no loading state, new flags said).
async function refresh(session, quiet) {
  clearTimeout(timer);
  const mine = ++listing;
  const limit = Math.min(MAX_PAGE, Math.max(PAGE_SIZE, flags.length));
  try {
    const res = await page.api(listPath(null, limit));
    if (!page.current(session) || mine !== listing) return;
    if (res.status >= 500) page.setConnection("network");
    else if (!res.ok) { await page.refused(res); return; }
    else {
      const added = merged(await res.json(), limit);
      polledAt = new Date().toISOString();
      page.setConnection("polling");
      if (quiet && added) $("flags_announce").textContent = `${added} ${t("new_flags")}`;
      render();
      nameCommunes();
    }
  } catch (_) {
    if (!page.current(session) || mine !== listing) return;
    page.setConnection("network");
  }
  timer = setTimeout(() => refresh(session, true), POLL_MS);
}

async function loadMore() {
  const session = page.generation;
  const mine = listing;
  try {
    const res = await page.api(listPath(next));
    if (!page.current(session) || mine !== listing) return;
    if (!res.ok) { await page.refused(res); return; }
    const body = await res.json();
    const known = new Set(flags.map((f) => f.id));
    flags = [...flags, ...body.items.filter((f) => !known.has(f.id))];
    next = body.next;
    render();
    nameCommunes();
  } catch (_) {
    page.setConnection("network");
  }
}

function replaced(flag) {
  flags = flags.map((f) => (f.id === flag.id ? flag : f));
}

async function act(id, to) {
  const note = notes.get(id) || {};
  if (note.busy) return;
  const reason = (drafts.get(id) || "").trim();
  notes.set(id, { busy: true });
  render();
  const session = page.generation;
  try {
    const res = await page.api(`/api/v1/flags/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status: to, reason }),
    });
    if (!page.current(session)) return;
    if (res.ok) {
      const flag = await res.json();
      replaced(flag);
      kept.add(id);
      drafts.delete(id);
      notes.set(id, { done: flag.status });
      render(id, "status");
      $("flags_announce").textContent = `${t("done")}: ${t(`status_${flag.status}`)}`;
      return;
    }
    if (res.status === 401) { await page.refused(res); return; }
    const errors = await errorsOf(res);
    const onReason = errors.filter((e) => e.field === "reason");
    const onFlag = errors.filter((e) => e.field !== "reason");
    notes.set(id, { reasonErrors: onReason, errors: onFlag });
    if (res.status === 409) await reread(id, session);  // someone else's change: shown as it is now
    render(id, onReason.length ? "reason" : "message");
  } catch (_) {
    if (!page.current(session)) return;
    notes.set(id, { errors: [{ code: "network", message_vi: T.vi.action_network, message_en: T.en.action_network }] });
    render(id, "message");
  }
}

async function reread(id, session) {
  try {
    const res = await page.api(`/api/v1/flags/${encodeURIComponent(id)}`);
    if (res.ok && page.current(session)) {
      replaced(await res.json());
      kept.add(id);
    }
  } catch (_) { /* the 30 s refresh will bring it */ }
}

// --- one flag ------------------------------------------------------------------------------

function evidenceText(e) {
  let detail = e.detail || "";
  if (detail === "fever") detail = t("detail_fever");
  else if (detail.startsWith("case ")) detail = `${t("detail_case")} ${detail.slice(5)}`;
  else if (detail.startsWith("qr_of_another_person")) detail = t(`detail_${detail}`);
  const where = [e.place, provinceName(e.province_code)].filter(Boolean).join(", ");
  return [where ? `${t("place")} ${where}` : null, detail || null].filter(Boolean).join(" · ");
}

function fact(term, ...value) {
  return [el("dt", {}, term), el("dd", {}, ...value)];
}

function flagNode(f) {
  const note = notes.get(f.id) || {};
  const ruleId = `flag_${f.id}_rule`;
  const reasonId = `flag_${f.id}_reason`;
  const reasonErrId = `flag_${f.id}_reason_error`;
  const reasonErrors = note.reasonErrors || [];
  const reasonBox = el("textarea", {
    id: reasonId, rows: 2, maxLength: 500, value: drafts.get(f.id) || "",
    dataset: { part: "reason" }, "aria-describedby": reasonErrId,
  });
  if (reasonErrors.length) reasonBox.setAttribute("aria-invalid", "true");
  reasonBox.addEventListener("input", () => { drafts.set(f.id, reasonBox.value); });
  const buttons = ACTIONS.filter((to) => to !== f.status).map((to) => el("button", {
    type: "button",
    className: to === "dismissed" || to === "open" ? "secondary" : "",
    disabled: Boolean(note.busy),
    dataset: { action: to, part: `act-${to}` },
    onclick: () => act(f.id, to),
  }, t(`act_${to}`)));
  const residence = f.commune_code === null
    ? provinceName(f.province_code)
    : [communeName(f.province_code, f.commune_code), provinceName(f.province_code)].filter(Boolean).join(", ");
  return el("li", { className: "flags-flag", dataset: { id: f.id, status: f.status, rule: f.rule } },
    el("article", { "aria-labelledby": ruleId },
      el("h3", { id: ruleId, className: "flags-rule" }, t(`rule_${f.rule}`)),
      el("p", { className: "small flags-meaning" }, t(`meaning_${f.rule}`)),
      el("p", { className: "flags-status-line", tabIndex: -1, dataset: { part: "status" } },
        `${t("status")}: `,
        el("span", { className: `flags-status flags-is-${f.status}` }, t(`status_${f.status}`))),
      el("dl", { className: "flags-facts" },
        ...fact(t("raised"), timeNode(f.raised_at)),
        ...fact(t("person"), el("span", { className: "flags-id", title: f.person_id }, f.person_id.slice(0, 8))),
        ...fact(t("declaration"), el("span", { className: "flags-id flags-declaration" }, f.declaration_id)),
        ...(residence ? fact(t("residence"), residence) : [])),
      el("h4", { className: "flags-sub" }, t("evidence")),
      el("ul", { className: "flags-evidence" }, ...f.evidence.map((e) => el("li", { dataset: { kind: e.kind } },
        el("p", { className: "flags-evidence-head" }, `${t(`ev_${e.kind}`)} · `, timeNode(e.at)),
        el("p", { className: "small flags-evidence-facts" }, evidenceText(e))))),
      el("h4", { className: "flags-sub" }, t("history")),
      el("ol", { className: "flags-history" }, ...f.history.map((h) => el("li", { dataset: { status: h.status, role: h.role } },
        el("p", { className: "flags-history-head" },
          `${t(`status_${h.status}`)} · `, timeNode(h.at), ` · ${t(`role_${h.role}`)}${h.by && h.by !== "system" ? ` (${h.by})` : ""}`),
        h.reason ? el("p", { className: "small flags-history-reason" }, `${t("reason_of")}: ${h.reason}`) : null))),
      el("div", { className: "flags-act", role: "group", "aria-label": t("actions") },
        el("div", { className: `field ${reasonErrors.length ? "invalid" : ""}` },
          el("label", { htmlFor: reasonId }, t("reason_label")),
          reasonBox,
          el("p", { id: reasonErrId, className: "err flags-reason-error", role: "alert" }, said(reasonErrors))),
        el("div", { className: "flags-buttons" }, ...buttons),
        el("p", { className: "small flags-busy" }, note.busy ? t("sending") : ""),
        el("p", { className: "err flags-message", role: "alert", tabIndex: -1, dataset: { part: "message" } },
          said(note.errors || [])))));
}

// Draws the list, keeping the nodes of flags that did not change (and the focus in them);
// `focusId`/`focusPart`: what to focus afterwards (the flag just acted on).
function drawFlags(focusId, focusPart) {
  const list = $("flags_items");
  const active = document.activeElement;
  const nodes = flags.map((f) => {
    const sig = JSON.stringify([f, page.lang, notes.get(f.id) || null, provinces.size,
      communes.get(f.province_code) ? f.province_code : null]);
    const had = built.get(f.id);
    if (had && had.sig === sig) return had.node;
    const node = flagNode(f);
    // Redrawn under the person's hands (a refresh): the focus goes back where it was.
    if (had && active && had.node.contains(active) && active.dataset.part && !focusPart) {
      const again = node.querySelector(`[data-part="${active.dataset.part}"]`);
      if (again) queueMicrotask(() => again.focus());
    }
    built.set(f.id, { sig, node });
    return node;
  });
  const shown = new Set(flags.map((f) => f.id));
  [...built.keys()].filter((id) => !shown.has(id)).forEach((id) => built.delete(id));
  // What is gone goes first, then only what moved is moved: a node left in place keeps
  // its focus and what is being typed in it.
  const keep = new Set(nodes);
  [...list.children].filter((node) => !keep.has(node)).forEach((node) => node.remove());
  nodes.forEach((node, i) => { if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null); });
  if (focusId) {
    const target = built.get(focusId);
    const part = target && target.node.querySelector(`[data-part="${focusPart}"]`);
    if (part) part.focus();
  }
}

// --- rendering -------------------------------------------------------------------------------

// The unit named in the address, by its name where the page knows it.
function unitName() {
  if (!unit) return t("unit_own");
  const [kind, code] = unit.split("-");
  const number = Number(code);
  if (kind === "province" && provinces.has(number)) return `${provinces.get(number)} (${unit})`;
  const living = kind === "commune" && flags.find((f) => f.commune_code === number);
  const name = living && communes.get(living.province_code) && communes.get(living.province_code).get(number);
  return name ? `${name} (${unit})` : unit;
}

function render(focusId, focusPart) {
  page.renderFrame();
  document.title = t("page_title");
  $("flags_status").value = status;
  $("flags_rule").value = rule;
  $("flags_unit").textContent = `${t("unit")}: ${unitName()}`;
  $("flags_list_title").textContent = `${t("list")} — ${t(`status_${status}`)}${rule ? ` — ${t(`rule_${rule}`)}` : ""}`;
  if (page.connection === "polling" && polledAt) {
    $("flags_conn").textContent = `${t("polling")} (${t("updated_at")} ${when(polledAt).split(" ").pop()})`;
  }
  drawFlags(typeof focusId === "string" ? focusId : null, focusPart);
  $("flags_empty").textContent = t("empty");
  $("flags_empty").hidden = flags.length > 0;
  $("flags_more").hidden = !next;
}

// The filters are kept in the page's address, so a reload or a shared link shows the same.
function filtered() {
  status = $("flags_status").value;
  rule = $("flags_rule").value;
  const q = new URLSearchParams();
  if (unit) q.set("unit", unit);
  if (status !== "open") q.set("status", status);
  if (rule) q.set("rule", rule);
  history.replaceState(null, "", `${location.pathname}${q.toString() ? `?${q}` : ""}`);
  flags = [];
  next = null;
  kept = new Set();
  notes = new Map();
  render();
  refresh(page.generation, false);
}

async function start() {
  const session = page.session();
  clearTimeout(timer);
  flags = [];
  next = null;
  kept = new Set();
  notes = new Map();
  page.opening();
  listing += 1;
  const got = await page.load(session, ["/api/v1/admin-units/provinces", listPath(null)]);
  if (!got) return;
  const [names, first] = got;
  provinces = new Map(names.map((p) => [p.code, p.name]));
  flags = first.items;
  next = first.next;
  polledAt = new Date().toISOString();
  page.opened();
  page.setConnection("polling");
  render();
  nameCommunes();
  timer = setTimeout(() => refresh(session, true), POLL_MS);
}

$("flags_status").addEventListener("change", filtered);
$("flags_rule").addEventListener("change", filtered);
$("flags_filters").addEventListener("submit", (e) => { e.preventDefault(); filtered(); });
$("flags_more").addEventListener("click", loadMore);
$("flags_reload").addEventListener("click", () => refresh(page.generation, false));

page.boot();
