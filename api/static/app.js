"use strict";
// The declaration page: no framework, no CDN. Errors come back from the API in one
// shape ({errors:[{field, code, message_vi, message_en}]}) and are shown next to the
// element whose data-field matches.

const EN = {
  title: "Health declaration", personal: "Personal details", full_name: "Full name",
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
  continue_checkin: "Continue checking in",
  choose: "— choose —", network: "Network error, please retry.", remove: "Remove",
};
const VI = {};
let lang = localStorage.getItem("dichte.lang") || "vi";
const $ = (id) => document.getElementById(id);

function t(key) { return (lang === "en" ? EN[key] : VI[key]) || VI[key] || key; }

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = lang === "vi" ? "English" : "Tiếng Việt";
  document.querySelectorAll("option[value='']").forEach((o) => {
    if (!o.dataset.i18n) o.textContent = t("choose");
  });
  if (lastErrors) showErrors(lastErrors);
}

document.querySelectorAll("[data-i18n]").forEach((el) => { VI[el.dataset.i18n] = el.textContent; });
VI.choose = "— chọn —"; VI.network = "Lỗi mạng, vui lòng thử lại."; VI.remove = "Xóa";

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
});
$("test_result").addEventListener("change", (e) => { $("test_details").hidden = !e.target.value; });

let travelCount = 0;
$("add_travel").addEventListener("click", () => {
  const i = travelCount++;
  const row = document.createElement("div");
  row.className = "travel-row";
  row.innerHTML = `
    <div class="field" data-field="travel_history.${i}.province_code"><select class="province travel-province"></select><p class="err" role="alert"></p></div>
    <div class="field" data-field="travel_history.${i}.date"><input type="date" class="travel-date"><p class="err" role="alert"></p></div>
    <button type="button" aria-label="${t("remove")}">✕</button>`;
  fillProvinces(row.querySelector("select"));
  row.querySelector("button").addEventListener("click", () => row.remove());
  $("travel_rows").append(row);
});

const checked = (name) => document.querySelector(`input[name=${name}]`).checked;
const intOrNull = (v) => (v === "" ? null : Number(v));

function collect() {
  const testResult = $("test_result").value;
  return {
    full_name: $("full_name").value,
    document_type: $("document_type").value,
    document_number: $("document_number").value,
    nationality: $("document_type").value === "passport" ? $("nationality").value : "VN",
    date_of_birth: $("date_of_birth").value || null,
    sex: $("sex").value,
    phone: $("phone").value,
    residence: {
      province_code: intOrNull($("residence_province").value),
      commune_code: intOrNull($("residence_commune").value),
      street: $("residence_street").value,
    },
    coming_from: { province_code: intOrNull($("from_province").value) },
    going_to: { province_code: intOrNull($("to_province").value) },
    vehicle: { type: $("vehicle_type").value, plate: $("vehicle_plate").value },
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
    vaccination_doses: Number($("vaccination_doses").value || 0),
    latest_test: testResult
      ? { type: $("test_type").value, date: $("test_date").value || null, result: testResult }
      : null,
    biometric_consent: checked("biometric_consent"),
  };
}

let lastErrors = null;
function clearErrors() {
  document.querySelectorAll(".field").forEach((f) => {
    f.classList.remove("invalid");
    f.querySelector(".err").textContent = "";
  });
  $("form_error").textContent = "";
}

function fieldFor(path) {
  // A path like "residence.commune_code" or "travel_history.0.date"; fall back to its parent.
  const parts = path.split(".");
  while (parts.length) {
    const el = document.querySelector(`.field[data-field="${parts.join(".")}"]`);
    if (el) return el;
    parts.pop();
  }
  return null;
}

function showErrors(errors) {
  clearErrors();
  lastErrors = errors;
  let first = null;
  errors.forEach((e) => {
    const msg = lang === "en" ? e.message_en : e.message_vi;
    const field = fieldFor(e.field);
    if (field) {
      field.classList.add("invalid");
      const p = field.querySelector(".err");
      p.textContent = p.textContent ? `${p.textContent} ${msg}` : msg;
      first = first || field;
    } else {
      $("form_error").textContent += `${msg} `;
    }
  });
  (first || $("form_error")).scrollIntoView({ block: "center" });
}

$("declaration").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors();
  lastErrors = null;
  $("submit").disabled = true;
  try {
    const res = await fetch("/api/v1/declarations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(collect()),
    });
    const body = await res.json();
    if (!res.ok) { showErrors(body.errors || []); return; }
    // This phone's own token: venue posters' check-in links use it (see checkin.js).
    localStorage.setItem("dichte.person_token", body.qr_token);
    const pending = sessionStorage.getItem("dichte.pending_checkin");
    $("continue_checkin").hidden = !pending;
    if (pending) $("continue_checkin").href = pending;
    $("qr").src = body.qr_svg_url;
    $("declaration_id").textContent = body.id;
    $("expires").textContent = new Date(body.expires_at).toLocaleString(lang === "en" ? "en-GB" : "vi-VN");
    $("declaration").hidden = true;
    $("result").hidden = false;
    window.scrollTo(0, 0);
  } catch (err) {
    $("form_error").textContent = t("network");
  } finally {
    $("submit").disabled = false;
  }
});

$("again").addEventListener("click", () => {
  $("result").hidden = true;
  $("declaration").hidden = false;
});

$("lang").addEventListener("click", () => {
  lang = lang === "vi" ? "en" : "vi";
  localStorage.setItem("dichte.lang", lang);
  applyLanguage();
});

loadProvinces().then(applyLanguage);
