// Mail: mailboxes, the message list with search, and one message: its HTML in a
// sandboxed frame (served with a policy that lets nothing run or load), text,
// headers, raw source, attachments, delete, and the session that delivered it.
import { api, debounce, download, errorBox, h, q, sessionLink, size, stream, title, token } from "./util.js";

const BASE = "/api/smtp";

export function render(root, id) {
  const box = h("select", { id: "m-box" }, h("option", { value: "", text: "every mailbox" }));
  const find = h("input", { id: "m-find", type: "search", placeholder: "subject, sender, text" });
  const list = h("ul", { class: "items", id: "messages", "aria-label": "Messages" });
  const status = h("p", { class: "muted", role: "status" });
  const detail = h("div", { class: "detail", id: "message" });
  root.append(title("Mail"), h("div", { class: "panes" },
    h("div", { class: "pane" },
      h("div", { class: "filters" },
        h("label", { for: "m-box", text: "Mailbox" }), box,
        h("label", { for: "m-find", text: "Search" }), find),
      status, list),
    detail));

  async function mailboxes() {
    try {
      const boxes = await api(`${BASE}/mailboxes`);
      const chosen = box.value;
      box.replaceChildren(h("option", { value: "", text: "every mailbox" }),
        ...boxes.map((b) => h("option", { value: b.mailbox, text: `${b.mailbox} (${b.messages})` })));
      box.value = chosen;
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  }

  async function load() {
    let found;
    try {
      found = await api(`${BASE}/messages${q({ mailbox: box.value, q: find.value.trim(), limit: 200 })}`);
    } catch (e) {
      status.replaceChildren(errorBox(e));
      return;
    }
    status.textContent = `${found.length} message${found.length === 1 ? "" : "s"}`;
    list.replaceChildren(...found.map((m) => h("li", { class: m.id === id ? "chosen" : "" },
      h("a", { href: `#/mail/${encodeURIComponent(m.id)}` },
        h("span", { class: "subject", text: m.subject || "(no subject)" }),
        h("span", { class: "muted", text: ` ${m.from} → ${m.mailbox} · ${size(m.size)}` })))));
  }

  const later = debounce(load, 250);
  box.addEventListener("change", load);
  find.addEventListener("input", later);
  mailboxes();
  load();
  if (id) message(detail, id);
  else detail.append(h("p", { class: "muted", text: "Choose a message." }));
  const refresh = debounce(() => { mailboxes(); load(); }, 300);
  return stream.on((event) => {
    if (event.kind === "mail.stored" || event.kind === "mail.deleted") refresh();
  });
}

async function message(detail, id) {
  const path = `${BASE}/messages/${encodeURIComponent(id)}`;
  let m;
  try {
    m = await api(path);
  } catch (e) {
    detail.replaceChildren(errorBox(e));
    return;
  }
  const delivered = h("dd", { id: "m-session", text: "…" });
  const facts = h("dl", { class: "facts" },
    [["From", m.from], ["To", m.to.join(", ")], ["Cc", m.cc.join(", ")], ["Date", m.date],
      ["Size", size(m.size)], ["Flags", m.flags.join(" ")]]
      .filter(([, v]) => v).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]),
    h("dt", { text: "Delivered by" }), delivered);
  const panel = h("div", { class: "tabpanel", role: "tabpanel", id: "m-panel" });
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Message parts" });
  const shows = {
    HTML: () => html(panel, path, m),
    Text: () => panel.append(h("pre", { class: "text", id: "m-text", text: m.text ?? "(no text part)" })),
    Headers: () => panel.append(h("table", { class: "list headers" }, h("tbody", {},
      m.headers.map(([k, v]) => h("tr", {}, h("th", { scope: "row", text: k }), h("td", { text: v })))))),
    Raw: async () => {
      const answer = await api(`${path}/raw`, { raw: true });
      panel.append(h("pre", { class: "text", id: "m-raw", text: await answer.text() }));
    },
  };
  const buttons = Object.keys(shows).map((name) => h("button", {
    type: "button", role: "tab", id: `m-tab-${name.toLowerCase()}`, "aria-controls": "m-panel", text: name,
    onclick: () => pick(name), onkeydown: (e) => arrows(e, name),
  }));
  tabs.append(...buttons);
  function pick(name) {
    buttons.forEach((b) => {
      const on = b.textContent === name;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      if (on) b.focus({ preventScroll: true });
    });
    panel.replaceChildren();
    Promise.resolve(shows[name]()).catch((e) => panel.append(errorBox(e)));
  }
  function arrows(event, name) {
    const names = Object.keys(shows);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step) {
      event.preventDefault();
      pick(names[(names.indexOf(name) + step + names.length) % names.length]);
    }
  }
  const attachments = m.attachments.length ? h("ul", { class: "attachments", id: "m-attachments" },
    m.attachments.map((a) => h("li", {}, h("button", {
      type: "button", text: `⤓ ${a.name || `part ${a.index}`}`, "aria-label": `Download ${a.name || `part ${a.index}`}`,
      onclick: () => download(`${path}/attachments/${a.index}`, a.name || `part-${a.index}`),
    }), h("span", { class: "muted", text: ` ${a.type}, ${size(a.size)}` })))) : "";
  detail.replaceChildren(
    h("h2", { id: "m-subject", text: m.subject || "(no subject)" }),
    facts,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => download(`${path}/raw`, `${id.split("~")[0]}.eml`), text: "Download .eml" }),
      h("button", { type: "button", class: "danger", id: "m-delete", text: "Delete", onclick: async () => {
        if (!confirm("Delete this message?")) return;
        try {
          await api(path, { method: "DELETE" });
          location.hash = "#/mail";
        } catch (e) {
          detail.append(errorBox(e));
        }
      } })),
    attachments ? h("h3", { text: "Attachments" }) : "", attachments,
    tabs, panel);
  pick(m.html !== null ? "HTML" : "Text");
  try {
    const found = await api(`/api/events${q({ service: "smtp", kind: "mail.stored", "match.ids": id, limit: 1 })}`);
    const event = found.events[0];
    delivered.replaceChildren(event && event.session ? sessionLink(event.session) : event ? "the control plane" : "not in the kept events");
  } catch (e) {
    delivered.textContent = e.message;
  }
}

function html(panel, path, m) {
  if (m.html === null) {
    panel.append(h("p", { class: "muted", text: "No HTML part." }));
    return;
  }
  const images = h("input", { type: "checkbox", id: "m-images" });
  const frame = h("iframe", { id: "m-html", title: "The message's HTML (sandboxed: no scripts, nothing loaded)" });
  // sandbox="": no script, no forms, no popups, an origin of its own; the answer's own
  // Content-Security-Policy also forbids script and every load but data: images.
  frame.setAttribute("sandbox", "");
  frame.setAttribute("referrerpolicy", "no-referrer");
  const show = () => {
    frame.src = `${path}/html${q({ images: images.checked ? 1 : 0, token: token() })}`;
  };
  images.addEventListener("change", show);
  panel.append(h("div", { class: "filters" }, images,
    h("label", { for: "m-images", text: "Load remote images (the sender sees you read it)" })), frame);
  show();
}
