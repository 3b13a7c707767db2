// Files: each file service's roots (FTP, SFTP) as a tree, with who uploaded what,
// download, upload and delete. Live: a file event redraws the open folders.
import { api, debounce, download, errorBox, h, q, sessionLink, size, stream, title, when } from "./util.js";

export function render(root) {
  const area = h("div", { id: "files" });
  root.append(title("Files"), area);
  const open = new Set(["/"]);
  const blocks = new Map();
  let services = [];

  async function load() {
    try {
      const answer = await api("/api/services");
      services = answer.services.filter((s) => (s.routes || []).some((r) => r.path.endsWith("/roots")));
    } catch (e) {
      area.replaceChildren(errorBox(e));
      return;
    }
    if (!services.length) {
      area.replaceChildren(h("p", { class: "muted", text: "No file service runs (zoo-ftp, zoo-ssh)." }));
      return;
    }
    const shown = [];
    for (const s of services) {
      let roots = [];
      try {
        roots = await api(`/api/${s.name}/roots`);
      } catch (e) {
        shown.push(errorBox(e));
        continue;
      }
      for (const r of roots) {
        const key = `${s.name}:${r.name}`;
        if (!blocks.has(key)) blocks.set(key, rootBlock(s.name, r.name));
        const block = blocks.get(key);
        // only the tree is redrawn: a file being chosen in the form stays chosen
        const tree = h("ul", { class: "tree", role: "tree", "aria-label": `${s.name} ${r.name}` });
        await folderInto(tree, s.name, r.name, "/");
        block.tree.replaceWith(tree);
        block.tree = tree;
        shown.push(block.section);
      }
    }
    if (shown.some((el, n) => area.children[n] !== el) || area.children.length !== shown.length) {
      area.replaceChildren(...shown);
    }
  }

  function rootBlock(service, rootName) {
    const key = `${service}:${rootName}`;
    const id = key.replace(/[^A-Za-z0-9]/g, "-");
    const file = h("input", { type: "file", id: `up-${id}` });
    const folder = h("input", { type: "text", id: `to-${id}`, value: "/", size: 12 });
    const note = h("span", { role: "status", class: "muted" });
    const form = h("form", { class: "filters upload", onsubmit: async (event) => {
      event.preventDefault();
      const chosen = file.files[0];
      if (!chosen) return;
      const where = `${folder.value.replace(/\/+$/, "")}/${chosen.name}`;
      try {
        await api(`/api/${service}/file${q({ root: rootName, path: where })}`, { method: "PUT", body: await chosen.arrayBuffer() });
        note.textContent = `uploaded ${where}`;
      } catch (e) {
        note.textContent = e.message;
      }
    } },
      h("label", { for: `up-${id}`, text: "Upload a file" }), file,
      h("label", { for: `to-${id}`, text: "to folder" }), folder,
      h("button", { type: "submit", text: "Upload" }), note);
    const tree = h("ul", { class: "tree" });
    const section = h("section", { class: "root", "data-root": key },
      h("h2", { text: `${service}: ${rootName}` }), form, tree);
    return { section, tree };
  }

  async function folderInto(ul, service, rootName, path) {
    let listing;
    try {
      listing = await api(`/api/${service}/files${q({ root: rootName, path })}`);
    } catch (e) {
      ul.append(h("li", {}, errorBox(e)));
      return;
    }
    const entries = listing.entries || [];
    if (!entries.length) ul.append(h("li", { class: "muted", text: "(empty)" }));
    for (const e of entries) {
      const key = `${service}:${rootName}:${e.path}`;
      if (e.type === "dir") {
        const inner = h("ul", { role: "group" });
        const details = h("details", { open: open.has(key) }, h("summary", { text: `${e.name}/` }), inner);
        // listed once per opening (a details made open fires "toggle" too)
        const fill = async () => {
          if (inner.dataset.listed) return;
          inner.dataset.listed = "yes";
          await folderInto(inner, service, rootName, e.path);
        };
        details.addEventListener("toggle", () => {
          if (details.open) {
            open.add(key);
            fill();
          } else {
            open.delete(key);
            inner.replaceChildren();
            delete inner.dataset.listed;
          }
        });
        if (open.has(key)) await fill();
        ul.append(h("li", { role: "treeitem" }, details));
        continue;
      }
      const by = e.uploaded_by;
      ul.append(h("li", { role: "treeitem", class: "file", "data-path": e.path },
        h("span", { class: "name", text: e.name }),
        h("span", { class: "muted", text: ` ${size(e.size)}` }),
        by ? h("span", { class: "who" }, ` uploaded by ${by.user || "?"} over ${by.protocol} at ${when(by.time)} `,
          by.session ? sessionLink(by.session) : "") : "",
        h("button", { type: "button", "aria-label": `Download ${e.path}`, text: "Download",
          onclick: () => download(`/api/${service}/file${q({ root: rootName, path: e.path })}`, e.name) }),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${e.path}`, text: "Delete",
          onclick: async () => {
            if (!confirm(`Delete ${e.path}?`)) return;
            try {
              await api(`/api/${service}/file${q({ root: rootName, path: e.path })}`, { method: "DELETE" });
            } catch (err) {
              ul.append(h("li", {}, errorBox(err)));
            }
          } })));
    }
  }

  load();
  const refresh = debounce(load, 300);
  return stream.on((event) => {
    if (services.some((s) => s.name === event.service) && /^(file|dir)\./.test(event.kind)) refresh();
  });
}
