// The zoo page: the token, the router and the live stream. Each view is a module
// with render(root, param) that returns a function to call when it is left.
import { api, errorBox, h, setToken, stream, token } from "./util.js";
import * as dashboard from "./dashboard.js";
import * as sessions from "./sessions.js";
import * as mail from "./mail.js";
import * as files from "./files.js";
import * as pubsub from "./pubsub.js";
import * as rpc from "./rpc.js";
import * as events from "./events.js";

const VIEWS = { dashboard, sessions, mail, files, pubsub, rpc, events };

const view = document.getElementById("view");
const login = document.getElementById("login");
const live = document.getElementById("live");
const logout = document.getElementById("logout");
let leave = null;

stream.onstatus = (status) => {
  live.textContent = status;
  live.className = `live ${status}`;
};

function showLogin(message) {
  if (leave) leave();
  leave = null;
  stream.stop();
  view.replaceChildren();
  login.hidden = false;
  logout.hidden = true;
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("token").focus();
}

async function open() {
  let services;
  try {
    services = await api("/api/services");
  } catch (e) {
    setToken("");
    showLogin(e.status === 401 ? "That token was refused." : e.message);
    return;
  }
  login.hidden = true;
  logout.hidden = false;
  stream.start(services.cursor);
  route();
}

function route() {
  if (!token()) return;
  const hash = location.hash.replace(/^#\/?/, "") || "dashboard";
  const [name, ...rest] = hash.split("/");
  const module = VIEWS[name] || dashboard;
  const param = rest.length ? decodeURIComponent(rest.join("/")) : null;
  if (leave) leave();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === (VIEWS[name] ? name : "dashboard")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = h("section", { class: `view view-${name}` });
  view.replaceChildren(root);
  try {
    leave = module.render(root, param) || null;
  } catch (e) {
    root.append(errorBox(e));
    leave = null;
  }
  const heading = root.querySelector(".view-title");
  if (heading && document.activeElement !== document.getElementById("token")) heading.focus();
}

login.addEventListener("submit", (event) => {
  event.preventDefault();
  setToken(document.getElementById("token").value.trim());
  document.getElementById("token").value = "";
  open();
});
logout.addEventListener("click", () => {
  setToken("");
  showLogin("");
});
window.addEventListener("zoo-unauthorised", () => {
  setToken("");
  showLogin("The token was refused (the zoo may have a new one).");
});
window.addEventListener("hashchange", route);

if (token()) open();
else showLogin("");
