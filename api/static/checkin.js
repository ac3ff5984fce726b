"use strict";
// Opened by a phone camera from a venue poster (/c/<signed venue code>). Checks the
// person in with the declaration QR token this phone saved when they declared.
const $ = (id) => document.getElementById(id);
const code = decodeURIComponent(location.pathname.split("/c/")[1] || "");
const token = localStorage.getItem("dichte.person_token");

function time(iso) {
  return new Date(iso).toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit" });
}

function fail(body) {
  const errors = (body && body.errors) || [];
  $("status").textContent = "Không check-in được (could not check in)";
  $("error").textContent = errors.map((e) => `${e.message_vi} (${e.message_en})`).join(" ");
}

async function post(path) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ venue_code: code, person_token: token }),
  });
  return [res.ok, await res.json()];
}

async function checkIn() {
  if (!token) {
    sessionStorage.setItem("dichte.pending_checkin", location.pathname);
    $("status").textContent = "Điện thoại này chưa có tờ khai y tế (no declaration on this phone).";
    $("declare").hidden = false;
    return;
  }
  const [ok, body] = await post("/api/v1/checkins");
  if (!ok) return fail(body);
  $("status").textContent = "Đã check-in ✓ (checked in)";
  $("venue").textContent = body.venue_name;
  $("when").textContent = `Lúc ${time(body.checked_in_at)}`;
  $("checkout").hidden = false;
}

$("checkout").addEventListener("click", async () => {
  const [ok, body] = await post("/api/v1/checkouts");
  if (!ok) return fail(body);
  $("status").textContent = "Đã check-out ✓ (checked out)";
  $("when").textContent = `${time(body.checked_in_at)} – ${time(body.checked_out_at)}`;
  $("checkout").hidden = true;
});

checkIn().catch(() => { $("status").textContent = "Lỗi mạng (network error)"; });
