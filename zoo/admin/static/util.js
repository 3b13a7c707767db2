// Shared helpers of the zoo page: building elements, the API with the token, the
// live event stream, downloads. Nothing here ever parses text as HTML.

const TOKEN_KEY = "zoo-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// h("tr", {class: "x", onclick: f}, child, "text", [more]): an element, its attributes
// (functions become listeners, `text` sets textContent) and children (text is text).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// An API call with the token. `json` sends a JSON body; `body` sends bytes as they are.
// Answers the parsed JSON, or the Response itself with `raw: true`.
export async function api(path, { method = "GET", json, body, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const answer = await fetch(path, { method, headers, body, cache: "no-store" });
  if (!answer.ok) {
    let message = `${answer.status} ${answer.statusText}`;
    try {
      const error = (await answer.json()).error;
      if (error) message = typeof error === "string" ? error : JSON.stringify(error);
    } catch (e) {
      // not JSON: keep the status line
    }
    if (answer.status === 401) window.dispatchEvent(new CustomEvent("zoo-unauthorised"));
    throw new ApiError(answer.status, message);
  }
  return raw ? answer : answer.json();
}

// Fetch `path` with the token and save it as `name` (the link never holds the token).
export async function download(path, name) {
  const answer = await api(path, { raw: true });
  const url = URL.createObjectURL(await answer.blob());
  const link = h("a", { href: url, download: name || "download" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function q(params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") search.set(k, v);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// The one event stream of the page: every view registers a listener while shown.
export const stream = {
  listeners: new Set(),
  source: null,
  cursor: 0,
  onstatus: () => {},
  start(cursor) {
    this.stop();
    this.cursor = cursor;
    const url = `/api/events/stream${q({ after: cursor, keepalive: 10, token: token() })}`;
    const source = new EventSource(url);
    source.onopen = () => this.onstatus("live");
    source.onerror = () => this.onstatus(source.readyState === 2 ? "offline" : "reconnecting");
    source.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      this.cursor = Math.max(this.cursor, event.seq);
      for (const listener of [...this.listeners]) {
        try {
          listener(event);
        } catch (e) {
          console.error(e);
        }
      }
    };
    this.source = source;
  },
  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this.onstatus("offline");
  },
  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  },
};

// Call `fn` at most once per `ms`, after the last call (a burst of events, one refresh).
export function debounce(fn, ms = 300) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function when(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function size(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function short(value, n = 120) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > n ? text.slice(0, n) + "…" : text;
}

// A heading, focused when the view is shown (keyboard and screen-reader users land on it).
export function title(text) {
  return h("h1", { tabindex: "-1", class: "view-title", text });
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert", text: error.message || String(error) });
}

export function sessionLink(id) {
  if (!id) return "";
  return h("a", { href: `#/sessions/${encodeURIComponent(id)}`, text: id });
}
