// Pub-sub: channels and patterns with their subscriber counts, a live tail of the
// messages published, and a form to publish one.
import { api, debounce, errorBox, h, sessionLink, stream, title, when } from "./util.js";

const BASE = "/api/pubsub";

export function render(root) {
  const channels = h("tbody", { id: "channels" });
  const patterns = h("tbody", { id: "patterns" });
  const tail = h("ol", { class: "tail", id: "tail", "aria-label": "Messages published, newest first", reversed: true });
  const status = h("p", { role: "status", class: "muted" });
  const channel = h("input", { id: "p-channel", required: true, value: "news" });
  const message = h("textarea", { id: "p-message", rows: 2, required: true });
  const form = h("form", { class: "filters", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const answer = await api(`${BASE}/publish`, { method: "POST", json: { channel: channel.value, message: message.value } });
      status.textContent = `published to ${answer.channel}: ${answer.receivers} receiver(s)`;
      message.value = "";
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  } },
    h("label", { for: "p-channel", text: "Channel" }), channel,
    h("label", { for: "p-message", text: "Message" }), message,
    h("button", { type: "submit", text: "Publish" }));
  root.append(title("Pub-sub"), h("div", { class: "panes" },
    h("div", { class: "pane" },
      h("h2", { text: "Channels" }),
      h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Channel" }), h("th", { scope: "col", text: "Subscribers" }))), channels),
      h("h2", { text: "Patterns" }),
      h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Pattern" }), h("th", { scope: "col", text: "Subscribers" }))), patterns),
      h("h2", { text: "Publish" }), form, status),
    h("div", { class: "pane" }, h("h2", { text: "Live tail" }), tail)));

  function row(m) {
    return h("li", { "data-seq": m.seq },
      h("span", { class: "muted", text: `${when(m.time)} ` }), h("b", { text: m.channel }),
      h("span", { class: "muted", text: ` → ${m.receivers} ` }),
      h("code", { text: m.payload + (m.truncated ? "…" : "") }), " ", sessionLink(m.session));
  }

  async function counts() {
    try {
      const answer = await api(`${BASE}/channels`);
      const rows = (list, key) => (list.length ? list.map((c) => h("tr", {}, h("td", { text: c[key] }), h("td", { text: c.subscribers })))
        : [h("tr", {}, h("td", { colspan: 2, class: "muted", text: "none" }))]);
      channels.replaceChildren(...rows(answer.channels, "channel"));
      patterns.replaceChildren(...rows(answer.patterns, "pattern"));
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  }
  let newest = 0;
  api(`${BASE}/messages?limit=100`).then((found) => {
    for (const m of found.reverse()) {
      if (m.seq > newest) {
        tail.prepend(row(m));
        newest = m.seq;
      }
    }
  }).catch((e) => status.replaceChildren(errorBox(e)));
  counts();
  const later = debounce(counts, 250);
  return stream.on((event) => {
    if (event.service !== "pubsub") return;
    if (event.kind === "pubsub.published" && event.seq > newest) {
      newest = event.seq;
      tail.prepend(row({ seq: event.seq, time: event.time, session: event.session, ...event.fields }));
      while (tail.children.length > 500) tail.lastChild.remove();
    }
    if (event.kind.startsWith("pubsub.") || event.kind === "session.closed") later();
  });
}
