"use strict";
// The declaration page: no framework, no CDN. Errors come back from the API in one
// shape ({errors:[{field, code, message_vi, message_en}]}) and are shown next to the
// element whose data-field matches.

const EN = {
  page_title: "Health declaration — dichte", title: "Health declaration",
  personal: "Personal details", full_name: "Full name",
  document_type: "Document", cccd: "Citizen ID (12 digits)", cmnd: "Old ID (9 digits)",
  passport: "Passport", document_number: "Document number", nationality: "Nationality (2-letter code)",
  date_of_birth: "Date of birth", sex: "Sex", male: "Male", female: "Female", phone: "Mobile phone",
  residence: "Current residence", province: "Province/city", commune: "Commune/ward",
  street: "House number, street", trip: "Trip", coming_from: "Coming from", going_to: "Going to",
  vehicle: "Vehicle", car: "Car", motorbike: "Motorbike", truck: "Truck", bus: "Bus",
  bicycle: "Bicycle", on_foot: "On foot", train: "Train", plane: "Plane", boat: "Boat",
  other_vehicle: "Other", plate: "Plate", travel_hint: "Provinces visited in the last 14 days",
  add_travel: "+ Add a place visited", health: "Health in the last 14 days", fever: "Fever",
  cough: "Cough", shortness_of_breath: "Shortness of breath", sore_throat: "Sore throat",
  loss_of_taste_smell: "Loss of taste/smell", fatigue: "Fatigue", other_symptoms: "Other symptoms",
  contact_with_case: "Contact with a case or suspected case",
  been_in_outbreak_area: "Been in an outbreak area", vaccination_doses: "Vaccine doses",
  latest_test: "Latest test", no_test: "No test", negative: "Negative", positive: "Positive",
  pending: "Pending", test_type: "Type", rapid_antigen: "Rapid antigen", test_date: "Date",
  consent: "I agree to face recognition at checkpoints", submit: "Submit declaration",
  done: "Declared", show_qr: "Show this QR code to the officer at the checkpoint.",
  valid_until: "Valid until", declaration_id: "Declaration id", again: "New declaration",
  continue_checkin: "Continue checking in", qr_alt: "QR code of the declaration",
  choose: "— choose —", network: "Network error, please retry.", remove: "Remove this place",
  travel_date: "Date",
};
const VI = {};
let lang = localStorage.getItem("dichte.lang") || "vi";
const $ = (id) => document.getElementById(id);

function t(key) { return (lang === "en" ? EN[key] : VI[key]) || VI[key] || key; }

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-alt]").forEach((el) => { el.alt = t(el.dataset.i18nAlt); });
  document.querySelectorAll("[data-i18n-label]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  });
  // The switch names the other language, in that language.
  $("lang").textContent = lang === "vi" ? "English" : "Tiếng Việt";
  $("lang").lang = lang === "vi" ? "en" : "vi";
  document.querySelectorAll("option[value='']").forEach((o) => {
    if (!o.dataset.i18n) o.textContent = t("choose");
  });
  if (lastErrors) showErrors(lastErrors, false);
}

document.querySelectorAll("[data-i18n]").forEach((el) => { VI[el.dataset.i18n] = el.textContent; });
VI.choose = "— chọn —"; VI.network = "Lỗi mạng, vui lòng thử lại."; VI.remove = "Xóa nơi này";
VI.qr_alt = $("qr").alt; VI.travel_date = "Ngày";

// Each field's message is tied to its control (aria-describedby), so a screen reader
// reads it with the label when the control gets focus; one role=alert per field would
// read every message at once.
function describe(field) {
  const err = field.querySelector(":scope > .err");
  const control = field.querySelector(":scope > input, :scope > select");
  if (!err || !control) return;
  err.id = `${control.id}_err`;
  control.setAttribute("aria-describedby", err.id);
}
document.querySelectorAll(".field").forEach(describe);

let provinces = [];
async function loadProvinces() {
  const res = await fetch("/api/v1/admin-units/provinces");
  provinces = await res.json();
  document.querySelectorAll("select.province").forEach((sel) => fillProvinces(sel));
}

function fillProvinces(sel) {
  sel.innerHTML = "";
  sel.append(new Option(t("choose"), ""));
  provinces.forEach((p) => sel.append(new Option(p.name, p.code)));
}

async function loadCommunes(provinceCode, target) {
  target.innerHTML = "";
  target.append(new Option(t("choose"), ""));
  if (!provinceCode) return;
  const res = await fetch(`/api/v1/admin-units/provinces/${provinceCode}/communes`);
  (await res.json()).forEach((c) => target.append(new Option(c.name, c.code)));
}

$("residence_province").addEventListener("change", (e) => loadCommunes(e.target.value, $("residence_commune")));
$("document_type").addEventListener("change", (e) => {
  $("nationality_field").hidden = e.target.value !== "passport";
  // Passport numbers have letters: a digits-only keyboard would lock them out.
  $("document_number").inputMode = e.target.value === "passport" ? "text" : "numeric";
});
$("test_result").addEventListener("change", (e) => { $("test_details").hidden = !e.target.value; });

// Rows are numbered by their place in the list when sent (the server's
// travel_history.N); ids only need to be unique, so they come from a counter.
let travelCount = 0;
function renumberTravel() {
  document.querySelectorAll(".travel-row").forEach((row, i) => {
    row.querySelector(".travel-province").parentElement.dataset.field = `travel_history.${i}.province_code`;
    row.querySelector(".travel-date").parentElement.dataset.field = `travel_history.${i}.date`;
  });
}
$("add_travel").addEventListener("click", () => {
  const n = travelCount++;
  const row = document.createElement("div");
  row.className = "travel-row";
  row.innerHTML = `
    <div class="field"><label for="travel_province_${n}" data-i18n="province"></label><select id="travel_province_${n}" class="province travel-province" required></select><p class="err"></p></div>
    <div class="field"><label for="travel_date_${n}" data-i18n="travel_date"></label><input id="travel_date_${n}" type="date" class="travel-date" required><p class="err"></p></div>
    <button type="button" data-i18n-label="remove">✕</button>`;
  row.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  row.querySelector("button").setAttribute("aria-label", t("remove"));
  row.querySelectorAll(".field").forEach(describe);
  fillProvinces(row.querySelector("select"));
  row.querySelector("button").addEventListener("click", () => { row.remove(); renumberTravel(); });
  $("travel_rows").append(row);
  renumberTravel();
  row.querySelector("select").focus();
});

const checked = (name) => document.querySelector(`input[name=${name}]`).checked;
// Whatever is left empty goes as null: the server then names the field by its path and
// says what to do ("Choose your province."), where an empty string or a 0 would pass
// the type check or be reported as a format error.
const intOrNull = (v) => (v === "" ? null : Number(v));
const textOrNull = (v) => (v.trim() === "" ? null : v);
const valueOrNull = (id) => textOrNull($(id).value);
// A trip end without a province is no place at all: null, reported on the whole place.
const placeOf = (id) => ($(id).value === "" ? null : { province_code: Number($(id).value) });

function collect() {
  const testResult = $("test_result").value;
  return {
    full_name: valueOrNull("full_name"),
    document_type: valueOrNull("document_type"),
    document_number: valueOrNull("document_number"),
    nationality: $("document_type").value === "passport" ? valueOrNull("nationality") : "VN",
    date_of_birth: valueOrNull("date_of_birth"),
    sex: valueOrNull("sex"),
    phone: valueOrNull("phone"),
    residence: {
      province_code: intOrNull($("residence_province").value),
      commune_code: intOrNull($("residence_commune").value),
      street: $("residence_street").value,
    },
    coming_from: placeOf("from_province"),
    going_to: placeOf("to_province"),
    vehicle: { type: valueOrNull("vehicle_type"), plate: $("vehicle_plate").value },
    travel_history: [...document.querySelectorAll(".travel-row")].map((row) => ({
      province_code: intOrNull(row.querySelector("select").value),
      date: row.querySelector("input").value || null,
    })),
    symptoms: {
      fever: checked("fever"), cough: checked("cough"),
      shortness_of_breath: checked("shortness_of_breath"), sore_throat: checked("sore_throat"),
      loss_of_taste_smell: checked("loss_of_taste_smell"), fatigue: checked("fatigue"),
      other: $("symptoms_other").value,
    },
    exposure: {
      contact_with_case: checked("contact_with_case"),
      been_in_outbreak_area: checked("been_in_outbreak_area"),
    },
    vaccination_doses: intOrNull($("vaccination_doses").value),
    latest_test: testResult
      ? { type: valueOrNull("test_type"), date: valueOrNull("test_date"), result: testResult }
      : null,
    biometric_consent: checked("biometric_consent"),
  };
}

let lastErrors = null;
function clearErrors() {
  document.querySelectorAll(".field").forEach((f) => {
    f.classList.remove("invalid");
    f.querySelector(":scope > .err").textContent = "";
    f.querySelectorAll(":scope > input, :scope > select").forEach((c) => c.removeAttribute("aria-invalid"));
  });
  $("form_error").textContent = "";
}

const visible = (el) => el && !el.closest("[hidden]");

function fieldFor(path) {
  // A path like "residence.commune_code" or "travel_history.0.date". An error on a
  // whole group ("coming_from": no place given) goes to the group's first field; an
  // error on a part the page lacks goes to its nearest parent.
  const exact = document.querySelector(`.field[data-field="${path}"]`);
  if (visible(exact)) return exact;
  const inside = document.querySelector(`.field[data-field^="${path}."]`);
  if (visible(inside)) return inside;
  const parts = path.split(".");
  while (parts.pop() !== undefined && parts.length) {
    const el = document.querySelector(`.field[data-field="${parts.join(".")}"]`);
    if (visible(el)) return el;
  }
  return null;
}

function showErrors(errors, focus = true) {
  clearErrors();
  lastErrors = errors;
  let first = null;
  errors.forEach((e) => {
    const msg = lang === "en" ? e.message_en : e.message_vi;
    const field = fieldFor(e.field);
    if (field) {
      field.classList.add("invalid");
      const p = field.querySelector(":scope > .err");
      p.textContent = p.textContent ? `${p.textContent} ${msg}` : msg;
      const control = field.querySelector(":scope > input, :scope > select");
      if (control) control.setAttribute("aria-invalid", "true");
      first = first || control || field;
    } else {
      $("form_error").textContent += `${msg} `;
    }
  });
  if (!focus) return;  // a language switch re-words the messages; it does not move the page
  if (first && first.focus) {
    first.focus();
    first.scrollIntoView({ block: "center" });
  } else {
    $("form_error").scrollIntoView({ block: "center" });
  }
}

// One Idempotency-Key per form content: a retry after a lost answer sends the same key
// and gets the first record back (and its receipt secret) instead of a duplicate; a
// changed form, or a new declaration after a success, gets a new key.
let attempt = null;  // {key, body}
function newKey() {
  // randomUUID exists only in secure contexts (https, localhost); a checkpoint's plain
  // http address still has getRandomValues.
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
function keyFor(body) {
  if (!attempt || attempt.body !== body) attempt = { key: newKey(), body };
  return attempt.key;
}

$("declaration").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors();
  lastErrors = null;
  $("submit").disabled = true;
  try {
    const sent = JSON.stringify(collect());
    const res = await fetch("/api/v1/declarations", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": keyFor(sent) },
      body: sent,
    });
    const body = await res.json();
    if (!res.ok) { showErrors(body.errors || []); return; }
    attempt = null;
    // This phone's own token: venue posters' check-in links use it (see checkin.js).
    const previous = localStorage.getItem("dichte.person_token");
    localStorage.setItem("dichte.person_token", body.qr_token);
    // The receipt secret proves this phone sent the declaration (self-service face
    // enrolment and deletion): kept beside the token, never put on the page.
    if (body.receipt_secret) localStorage.setItem("dichte.receipt_secret", body.receipt_secret);
    else if (previous !== body.qr_token) localStorage.removeItem("dichte.receipt_secret");
    const pending = sessionStorage.getItem("dichte.pending_checkin");
    $("continue_checkin").hidden = !pending;
    if (pending) $("continue_checkin").href = pending;
    $("qr").src = body.qr_svg_url;
    $("declaration_id").textContent = body.id;
    $("expires").textContent = new Date(body.expires_at).toLocaleString(lang === "en" ? "en-GB" : "vi-VN");
    $("declaration").hidden = true;
    $("result").hidden = false;
    window.scrollTo(0, 0);
    $("result_title").focus();  // the form just vanished: say where the person now is
  } catch (err) {
    $("form_error").textContent = t("network");
  } finally {
    $("submit").disabled = false;
  }
});

$("again").addEventListener("click", () => {
  $("result").hidden = true;
  $("declaration").hidden = false;
  $("full_name").focus();
});

$("lang").addEventListener("click", () => {
  lang = lang === "vi" ? "en" : "vi";
  localStorage.setItem("dichte.lang", lang);
  applyLanguage();
});

loadProvinces().then(applyLanguage);
