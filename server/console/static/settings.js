// Settings (administrators): users and roles, computer groups, enrollment
// tokens with a ready install command line, and the screen-share policy
// per computer group over the global default. Each section shows only to
// users the server would let use it.
import { api, describe } from "./api.js";
import { h, when, notice, empty } from "./ui.js";

export function settingsPage(ctx) {
  const { me } = ctx;
  const sections = [];
  if (me.can("users.manage")) sections.push(usersSection());
  if (me.can("groups.manage") || me.can("tokens.manage")) sections.push(groupsSection(me));
  if (me.can("tokens.manage")) sections.push(tokensSection());
  if (me.can("screenshare.settings") || me.can("settings.manage")) sections.push(policySection());
  ctx.show(h("section", { id: "settings", "aria-labelledby": "set-title" }, h("h1", { id: "set-title" }, "Settings"), sections));
}

function card(id, title, ...children) {
  return h("section", { id, class: "card", "aria-labelledby": id + "-title" }, h("h2", { id: id + "-title" }, title), children);
}

function usersSection() {
  const err = h("p", { class: "notice", role: "alert", hidden: true });
  const list = h("div", {});
  const roleBoxes = h("fieldset", { class: "roles" }, h("legend", {}, "Roles"));
  const name = h("input", { id: "user-name", autocomplete: "off", required: true });
  const pw = h("input", { id: "user-password", type: "password", autocomplete: "new-password", minlength: "10", required: true });
  const ok = h("p", { class: "notice", role: "status", hidden: true });
  const form = h("form", { id: "user-form", class: "stack", onsubmit: async (ev) => {
    ev.preventDefault();
    const roles = [...roleBoxes.querySelectorAll("input:checked")].map((b) => b.value);
    if (!roles.length) return notice(err, "Pick at least one role.");
    try {
      const u = await api("POST", "/api/v1/users", { name: name.value.trim(), password: pw.value, roles });
      notice(err, "");
      notice(ok, `User ${u.name} created.`, "ok");
      form.reset();
      load();
    } catch (e) { notice(err, describe(e, "create the user")); }
  } },
  h("label", { for: "user-name" }, "Name"), name,
  h("label", { for: "user-password" }, "Password (at least 10 characters)"), pw,
  roleBoxes, h("button", { type: "submit", class: "primary" }, "Create user"));

  async function load() {
    try {
      const [users, roles] = await Promise.all([api("GET", "/api/v1/users"), api("GET", "/api/v1/roles")]);
      if (roleBoxes.querySelectorAll("input").length === 0) {
        roleBoxes.append(...roles.roles.map((r) => h("label", { class: "check", title: r.permissions.join(", ") },
          h("input", { type: "checkbox", value: r.name }), " " + r.name)));
      }
      list.replaceChildren(users.users.length ? h("div", { class: "table-wrap" }, h("table", { id: "users-table" },
        h("thead", {}, h("tr", {}, ["Name", "Roles", "Created"].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, users.users.map((u) => h("tr", {}, h("td", {}, u.name), h("td", {}, (u.roles || []).join(", ")), h("td", {}, when(u.created)))))))
        : empty("No users."));
    } catch (e) { notice(err, describe(e, "list users")); }
  }
  load();
  return card("users", "Users and roles", err, list, h("details", {}, h("summary", {}, "Add a user"), form, ok));
}

function groupsSection(me) {
  const err = h("p", { class: "notice", role: "alert", hidden: true });
  const list = h("div", {});
  const name = h("input", { id: "group-name", autocomplete: "off", required: true });
  async function load() {
    try {
      const data = await api("GET", "/api/v1/groups");
      list.replaceChildren(h("ul", { id: "groups-list", class: "chips" }, data.groups.map((g) => h("li", {}, g.name))));
    } catch (e) { notice(err, describe(e, "list computer groups")); }
  }
  load();
  return card("groups", "Computer groups", h("p", { class: "hint" }, "Endpoints join the group of the enrollment token they were installed with."), err, list,
    me.can("groups.manage") ? h("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      try { await api("POST", "/api/v1/groups", { name: name.value.trim() }); name.value = ""; notice(err, ""); load(); }
      catch (e) { notice(err, describe(e, "create the group")); }
    } }, h("label", { for: "group-name" }, "New group"), name, h("button", { type: "submit" }, "Create group")) : null);
}

function tokensSection() {
  const err = h("p", { class: "notice", role: "alert", hidden: true });
  const list = h("div", {});
  const made = h("div", { id: "token-made", hidden: true, class: "made", role: "status" });
  const group = h("select", { id: "token-group" });
  const ttl = h("select", { id: "token-ttl" }, [["24", "1 day"], ["168", "7 days"], ["720", "30 days"], ["0", "never"]].map(([v, t]) => h("option", { value: v }, t)));
  let server = {};

  async function load() {
    try {
      const [data, groups] = await Promise.all([api("GET", "/api/v1/enrollment-tokens"), api("GET", "/api/v1/groups").catch(() => ({ groups: [] }))]);
      server = data.server || {};
      if (!group.options.length) group.append(...groups.groups.map((g) => h("option", { value: g.name }, g.name)));
      const live = data.tokens;
      list.replaceChildren(live.length ? h("div", { class: "table-wrap" }, h("table", { id: "tokens-table" },
        h("thead", {}, h("tr", {}, ["Token", "Group", "Created", "Expires", "State", ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, live.map((t) => {
          const expired = t.expires && new Date(t.expires) < new Date();
          return h("tr", { "data-id": t.id }, h("td", {}, h("code", {}, t.id)), h("td", {}, t.group), h("td", {}, when(t.created)),
            h("td", {}, t.expires ? when(t.expires) : "never"),
            h("td", {}, t.revoked ? "Revoked" : expired ? "Expired" : "Valid"),
            h("td", {}, t.revoked || expired ? "" : h("button", { type: "button", class: "danger", "aria-label": `Revoke token ${t.id}`, onclick: async () => {
              try { await api("POST", `/api/v1/enrollment-tokens/${encodeURIComponent(t.id)}/revoke`, {}); load(); }
              catch (e) { notice(err, describe(e, "revoke the token")); }
            } }, "Revoke")));
        })))) : empty("No enrollment tokens yet.", "Create one to install agents."));
    } catch (e) { notice(err, describe(e, "list enrollment tokens")); }
  }

  const form = h("form", { class: "inline", id: "token-form", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const t = await api("POST", "/api/v1/enrollment-tokens", { group: group.value, ttl_hours: Number(ttl.value) });
      notice(err, "");
      const cmd = t.install_command || `tether-agent install --server ${server.url || "URL"} --token ${t.token}` + (server.fingerprint ? ` --fingerprint ${server.fingerprint}` : "");
      const pre = h("pre", { id: "install-command", tabindex: "0" }, cmd);
      made.replaceChildren(h("p", {}, h("strong", {}, "Token created. "), "Copy it now: it is not shown again. Run this on the endpoint as root / administrator:"), pre,
        h("button", { type: "button", onclick: async (e) => {
          try { await navigator.clipboard.writeText(cmd); e.target.textContent = "Copied"; }
          catch (_) { getSelection().selectAllChildren(pre); e.target.textContent = "Press Ctrl+C to copy"; }
        } }, "Copy command"));
      made.hidden = false;
      load();
    } catch (e) { notice(err, describe(e, "create an enrollment token")); }
  } }, h("label", { for: "token-group" }, "Group"), group, h("label", { for: "token-ttl" }, "Valid for"), ttl,
  h("button", { type: "submit", class: "primary" }, "Create token"));
  load();
  return card("tokens", "Enrollment tokens", err, form, made, list);
}

const modes = [["active", "Active (view and control)"], ["guidance", "Guidance"], ["monitor", "Monitor (view only)"], ["chat", "Chat"], ["file", "File transfer"]];

function policySection() {
  const err = h("p", { class: "notice", role: "alert", hidden: true });
  const ok = h("p", { class: "notice", role: "status", hidden: true });
  const which = h("select", { id: "policy-group" }, h("option", { value: "global" }, "Global default"));
  const form = h("form", { id: "policy-form", class: "stack" });
  const inherit = h("p", { class: "hint", id: "policy-inherit" });
  let doc = {};

  const box = (key, label) => h("label", { class: "check" }, h("input", { type: "checkbox", name: key }), " " + label);
  form.append(
    box("acceptance_required", "Ask the endpoint user to accept attended sessions"),
    h("label", { for: "policy-timeout" }, "Seconds the user has to answer"),
    h("input", { id: "policy-timeout", name: "acceptance_timeout_s", type: "number", min: "5", max: "600" }),
    box("unattended_allowed", "Allow sessions without asking the user (technicians also need the unattended permission)"),
    h("fieldset", {}, h("legend", {}, "Modes enabled"), modes.map(([v, t]) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "mode", value: v }), " " + t))),
    box("user_may_end", "The user may end a session"),
    box("clipboard_sync", "Clipboard sync"),
    box("file_transfer", "File transfer"),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Save policy"),
      h("button", { type: "button", id: "policy-reset", onclick: () => save(true) }, "Use the global default")));

  function fill(sp) {
    for (const el of form.elements) {
      if (el.name === "mode") el.checked = (sp.modes || []).includes(el.value);
      else if (el.type === "checkbox") el.checked = !!sp[el.name];
      else if (el.name === "acceptance_timeout_s") el.value = sp.acceptance_timeout_s || 30;
    }
  }

  async function load() {
    notice(ok, "");
    try {
      const g = which.value;
      const [pol, glob] = await Promise.all([api("GET", "/api/v1/policies/" + encodeURIComponent(g)),
        g === "global" ? null : api("GET", "/api/v1/policies/global").catch(() => null)]);
      doc = pol.doc || {};
      const own = doc.screenshare;
      const base = { acceptance_required: true, acceptance_timeout_s: 30, unattended_allowed: false, modes: modes.map((m) => m[0]), user_may_end: true, clipboard_sync: true, file_transfer: true };
      const inherited = glob && glob.doc && glob.doc.screenshare ? { ...base, ...glob.doc.screenshare } : base;
      fill({ ...inherited, ...(own || {}) });
      inherit.textContent = g === "global" ? `Every computer group uses these settings unless it has its own (version ${pol.version}).`
        : own ? `${g} has its own policy (version ${pol.version}) over the global default.` : `${g} uses the global default; saving gives it its own policy.`;
      form.querySelector("#policy-reset").hidden = g === "global";
      notice(err, "");
    } catch (e) { notice(err, describe(e, "read the policy of " + which.value)); }
  }

  async function save(reset) {
    const sp = {};
    for (const el of form.elements) {
      if (el.name === "mode") { if (el.checked) (sp.modes ||= []).push(el.value); }
      else if (el.type === "checkbox") sp[el.name] = el.checked;
      else if (el.name === "acceptance_timeout_s") sp.acceptance_timeout_s = Number(el.value);
    }
    const next = { ...doc };
    if (reset) delete next.screenshare; else next.screenshare = sp;
    try {
      await api("PUT", "/api/v1/policies/" + encodeURIComponent(which.value), next);
      await load();
      notice(ok, reset ? "The group now uses the global default." : "Policy saved. Endpoints pick it up on their next check-in.", "ok");
    } catch (e) { notice(err, describe(e, "save the policy")); }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); save(false); });
  which.addEventListener("change", load);
  api("GET", "/api/v1/groups").then((d) => { which.append(...d.groups.map((g) => h("option", { value: g.name }, g.name))); }, () => {});
  load();
  return card("policy", "Screen-share policy", h("label", { for: "policy-group" }, "Computer group"), which, inherit, err, ok, form);
}
