// RPC: the call log (rpc.called events, live) with parameters and results, faults
// highlighted, and a form that calls a method of this zoo's XML-RPC listener.
import { api, errorBox, h, q, sessionLink, short, stream, title, when } from "./util.js";

export function render(root) {
  const log = h("tbody", { id: "calls" });
  const method = h("input", { id: "r-method", required: true, value: "double" });
  const params = h("input", { id: "r-params", value: "[7]", "aria-describedby": "r-help" });
  const answer = h("pre", { id: "r-answer", class: "text", role: "status" });
  const form = h("form", { class: "filters", onsubmit: async (event) => {
    event.preventDefault();
    let values;
    try {
      values = JSON.parse(params.value || "[]");
    } catch (e) {
      answer.textContent = `params: not JSON: ${e.message}`;
      return;
    }
    try {
      const got = await api("/api/rpc/call", { method: "POST", json: { method: method.value, params: values } });
      answer.className = got.fault ? "text fault" : "text";
      answer.textContent = got.fault ? `Fault ${got.fault.code}: ${got.fault.message}` : JSON.stringify(got.result, null, 1);
    } catch (e) {
      answer.className = "text fault";
      answer.textContent = e.message;
    }
  } },
    h("label", { for: "r-method", text: "Method" }), method,
    h("label", { for: "r-params", text: "Params" }), params,
    h("button", { type: "submit", text: "Call" }),
    h("span", { id: "r-help", class: "muted", text: "a JSON list, e.g. [1, 2]" }));
  root.append(title("RPC"), h("h2", { text: "Call a method" }), form, answer,
    h("h2", { text: "Calls" }),
    h("div", { class: "scroll" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["Time", "Protocol", "Method", "Params", "Answer", "ms", "Session"].map((c) => h("th", { scope: "col", text: c })))),
      log)));

  let newest = 0;
  function add(event) {
    if (event.seq <= newest) return;
    newest = event.seq;
    const f = event.fields;
    log.prepend(h("tr", { class: f.fault ? "fault" : "", "data-seq": event.seq },
      h("td", { text: when(event.time) }), h("td", { text: f.protocol }), h("td", {}, h("code", { text: f.method })),
      h("td", {}, h("code", { text: short(f.params, 200) })),
      h("td", {}, f.fault ? h("strong", { text: `Fault ${f.fault.code}: ${short(f.fault.message, 200)}` }) : h("code", { text: short(f.result, 200) })),
      h("td", { text: f.duration_ms ?? "" }), h("td", {}, sessionLink(event.session))));
    while (log.children.length > 500) log.lastChild.remove();
  }
  api(`/api/events${q({ service: "xmlrpc", kind: "rpc.called", limit: 10000 })}`)
    .then((found) => found.events.slice(-200).forEach(add))
    .catch((e) => root.append(errorBox(e)));
  return stream.on((event) => {
    if (event.kind === "rpc.called") add(event);
  });
}
