"use strict";
// Opened by a phone camera from a venue poster (/c/<signed venue code>). Shows the venue
// first, so the person sees where they are checking in, then checks them in with the
// declaration QR token this phone saved when they declared.
const $ = (id) => document.getElementById(id);
const code = decodeURIComponent(location.pathname.split("/c/")[1] || "");
const token = localStorage.getItem("dichte.person_token");

function time(iso) {
  return new Date(iso).toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit" });
}

// Vietnamese, then the English in brackets; built from text nodes (no markup from data).
function say(el, vi, en) {
  const span = document.createElement("span");
  span.className = "small";
  span.lang = "en";
  span.textContent = `(${en})`;
  el.replaceChildren(`${vi} `, span);
}

function fail(body) {
  const errors = (body && body.errors) || [];
  say($("status"), "Không check-in được", "could not check in");
  $("error").replaceChildren(...errors.flatMap((e) => {
    const en = document.createElement("span");
    en.lang = "en";
    en.textContent = `(${e.message_en})`;
    return [`${e.message_vi} `, en, " "];
  }));
}

async function call(method, path, payload) {
  const res = await fetch(path, payload === undefined ? { method } : {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  return [res.ok, await res.json()];
}

const post = (path) => call("POST", path, { venue_code: code, person_token: token });

async function checkIn() {
  // Where first: a withdrawn or forged poster is refused before anything else happens.
  const [found, venue] = await call("GET", `/api/v1/venues/by-code/${encodeURIComponent(code)}`);
  if (!found) return fail(venue);
  $("venue").textContent = venue.name;
  $("address").textContent = venue.address;
  if (!token) {
    sessionStorage.setItem("dichte.pending_checkin", location.pathname);
    say($("status"), "Điện thoại này chưa có tờ khai y tế", "no declaration on this phone");
    $("declare").hidden = false;
    return;
  }
  const [ok, body] = await post("/api/v1/checkins");
  if (!ok) return fail(body);
  say($("status"), "Đã check-in ✓", "checked in");
  $("venue").textContent = body.venue_name;
  $("when").textContent = `Lúc ${time(body.checked_in_at)}`;
  $("checkout").hidden = false;
}

$("checkout").addEventListener("click", async () => {
  const [ok, body] = await post("/api/v1/checkouts");
  if (!ok) return fail(body);
  say($("status"), "Đã check-out ✓", "checked out");
  $("when").textContent = `${time(body.checked_in_at)} – ${time(body.checked_out_at)}`;
  $("checkout").hidden = true;
});

checkIn().catch(() => say($("status"), "Lỗi mạng, vui lòng tải lại trang", "network error, reload the page"));
