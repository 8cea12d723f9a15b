// Tether console: sign-in and endpoint search over the JSON API.
let csrf = "";

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

const $ = (id) => document.getElementById(id);

function show(section) {
  for (const id of ["signin", "endpoints"]) $(id).hidden = id !== section;
  $("signout").hidden = section === "signin";
}

function signedIn(me) {
  csrf = me.csrf_token || "";
  $("who").textContent = `${me.name} (${(me.roles || []).join(", ")})`;
  show("endpoints");
  search();
}

function signedOut(message) {
  csrf = "";
  $("who").textContent = "";
  $("signin-error").textContent = message || "";
  show("signin");
  $("name").focus();
}

let searchSeq = 0;
async function search() {
  const seq = ++searchSeq;
  try {
    const data = await api("GET", "/api/v1/endpoints?q=" + encodeURIComponent($("q").value));
    if (seq !== searchSeq) return; // a newer search is under way
    $("ep-error").textContent = "";
    const rows = $("ep-rows");
    rows.replaceChildren();
    for (const ep of data.endpoints) {
      const tr = document.createElement("tr");
      const cells = [ep.hostname, ep.online ? "online" : "offline", ep.ips.join(", "),
        `${ep.os} ${ep.os_version || ""}`.trim(), ep.users.join(", ") || "—",
        ep.last_seen ? new Date(ep.last_seen).toLocaleString() : "never"];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 1) td.className = ep.online ? "online" : "offline";
        tr.append(td);
      });
      const td = document.createElement("td");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "share";
      btn.textContent = "Open Screen Share";
      btn.setAttribute("aria-label", `Open Screen Share with ${ep.hostname}`);
      btn.disabled = !ep.online;
      btn.addEventListener("click", () => openScreenShare(ep));
      td.append(btn);
      tr.append(td);
      tr.dataset.id = ep.id;
      rows.append(tr);
    }
    $("ep-empty").hidden = data.endpoints.length > 0;
  } catch (e) {
    if (e.status === 401) return signedOut("Your sign-in has expired. Please sign in again.");
    $("ep-error").textContent = e.status === 403 ? "You do not have permission to view endpoints." : e.message;
  }
}

// openScreenShare starts an attended session and opens its viewer in a new
// tab (opened before the request, while the click still allows pop-ups).
// The full dialog (attended/unattended, mode) is a later issue.
async function openScreenShare(ep) {
  const win = window.open("", "_blank");
  try {
    const s = await api("POST", "/api/v1/sessions", { endpoint_id: ep.id, attended: true });
    const url = "/view/" + encodeURIComponent(s.id);
    if (win) {
      win.opener = null;
      win.location.href = url;
    } else {
      location.assign(url);
    }
  } catch (e) {
    if (win) win.close();
    if (e.status === 401) return signedOut("Your sign-in has expired. Please sign in again.");
    $("ep-error").textContent = e.status === 403 ? `You do not have permission to share the screen of ${ep.hostname}.` : `Screen share: ${e.message}`;
  }
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    signedIn(await api("POST", "/api/v1/login", { name: $("name").value, password: $("password").value }));
    $("password").value = "";
  } catch (e) {
    $("signin-error").textContent = e.status === 429 ? "Too many failed attempts. Wait a few minutes and try again." : e.message;
  }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/api/v1/logout", {}).catch(() => {});
  signedOut("You have signed out.");
});

let timer;
$("q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
setInterval(() => { if (!$("endpoints").hidden) search(); }, 10000);

api("GET", "/api/v1/me").then(signedIn, () => signedOut());
