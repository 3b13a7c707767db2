// Sessions: the list (filtered, live), and one session's transcript (live), with
// client and server bytes told apart, commands and replies explained, TLS marked,
// a hex view and a download.
import { api, debounce, download, errorBox, h, q, size, stream, title, when } from "./util.js";
import { explainChunk, explainLine, lineBased, protocolName, protocolOf } from "./explain.js";

export function render(root, id) {
  return id ? transcript(root, id) : list(root);
}

function list(root) {
  const service = h("select", { id: "s-service" }, h("option", { value: "", text: "every service" }));
  const state = h("select", { id: "s-state" },
    h("option", { value: "", text: "open and closed" }),
    h("option", { value: "true", text: "open" }),
    h("option", { value: "false", text: "closed" }));
  const text = h("input", { id: "s-text", type: "search", placeholder: "peer, user, id" });
  const body = h("tbody");
  const status = h("p", { class: "muted", role: "status" });
  root.append(
    title("Sessions"),
    h("div", { class: "filters" },
      h("label", { for: "s-service", text: "Service" }), service,
      h("label", { for: "s-state", text: "State" }), state,
      h("label", { for: "s-text", text: "Find" }), text),
    status,
    h("div", { class: "scroll" }, h("table", { class: "list", id: "sessions" },
      h("thead", {}, h("tr", {}, ["Session", "Service", "Peer", "User", "TLS", "Opened", "State", "In", "Out"].map(
        (c) => h("th", { scope: "col", text: c })))),
      body)));
  const seen = new Set();
  async function load() {
    let answer;
    try {
      answer = await api(`/api/sessions${q({ service: service.value, open: state.value })}`);
    } catch (e) {
      status.replaceChildren(errorBox(e));
      return;
    }
    const needle = text.value.trim().toLowerCase();
    const rows = answer.sessions.slice().reverse().filter((s) =>
      !needle || [s.id, s.peer, s.user].some((v) => String(v || "").toLowerCase().includes(needle)));
    for (const s of answer.sessions) {
      if (!seen.has(s.service)) {
        seen.add(s.service);
        service.append(h("option", { value: s.service, text: s.service }));
      }
    }
    status.textContent = `${rows.length} session${rows.length === 1 ? "" : "s"}`;
    body.replaceChildren(...rows.map((s) => h("tr", { class: s.open ? "open" : "" },
      h("td", {}, h("a", { href: `#/sessions/${encodeURIComponent(s.id)}`, text: s.id })),
      h("td", { text: s.service }), h("td", { text: s.peer || "" }), h("td", { text: s.user || "" }),
      h("td", { text: s.tls ? s.tls.version || "yes" : "" }), h("td", { text: when(s.opened) }),
      h("td", { text: s.open ? "open" : "closed" }), h("td", { text: size(s.bytes_in) }),
      h("td", { text: size(s.bytes_out) }))));
  }
  const later = debounce(load, 250);
  for (const control of [service, state]) control.addEventListener("change", load);
  text.addEventListener("input", later);
  load();
  return stream.on((event) => {
    if (event.kind.startsWith("session.")) later();
  });
}

function hexDump(data) {
  const lines = [];
  for (let at = 0; at < data.length; at += 16) {
    const slice = data.slice(at, at + 16);
    const hex = [...slice].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    const ascii = [...slice].map((c) => (c >= " " && c <= "~" ? c : ".")).join("");
    lines.push(`${at.toString(16).padStart(6, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n");
}

// Control and non-ASCII bytes as \r, \t or \xNN, so a learner sees every byte.
function visible(text) {
  return text.replace(/[\x00-\x1f\x7f-\xff]/g, (c) =>
    ({ "\r": "\\r", "\t": "\\t", "\n": "\\n" })[c] || `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

// One line of a chunk as shown: its ending marked ↵ for CRLF, \n for a bare LF.
function shownLine(line, ended) {
  if (!ended) return visible(line);
  return line.endsWith("\r") ? `${visible(line.slice(0, -1))}↵` : `${visible(line)}\\n`;
}

function transcript(root, id) {
  const head = h("dl", { class: "facts" });
  const hex = h("input", { type: "checkbox", id: "t-hex" });
  const hexBox = hex;
  const lines = h("ol", { class: "transcript", id: "transcript", "aria-label": "Transcript" });
  const note = h("p", { class: "muted", role: "status" });
  let record = null;
  let tlsShown = false;
  let protocol = null;
  const chunks = [];
  root.append(
    h("p", {}, h("a", { href: "#/sessions", text: "← all sessions" })),
    title(`Session ${id}`),
    head,
    h("div", { class: "filters" },
      hex,
      h("label", { for: "t-hex", text: "Hex view" }),
      h("button", { type: "button", onclick: () => download(`/api/sessions/${encodeURIComponent(id)}/transcript.txt`, `${id}.txt`), text: "Download transcript" }),
      h("span", { class: "legend" }, h("span", { class: "dir in", text: "C" }), " client  ",
        h("span", { class: "dir out", text: "S" }), " server")),
    note,
    lines);
  hex.addEventListener("change", redraw);

  function facts() {
    const rows = [["Service", record.service], ["Protocol", protocolName(protocol)], ["Peer", record.peer],
      ["Listener", record.listener], ["User", record.user],
      ["TLS", record.tls ? `${record.tls.version || ""} ${record.tls.cipher || ""}` : ""],
      ["Opened", when(record.opened)], ["State", record.open ? "open" : `closed (${record.duration ?? "?"} s)`]];
    head.replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  }

  function tlsMarker() {
    const tls = record.tls || {};
    return h("li", { class: "tls", text: `TLS started ${[tls.version, tls.cipher].filter(Boolean).join(", ")} — what follows is the plaintext inside TLS` });
  }

  function draw(chunk) {
    if (!tlsShown && record && record.tls_started !== undefined && chunk.seq > record.tls_started) {
      lines.append(tlsMarker());
      tlsShown = true;
    }
    const who = chunk.direction === "in" ? "C" : "S";
    const data = String(chunk.data || "");
    const item = h("li", { class: `chunk ${chunk.direction}`, "data-seq": chunk.seq });
    const side = h("span", { class: `dir ${chunk.direction}`, title: chunk.direction === "in" ? "client" : "server", text: who });
    if (chunk.redacted) item.classList.add("redacted");
    if (hexBox.checked) {
      item.append(side, h("pre", { class: "hex", text: hexDump(data) }));
    } else if (!lineBased(protocol)) {
      const explained = explainChunk(protocol, chunk);
      const parts = data.split("\n");
      if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
      const shown = parts.map((line, n) => shownLine(line, n < parts.length - 1 || data.endsWith("\n")));
      item.append(side, h("pre", { class: "data", text: shown.join("\n") }),
        explained ? h("span", { class: "explain" }, h("b", { text: explained.token }), " ", explained.text) : "");
    } else {
      const parts = data.split("\n");
      if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
      // a chunk the server saw no command in (a message body) is not read line by line
      const commands = chunk.direction === "out" || chunk.command;
      const rows = parts.map((line, n) => {
        const explained = commands && (n === 0 || chunk.direction === "out" || chunk.command)
          ? explainLine(protocol, chunk.direction, line.replace(/\r$/, "")) : null;
        return h("div", { class: "line" },
          h("code", { text: shownLine(line, n < parts.length - 1 || data.endsWith("\n")) }),
          explained ? h("span", { class: "explain" }, h("b", { text: explained.token }), " ", explained.text) : "");
      });
      item.append(side, h("div", { class: "lines" }, rows));
    }
    if (chunk.redacted) item.append(h("span", { class: "badge", text: "redacted" }));
    if (chunk.size > data.length) item.append(h("span", { class: "badge", text: `${chunk.size} bytes, first ${data.length} shown` }));
    lines.append(item);
  }

  function redraw() {
    tlsShown = false;
    lines.replaceChildren();
    chunks.forEach(draw);
    if (record && record.tls_started !== undefined && !tlsShown) {
      lines.append(tlsMarker());
      tlsShown = true;
    }
  }

  let loaded = false;
  const pending = [];
  api(`/api/sessions/${encodeURIComponent(id)}/transcript`).then((answer) => {
    record = answer.session;
    protocol = protocolOf(record.service);
    chunks.push(...answer.chunks);
    const last = chunks.length ? chunks[chunks.length - 1].seq : 0;
    for (const c of pending) if (c.seq > last) chunks.push(c);
    loaded = true;
    facts();
    note.textContent = chunks.length ? "" : "No transcript chunks (transcripts off, or dropped by retention).";
    redraw();
  }).catch((e) => note.replaceChildren(errorBox(e)));

  return stream.on((event) => {
    if (event.session !== id) return;
    if (event.kind === "wire.in" || event.kind === "wire.out") {
      const chunk = { seq: event.seq, time: event.time, direction: event.kind === "wire.in" ? "in" : "out", ...event.fields };
      if (!loaded) { pending.push(chunk); return; }
      if (chunks.length && chunk.seq <= chunks[chunks.length - 1].seq) return;
      chunks.push(chunk);
      note.textContent = "";
      draw(chunk);
    } else if (event.kind.startsWith("session.") && loaded) {
      if (event.kind === "session.tls") {
        record.tls = event.fields;
        record.tls_started = event.seq;
      } else if (event.kind === "session.closed") {
        Object.assign(record, event.fields, { open: false, closed: event.time });
      } else if (event.kind === "session.user") {
        record.user = event.fields.user;
      }
      facts();
    }
  });
}
