// Dashboard: services, listeners, open sessions, counters and recent errors, live.
import { api, debounce, errorBox, h, sessionLink, short, stream, title, when } from "./util.js";

const CALM_CLOSES = new Set(["client closed", "server closed", "answered"]);

function isError(e) {
  if (/(^|\.)(failed|error)$/.test(e.kind) || e.kind.endsWith(".failed")) return true;
  if (e.fields && e.fields.fault) return true;
  return e.kind === "session.closed" && e.fields && e.fields.reason && !CALM_CLOSES.has(e.fields.reason);
}

export function render(root) {
  const services = h("tbody", { id: "services" });
  const totals = h("p", { class: "totals", id: "totals" });
  const errors = h("ol", { class: "tail", id: "errors", reversed: true });
  root.append(title("Dashboard"), totals,
    h("h2", { text: "Services" }),
    h("div", { class: "scroll" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["Service", "Listening on", "Open sessions", "Events", "Most frequent"].map((c) => h("th", { scope: "col", text: c })))),
      services)),
    h("h2", { text: "Recent errors" }), errors);

  async function load() {
    let answer;
    let open;
    try {
      [answer, open] = await Promise.all([api("/api/services"), api("/api/sessions?open=true")]);
    } catch (e) {
      totals.replaceChildren(errorBox(e));
      return;
    }
    const openBy = {};
    for (const s of open.sessions) openBy[s.service] = (openBy[s.service] || 0) + 1;
    let events = 0;
    services.replaceChildren(...answer.services.map((s) => {
      const kinds = Object.entries(s.events.by_kind || {}).filter(([k]) => !k.startsWith("wire."));
      const total = kinds.reduce((n, [, c]) => n + c, 0);
      events += total;
      kinds.sort((a, b) => b[1] - a[1]);
      return h("tr", { "data-service": s.name },
        h("th", { scope: "row", text: s.name }),
        h("td", { text: s.listeners.map((l) => `${l.tls ? "tls " : ""}${l.port === null ? l.path : `${l.host}:${l.port}`}`).join(", ") }),
        h("td", { text: openBy[s.name] || 0 }),
        h("td", { text: total }),
        h("td", { text: kinds.slice(0, 3).map(([k, c]) => `${k} ${c}`).join(", ") }));
    }));
    totals.textContent = `${answer.services.length} services · ${open.sessions.length} open sessions · ${events} events · node ${answer.node}`;
  }
  const later = debounce(load, 500);

  function addError(e) {
    errors.prepend(h("li", {}, h("span", { class: "muted", text: `${when(e.time)} ` }),
      h("b", { text: `${e.service} ${e.kind} ` }), h("code", { text: short(e.fields, 200) }), " ", sessionLink(e.session)));
    while (errors.children.length > 20) errors.lastChild.remove();
  }
  api(`/api/events?after=${Math.max(0, stream.cursor - 5000)}&limit=5000`).then((found) => {
    found.events.filter(isError).slice(-20).forEach(addError);
    if (!errors.children.length) errors.append(h("li", { class: "muted none", text: "none" }));
  }).catch(() => {});
  load();
  return stream.on((e) => {
    if (!e.kind.startsWith("wire.")) later();
    if (isError(e)) {
      errors.querySelector(".none")?.remove();
      addError(e);
    }
  });
}
