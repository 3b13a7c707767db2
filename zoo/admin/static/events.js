// Events: a filterable live log of everything the zoo reports.
import { api, h, q, sessionLink, short, stream, title, when } from "./util.js";

const KEPT = 1000;

export function render(root) {
  const service = h("input", { id: "e-service", type: "search", placeholder: "smtp", list: "e-services" });
  const kind = h("input", { id: "e-kind", type: "search", placeholder: "mail. or session.opened" });
  const text = h("input", { id: "e-text", type: "search", placeholder: "any text" });
  const wire = h("input", { id: "e-wire", type: "checkbox" });
  const pause = h("input", { id: "e-pause", type: "checkbox" });
  const known = h("datalist", { id: "e-services" });
  const body = h("tbody", { id: "events" });
  const count = h("p", { class: "muted", role: "status" });
  root.append(title("Events"),
    h("div", { class: "filters" },
      h("label", { for: "e-service", text: "Service" }), service, known,
      h("label", { for: "e-kind", text: "Kind" }), kind,
      h("label", { for: "e-text", text: "Text" }), text,
      wire, h("label", { for: "e-wire", text: "Transcript chunks" }),
      pause, h("label", { for: "e-pause", text: "Pause" })),
    count,
    h("div", { class: "scroll" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["#", "Time", "Service", "Kind", "Session", "Fields"].map((c) => h("th", { scope: "col", text: c })))),
      body)));

  const all = [];
  const services = new Set();
  function shown(e) {
    if (!wire.checked && e.kind.startsWith("wire.")) return false;
    if (service.value && e.service !== service.value.trim()) return false;
    const k = kind.value.trim();
    if (k && !(k.endsWith(".") ? e.kind.startsWith(k) : e.kind === k)) return false;
    const t = text.value.trim().toLowerCase();
    return !t || JSON.stringify(e).toLowerCase().includes(t);
  }
  function row(e) {
    const bad = /failed|error/.test(e.kind) || (e.fields && e.fields.fault);
    return h("tr", { class: bad ? "fault" : "", "data-kind": e.kind },
      h("td", { text: e.seq }), h("td", { text: when(e.time) }), h("td", { text: e.service }),
      h("td", {}, h("code", { text: e.kind })), h("td", {}, sessionLink(e.session)),
      h("td", {}, h("code", { text: short(e.fields, 300) })));
  }
  function redraw() {
    const rows = all.filter(shown).slice(-300).reverse();
    count.textContent = `${rows.length} shown of ${all.length} kept here`;
    body.replaceChildren(...rows.map(row));
  }
  function add(e) {
    all.push(e);
    if (all.length > KEPT) all.shift();
    if (!services.has(e.service)) {
      services.add(e.service);
      known.append(h("option", { value: e.service }));
    }
  }
  for (const input of [service, kind, text]) input.addEventListener("input", redraw);
  for (const input of [wire, pause]) input.addEventListener("change", redraw);
  const start = Math.max(0, stream.cursor - KEPT);
  api(`/api/events${q({ after: start, limit: KEPT })}`).then((found) => {
    const live = all.splice(0);
    for (const e of found.events) add(e);
    for (const e of live) if (!all.length || e.seq > all[all.length - 1].seq) add(e);
    redraw();
  });
  return stream.on((e) => {
    add(e);
    if (pause.checked || !shown(e)) return;
    body.prepend(row(e));
    while (body.children.length > 300) body.lastChild.remove();
    count.textContent = `live, ${all.length} kept here`;
  });
}
