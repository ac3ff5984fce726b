"use strict";
// What the staff pages share (the lane view, a unit's work page): building nodes with
// text only (never markup from data), the API's error shape, and a live stream read with
// fetch, so it carries the token in a header and resumes where it stopped.

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

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function errorsOf(res) {
  try {
    const body = await res.json();
    if (body && Array.isArray(body.errors)) return body.errors;
  } catch (_) { /* not the API's shape */ }
  return [{ code: String(res.status), message_vi: `Lỗi ${res.status}.`, message_en: `Error ${res.status}.` }];
}

// One server-sent event ({id, event, data}) from its block of lines; null for a comment.
function sseMessage(block) {
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

// Follows a stream from after `cursor` (sent as Last-Event-ID) while current() holds; on
// a drop it resumes after the last event it got. The server says something at least
// every 15 s, so 45 s of silence counts as a drop. A 4xx ends it through onRefused.
async function followStream({ url, token, cursor, current, onEvent, onState, onRefused, setAbort }) {
  let delay = 1000;
  while (current()) {
    const control = new AbortController();
    setAbort(control);
    let watchdog = null;
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => control.abort(), 45_000);
    };
    try {
      onState("live");
      kick();
      const res = await fetch(url, {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream", "Last-Event-ID": cursor },
        cache: "no-store",
        signal: control.signal,
      });
      if (!current()) return;
      if (res.status >= 400 && res.status < 500) { await onRefused(res); return; }
      if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done || !current()) break;
        kick();
        delay = 1000;
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const got = sseMessage(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (got) {
            onEvent(got);
            if (got.id) cursor = got.id;
          }
        }
      }
    } catch (_) {
      // dropped, aborted by the watchdog, or the network is down: try again below
    } finally {
      clearTimeout(watchdog);
    }
    if (!current()) return;
    onState("reconnecting");
    await pause(delay);
    delay = Math.min(delay * 2, 15_000);
  }
}

const TOKEN_KEY = "dichte.staff_token";

// A staff page's frame around its own view: the staff token kept on this device and the
// form that asks for it, the language switch, the connection line, and the API's refusals
// shown in the page's language. `prefix` names the page's elements (<prefix>_login,
// _token, _open, _login_error, _error, _bar, _conn, _signout, _loading, _view); `words`
// holds its texts by language; `start` opens the view with the token; `render` draws the
// page (the frame's part is `page.renderFrame()`); `signedOut` forgets the view's data.
function staffPage({ prefix, words, start, render, signedOut }) {
  const part = (name) => document.getElementById(`${prefix}_${name}`);
  const page = {
    lang: localStorage.getItem("dichte.lang") === "en" ? "en" : "vi",
    token: localStorage.getItem(TOKEN_KEY),
    generation: 0,     // a new token (or sign-out) ends the previous session's stream
    stream: null,      // the AbortController of the open stream
    connection: null,  // "live" | "reconnecting" | "network"
    shownError: null,  // {errors, where}: re-worded when the language changes
    t: (key) => words[page.lang][key] || words.vi[key] || key,
    api: (path, options = {}) => fetch(path, {
      ...options, headers: { Authorization: `Bearer ${page.token}`, ...(options.headers || {}) },
    }),
    // A new session: the previous one's stream ends; `current(session)` says if it is still on.
    session() {
      page.generation += 1;
      if (page.stream) page.stream.abort();
      return page.generation;
    },
    current: (session) => session === page.generation,
    renderFrame() {
      document.documentElement.lang = page.lang;
      document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = page.t(node.dataset.i18n); });
      // The switch names the other language, in that language.
      document.getElementById("lang").textContent = page.lang === "vi" ? "English" : "Tiếng Việt";
      document.getElementById("lang").lang = page.lang === "vi" ? "en" : "vi";
      page.renderError();
      page.setConnection(page.connection);
    },
    renderError() {
      const shown = page.shownError;
      const target = shown && shown.where === "login" ? part("login_error") : part("error");
      part("login_error").textContent = "";
      part("error").textContent = "";
      if (!shown) return;
      target.textContent = shown.errors
        .map((e) => (page.lang === "en" ? e.message_en : e.message_vi) || e.code).join(" ");
    },
    showError(errors, where) {
      page.shownError = errors ? { errors, where } : null;
      page.renderError();
    },
    setConnection(state) {
      page.connection = state;
      part("conn").textContent = state ? page.t(state) : "";
      part("conn").dataset.state = state || "";
    },
    // A refusal: a bad token asks for another; anything else is shown and ends the view.
    async refused(res) {
      const errors = await errorsOf(res);
      if (res.status === 401) page.askToken(errors);
      else {
        page.showError(errors, "page");
        part("view").hidden = true;
      }
    },
    // Loading: the view hidden, the bar with the sign-out shown.
    opening() {
      part("login").hidden = true;
      part("view").hidden = true;
      part("bar").hidden = false;
      part("loading").hidden = false;
    },
    // GETs each path in turn, again while the network fails (after 1 s, doubling up to
    // 15 s): their bodies, or null once a path is refused (said on the page) or the
    // session has ended.
    async load(session, paths) {
      for (let delay = 1000; ; delay = Math.min(delay * 2, 15_000)) {
        try {
          const bodies = [];
          for (const path of paths) {
            const res = await page.api(path);
            if (!page.current(session)) return null;
            if (!res.ok) {
              part("loading").hidden = true;
              await page.refused(res);
              return null;
            }
            bodies.push(await res.json());
          }
          return bodies;
        } catch (_) {
          if (!page.current(session)) return null;
          page.setConnection("network");
          await pause(delay);
        }
      }
    },
    opened() {
      page.showError(null);
      page.setConnection(null);
      part("loading").hidden = true;
      part("view").hidden = false;
    },
    askToken(errors) {
      page.session();
      page.token = null;
      localStorage.removeItem(TOKEN_KEY);
      signedOut();
      page.setConnection(null);
      part("loading").hidden = true;
      part("view").hidden = true;
      part("bar").hidden = true;
      part("login").hidden = false;
      part("token").value = "";
      if (errors) part("token").setAttribute("aria-invalid", "true");
      else part("token").removeAttribute("aria-invalid");
      page.showError(errors, "login");
      render();
      part("token").focus();
    },
    boot() {
      render();
      if (page.token) start();
      else page.askToken(null);
    },
  };
  part("login").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = part("token").value.trim();
    if (!value) {
      page.showError([{ code: "required", message_vi: words.vi.token_needed, message_en: words.en.token_needed }], "login");
      part("token").setAttribute("aria-invalid", "true");
      part("token").focus();
      return;
    }
    page.token = value;
    localStorage.setItem(TOKEN_KEY, page.token);
    part("token").removeAttribute("aria-invalid");
    page.showError(null);
    start();
  });
  part("signout").addEventListener("click", () => page.askToken(null));
  document.getElementById("lang").addEventListener("click", () => {
    page.lang = page.lang === "vi" ? "en" : "vi";
    localStorage.setItem("dichte.lang", page.lang);
    render();
  });
  return page;
}
