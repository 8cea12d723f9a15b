// Settings: users and their roles, role definitions, computer groups with
// their membership rules, enrollment tokens with a ready install command
// line, and the screen-share policy per computer group over the global
// default. Each tab shows only to users the server would let use it; the
// server checks every call again.
import { api, describe, download } from "./api.js";
import { h, when, notice, empty } from "./ui.js";

const tabsFor = (me) => [
  ["users", "Users", me.can("users.manage"), usersSection],
  ["roles", "Roles", me.can("roles.manage") || me.can("users.manage"), rolesSection],
  ["groups", "Computer groups", me.can("groups.manage") || me.can("tokens.manage"), groupsSection],
  ["tokens", "Enrollment tokens", me.can("tokens.manage"), tokensSection],
  ["policy", "Screen-share policy", me.can("screenshare.settings") || me.can("settings.manage"), policySection],
].filter((t) => t[2]);

export function settingsPage(ctx) {
  const { me } = ctx;
  const tabs = tabsFor(me);
  const cur = tabs.find((t) => t[0] === ctx.rest[0]) || tabs[0];
  const nav = h("nav", { class: "tabs", "aria-label": "Settings" }, tabs.map(([id, label]) =>
    h("a", { href: "#/settings/" + id, id: "tab-" + id, "aria-current": id === cur[0] ? "page" : null }, label)));
  ctx.show(h("section", { id: "settings", "aria-labelledby": "set-title" }, h("h1", { id: "set-title" }, "Settings"), nav, cur[3](me)));
}

function card(id, title, ...children) {
  return h("section", { id, class: "card", "aria-labelledby": id + "-title" }, h("h2", { id: id + "-title" }, title), children);
}

const errBox = (id) => h("p", { id, class: "notice", role: "alert", hidden: true });
const okBox = (id) => h("p", { id, class: "notice", role: "status", hidden: true });

// modal shows a dialog with a form; Escape and Cancel close it. build gets
// a close function and returns the form's children.
function modal(id, title, build) {
  const dlg = h("dialog", { id, "aria-labelledby": id + "-title" });
  const close = () => { dlg.close(); dlg.remove(); };
  dlg.append(h("h2", { id: id + "-title" }, title), ...[build(close)].flat());
  dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });
  document.body.append(dlg);
  dlg.showModal();
  const first = dlg.querySelector("input:not([disabled]):not([type=hidden]), select, button");
  if (first) first.focus();
  return dlg;
}

// confirmButton asks again in place before a destructive action: no
// browser confirm(), which blocks and is easy to dismiss by reflex.
function confirmButton(label, question, action, attrs = {}) {
  const btn = h("button", { type: "button", class: "danger", ...attrs }, label);
  btn.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger confirm" }, "Yes, " + label.toLowerCase());
    const no = h("button", { type: "button" }, "Keep");
    const box = h("span", { class: "confirm-box", role: "group", "aria-label": question }, h("span", {}, question + " "), yes, no);
    no.addEventListener("click", () => { box.replaceWith(btn); btn.focus(); });
    yes.addEventListener("click", async () => { yes.disabled = true; await action(); if (box.isConnected) box.replaceWith(btn); });
    btn.replaceWith(box);
    no.focus();
  });
  return btn;
}

// ---- users ----

function usersSection(me) {
  const err = errBox("users-error");
  const ok = okBox("users-ok");
  const list = h("div", {});
  let roles = [], groups = [];
  const roleBoxes = h("fieldset", { class: "roles" }, h("legend", {}, "Roles (all groups; scope them per group after creating)"));
  const name = h("input", { id: "user-name", autocomplete: "off", required: true });
  const pw = h("input", { id: "user-password", type: "password", autocomplete: "new-password", minlength: "10", required: true });
  const form = h("form", { id: "user-form", class: "stack", onsubmit: async (ev) => {
    ev.preventDefault();
    const picked = [...roleBoxes.querySelectorAll("input:checked")].map((b) => b.value);
    if (!picked.length) return notice(err, "Pick at least one role.");
    try {
      const u = await api("POST", "/api/v1/users", { name: name.value.trim(), password: pw.value, roles: picked });
      notice(err, "");
      notice(ok, `User ${u.name} created.`, "ok");
      form.reset();
      load();
    } catch (e) { notice(err, describe(e, "create the user")); }
  } },
  h("label", { for: "user-name" }, "Sign-in name"), name,
  h("label", { for: "user-password" }, "Password (at least 10 characters)"), pw,
  roleBoxes, h("button", { type: "submit", class: "primary" }, "Create user"));

  async function load() {
    try {
      const [users, rs, gs] = await Promise.all([api("GET", "/api/v1/users"), api("GET", "/api/v1/roles"),
        api("GET", "/api/v1/groups").catch(() => ({ groups: [] }))]);
      roles = rs.roles; groups = gs.groups;
      if (roleBoxes.querySelectorAll("input").length === 0) {
        roleBoxes.append(...roles.map((r) => h("label", { class: "check", title: r.permissions.join(", ") },
          h("input", { type: "checkbox", value: r.name }), " " + r.name)));
      }
      list.replaceChildren(users.users.length ? h("div", { class: "table-wrap" }, h("table", { id: "users-table" },
        h("thead", {}, h("tr", {}, ["Name", "Roles", "State", "Created", ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, users.users.map((u) => h("tr", { "data-id": u.id, class: u.disabled ? "disabled" : null },
          h("th", { scope: "row" }, u.display_name ? [u.display_name, h("div", { class: "hint" }, u.name)] : u.name),
          h("td", {}, (u.roles || []).join(", ") || "—"),
          h("td", {}, u.disabled ? h("span", { class: "state" }, "Disabled") : h("span", { class: "state state-active" }, "Enabled")),
          h("td", {}, when(u.created)),
          h("td", { class: "actions" }, h("button", { type: "button", class: "edit", "aria-label": `Edit ${u.name}`,
            onclick: () => editUser(u) }, "Edit")))))))
        : empty("No users.", "Add one below."));
    } catch (e) { notice(err, describe(e, "list users")); }
  }

  // roleRow is one assignment: a role and its scope.
  function roleRow(spec = "") {
    const [rname, gname] = spec.split("@");
    const rsel = h("select", { class: "role-name", "aria-label": "Role" }, roles.map((r) => h("option", { value: r.name, selected: r.name === rname }, r.name)));
    const gsel = h("select", { class: "role-scope", "aria-label": "Over" }, h("option", { value: "" }, "All computer groups"),
      groups.map((g) => h("option", { value: g.name, selected: g.name === gname }, "Only " + g.name)));
    const row = h("li", { class: "role-row" }, rsel, gsel, h("button", { type: "button", "aria-label": "Remove this role", onclick: () => row.remove() }, "Remove"));
    return row;
  }

  function editUser(u) {
    const self = u.id === me.id;
    const derr = errBox("user-dialog-error");
    const dok = okBox("user-dialog-ok");
    const dn = h("input", { id: "user-display", value: u.display_name || "", autocomplete: "off", maxlength: "100" });
    const rows = h("ul", { class: "plain role-rows", id: "user-roles" }, (u.roles || []).map((r) => roleRow(r)));
    const disabled = h("input", { type: "checkbox", id: "user-disabled", checked: !!u.disabled, disabled: self });
    const npw = h("input", { id: "user-new-password", type: "password", autocomplete: "new-password", minlength: "10" });
    modal("user-dialog", `Edit ${u.name}`, (close) => {
      const form = h("form", { class: "stack", onsubmit: async (ev) => {
        ev.preventDefault();
        const specs = [...rows.querySelectorAll(".role-row")].map((r) => {
          const g = r.querySelector(".role-scope").value;
          return r.querySelector(".role-name").value + (g ? "@" + g : "");
        });
        if (!specs.length) return notice(derr, "Give the user at least one role.");
        try {
          await api("PATCH", "/api/v1/users/" + encodeURIComponent(u.id), { display_name: dn.value, roles: specs, disabled: disabled.checked });
          close();
          notice(ok, `Saved ${u.name}.`, "ok");
          load();
        } catch (e) { notice(derr, describe(e, "save " + u.name)); }
      } },
      h("label", { for: "user-display" }, "Display name"), dn,
      h("fieldset", {}, h("legend", {}, "Roles"), rows,
        h("button", { type: "button", id: "user-add-role", onclick: () => { const r = roleRow(); rows.append(r); r.querySelector("select").focus(); } }, "Add a role")),
      h("label", { class: "check", title: self ? "You cannot disable your own account" : "" }, disabled, " Disabled: the user cannot sign in, and is signed out now"),
      derr,
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "user-save" }, "Save"), h("button", { type: "button", onclick: close }, "Cancel")));
      const pwForm = h("form", { class: "stack", id: "user-password-form", onsubmit: async (ev) => {
        ev.preventDefault();
        if (npw.value.length < 10) return notice(derr, "The new password needs at least 10 characters.");
        try {
          await api("POST", "/api/v1/users/" + encodeURIComponent(u.id) + "/password", { password: npw.value });
          npw.value = "";
          notice(derr, "");
          notice(dok, `Password of ${u.name} reset; they were signed out everywhere.`, "ok");
        } catch (e) { notice(derr, describe(e, "reset the password")); }
      } }, h("label", { for: "user-new-password" }, "New password"), npw, h("button", { type: "submit" }, "Reset password"), dok);
      return [form, h("h3", {}, "Password"), pwForm,
        self ? h("p", { class: "hint" }, "You cannot delete your own account.") :
          h("div", { class: "buttons danger-zone" }, confirmButton("Delete user", `Delete ${u.name} for good?`, async () => {
            try {
              await api("DELETE", "/api/v1/users/" + encodeURIComponent(u.id));
              close();
              notice(ok, `Deleted ${u.name}.`, "ok");
              load();
            } catch (e) { notice(derr, describe(e, "delete " + u.name)); }
          }, { id: "user-delete" }))];
    });
  }

  load();
  return card("users", "Users", err, ok, list, h("details", {}, h("summary", {}, "Add a user"), form));
}

// ---- roles ----

const permText = {
  "users.manage": "Manage users and their roles",
  "users.read": "See users (to pick authors and approvers)",
  "roles.manage": "Define roles",
  "groups.manage": "Manage computer groups and memberships",
  "settings.manage": "Change server settings and policies",
  "tokens.manage": "Create and revoke enrollment tokens",
  "endpoints.view": "Find and view endpoints",
  "endpoints.manage": "Run maintenance actions, revoke endpoints",
  "screenshare.start": "Start screen shares; see and rejoin their own",
  "screenshare.unattended": "Start screen shares without asking the user",
  "screenshare.settings": "Change screen-share policies",
  "screenshare.sessions": "See, join and end everyone's screen shares",
  "audit.read": "Read the audit log",
  "tools.terminal": "Open a terminal on endpoints as the logged-on user",
  "tools.terminal.system": "Open a terminal on endpoints as root / SYSTEM",
  "tools.processes": "List and end processes on endpoints",
  "tools.services": "Start, stop and restart services on endpoints",
  "tools.files": "Browse and download files on endpoints",
  "tools.files.write": "Upload, rename and delete files on endpoints",
  "notifications.manage": "Manage end-user notifications",
  "notifications.send": "Send end-user notifications",
  "notifications.read": "Read end-user notifications",
  "notifications.approve": "Approve endpoint notification settings",
};

function rolesSection(me) {
  const err = errBox("roles-error");
  const ok = okBox("roles-ok");
  const list = h("div", {});
  const may = me.can("roles.manage");

  function edit(role, copy) {
    const isNew = !role || copy;
    const derr = errBox("role-dialog-error");
    const name = h("input", { id: "role-name", value: copy ? `${role.name} (copy)` : role ? role.name : "", readonly: !isNew, required: true, maxlength: "64", autocomplete: "off" });
    const held = new Set(role ? role.permissions : []);
    const boxes = Object.entries(permText).map(([p, text]) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "perm", value: p, checked: held.has(p) }), " ", text, " ", h("code", { class: "hint" }, p)));
    modal("role-dialog", isNew ? "New role" : `Edit ${role.name}`, (close) => h("form", { class: "stack", onsubmit: async (ev) => {
      ev.preventDefault();
      const perms = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      if (!perms.length) return notice(derr, "Pick at least one permission.");
      try {
        if (isNew) await api("POST", "/api/v1/roles", { name: name.value.trim(), permissions: perms });
        else await api("PUT", "/api/v1/roles/" + encodeURIComponent(role.name), { name: role.name, permissions: perms });
        close();
        notice(ok, `Role ${name.value.trim()} saved. Users holding it have the new permissions at once.`, "ok");
        load();
      } catch (e) { notice(derr, describe(e, "save the role")); }
    } }, h("label", { for: "role-name" }, "Name"), name, isNew ? null : h("p", { class: "hint" }, "Roles cannot be renamed."),
    h("fieldset", { id: "role-perms" }, h("legend", {}, "Permissions"), boxes), derr,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "role-save" }, "Save role"), h("button", { type: "button", onclick: close }, "Cancel"))));
  }

  async function load() {
    try {
      const data = await api("GET", "/api/v1/roles");
      list.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "roles-table" },
        h("thead", {}, h("tr", {}, ["Role", "Permissions", "Kind", "Assigned", ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, data.roles.map((r) => h("tr", { "data-name": r.name },
          h("th", { scope: "row" }, r.name),
          h("td", { class: "perms" }, r.permissions.map((p) => h("code", { title: permText[p] || "" }, p)).reduce((a, c) => (a.length ? [...a, ", ", c] : [c]), [])),
          h("td", {}, r.builtin ? "Built-in" : "Custom"),
          h("td", {}, String(r.assigned)),
          h("td", { class: "actions" }, may ? [
            r.builtin ? null : h("button", { type: "button", class: "edit", "aria-label": `Edit ${r.name}`, onclick: () => edit(r, false) }, "Edit"),
            h("button", { type: "button", class: "copy", "aria-label": `Copy ${r.name}`, onclick: () => edit(r, true) }, "Copy"),
            r.builtin ? null : r.assigned ? h("button", { type: "button", class: "danger", disabled: true, title: "Assigned to users: remove it from them first" }, "Delete")
              : confirmButton("Delete", `Delete the role ${r.name}?`, async () => {
                try { await api("DELETE", "/api/v1/roles/" + encodeURIComponent(r.name)); notice(ok, `Deleted ${r.name}.`, "ok"); load(); }
                catch (e) { notice(err, describe(e, "delete the role")); }
              }, { "aria-label": `Delete ${r.name}` }),
          ] : null)))))));
    } catch (e) { notice(err, describe(e, "list roles")); }
  }
  load();
  return card("roles", "Roles", h("p", { class: "hint" }, "Built-in roles are fixed; copy one to make a custom role. A role assigned to anyone cannot be deleted."),
    err, ok, may ? h("div", { class: "buttons" }, h("button", { type: "button", class: "primary", id: "role-new", onclick: () => edit(null, false) }, "New role")) : null, list);
}

// ---- computer groups ----

const ruleKinds = {
  hostname: ["Computer name matches", "fin-* (use * and ?)"],
  ip: ["IP address in", "10.1.0.0/16"],
  os: ["Operating system is", "linux, windows or darwin"],
  token: ["Enrolled with token", "token id, from Enrollment tokens"],
};

function describeRules(g) {
  if (!g.rules || !g.rules.length) return "No rules: members by enrollment or by hand";
  return g.rules.map((r) => `${(ruleKinds[r.kind] || [r.kind])[0].toLowerCase()} ${r.value}`).join(g.match === "all" ? " and " : " or ");
}

function groupsSection(me) {
  const err = errBox("groups-error");
  const ok = okBox("groups-ok");
  const list = h("div", {});
  const may = me.can("groups.manage");

  function ruleRow(r = { kind: "hostname", value: "" }) {
    const kind = h("select", { class: "rule-kind", "aria-label": "Rule" }, Object.entries(ruleKinds).map(([k, [t]]) => h("option", { value: k, selected: k === r.kind }, t)));
    const value = h("input", { class: "rule-value", "aria-label": "Value", value: r.value, placeholder: ruleKinds[r.kind][1], required: true });
    kind.addEventListener("change", () => { value.placeholder = ruleKinds[kind.value][1]; });
    const row = h("li", { class: "rule-row" }, kind, value, h("button", { type: "button", "aria-label": "Remove this rule", onclick: () => row.remove() }, "Remove"));
    return row;
  }

  function edit(g) {
    const derr = errBox("group-dialog-error");
    const name = h("input", { id: "group-name", value: g ? g.name : "", required: true, maxlength: "100", autocomplete: "off", readonly: g && g.id === "Default" });
    const match = h("select", { id: "group-match" }, h("option", { value: "any", selected: !g || g.match !== "all" }, "any rule matches"), h("option", { value: "all", selected: g && g.match === "all" }, "every rule matches"));
    const rows = h("ul", { class: "plain rule-rows", id: "group-rules" }, (g && g.rules || []).map((r) => ruleRow(r)));
    modal("group-dialog", g ? `Edit ${g.name}` : "New computer group", (close) => h("form", { class: "stack", onsubmit: async (ev) => {
      ev.preventDefault();
      const rules = [...rows.querySelectorAll(".rule-row")].map((r) => ({ kind: r.querySelector(".rule-kind").value, value: r.querySelector(".rule-value").value.trim() }));
      const body = { name: name.value.trim(), match: match.value, rules };
      try {
        if (g) await api("PUT", "/api/v1/groups/" + encodeURIComponent(g.id), body);
        else await api("POST", "/api/v1/groups", body);
        close();
        notice(ok, `Group ${body.name} saved; memberships were re-evaluated.`, "ok");
        load();
      } catch (e) { notice(derr, describe(e, "save the group")); }
    } }, h("label", { for: "group-name" }, "Name"), name,
    h("fieldset", {}, h("legend", {}, "Membership rules"),
      h("p", { class: "hint" }, "Endpoints join when they enroll and whenever their inventory changes. Endpoints enrolled into the group, or added by hand on their page, are members too."),
      h("label", { for: "group-match" }, "Join when"), match, rows,
      h("button", { type: "button", id: "group-add-rule", onclick: () => { const r = ruleRow(); rows.append(r); r.querySelector("select").focus(); } }, "Add a rule")),
    derr, h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "group-save" }, "Save group"), h("button", { type: "button", onclick: close }, "Cancel"))));
  }

  async function load() {
    try {
      const data = await api("GET", "/api/v1/groups");
      list.replaceChildren(h("div", { class: "table-wrap" }, h("table", { id: "groups-table" },
        h("thead", {}, h("tr", {}, ["Group", "Membership rules", "Endpoints", ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, data.groups.map((g) => h("tr", { "data-id": g.id },
          h("th", { scope: "row" }, g.name),
          h("td", {}, describeRules(g)),
          h("td", {}, g.members === undefined ? "—" : String(g.members)),
          h("td", { class: "actions" }, may ? [
            h("button", { type: "button", class: "edit", "aria-label": `Edit ${g.name}`, onclick: () => edit(g) }, "Edit"),
            g.id === "Default" ? null : confirmButton("Delete", `Delete the group ${g.name}?`, async () => {
              try { await api("DELETE", "/api/v1/groups/" + encodeURIComponent(g.id)); notice(err, ""); notice(ok, `Deleted ${g.name}.`, "ok"); load(); }
              catch (e) { notice(ok, ""); notice(err, describe(e, "delete " + g.name)); }
            }, { "aria-label": `Delete ${g.name}` }),
          ] : null)))))));
    } catch (e) { notice(err, describe(e, "list computer groups")); }
  }
  load();
  return card("groups", "Computer groups", h("p", { class: "hint" }, "Groups scope roles and screen-share policies. An endpoint belongs to the group of its enrollment token, to every group whose rules it matches, and to groups it was added to by hand."),
    err, ok, may ? h("div", { class: "buttons" }, h("button", { type: "button", class: "primary", id: "group-new", onclick: () => edit(null) }, "New group")) : null, list);
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
      const copyable = (id, text) => {
        const pre = h("pre", { id, tabindex: "0" }, text);
        return [pre, h("button", { type: "button", onclick: async (e) => {
          try { await navigator.clipboard.writeText(text); e.target.textContent = "Copied"; }
          catch (_) { getSelection().selectAllChildren(pre); e.target.textContent = "Press Ctrl+C to copy"; }
        } }, "Copy command")];
      };
      const dlStatus = h("p", { id: "installer-status", role: "status" });
      // The installers carry this token: they are made now, while the
      // console still has it (the server keeps only its hash).
      const get = (format) => async (e) => {
        e.target.disabled = true;
        dlStatus.textContent = "Building the installer…";
        try {
          const f = await download("POST", `/api/v1/enrollment-tokens/${encodeURIComponent(t.id)}/installer`, { format, token: t.token });
          dlStatus.textContent = `Downloaded ${f.name} (${Math.round(f.size / 1024)} KiB).`;
        } catch (ex) { dlStatus.textContent = ""; notice(err, describe(ex, "download the installer")); }
        finally { e.target.disabled = false; }
      };
      made.replaceChildren(h("p", {}, h("strong", {}, "Token created. "), "It is not shown again: download installers or copy a command now."),
        h("p", {}, "Installers that enroll with this token when installed, with no questions (dpkg -i, rpm -i, or a double-click / msiexec /qn):"),
        h("div", { class: "buttons", id: "installer-downloads" },
          h("button", { type: "button", id: "download-deb", onclick: get("deb") }, "Debian / Ubuntu (.deb)"),
          h("button", { type: "button", id: "download-rpm", onclick: get("rpm") }, "RHEL / Fedora (.rpm)"),
          h("button", { type: "button", id: "download-msi", onclick: get("msi") }, "Windows (.msi)")),
        dlStatus,
        h("p", {}, "Or, on Linux or macOS with the agent installed, as root:"), ...copyable("install-command", cmd),
        ...(t.powershell_command ? [h("p", {}, "Or, on Windows in PowerShell as administrator, next to tether-agent.msi:"), ...copyable("powershell-command", t.powershell_command)] : []));
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
    h("label", { for: "policy-outage" }, "Seconds a session rides out a lost connection before it ends"),
    h("input", { id: "policy-outage", name: "outage_limit_s", type: "number", min: "10", max: "600" }),
    h("label", { class: "check" }, h("input", { type: "checkbox", id: "policy-record", name: "record_sessions" }),
      " Record sessions (the endpoint user is told; Audit Log plays them)"),
    h("label", { for: "policy-retention" }, "Recording retention (days)"),
    h("input", { id: "policy-retention", name: "recording_retention_days", type: "number", min: "1", max: "3650" }),
    h("label", { class: "check" }, h("input", { type: "checkbox", id: "policy-tools-accept", name: "tools_acceptance_required" }),
      " Ask the endpoint user before a support tool (terminal, processes, services, files) opens"),
    h("label", { class: "check" }, h("input", { type: "checkbox", id: "policy-tools-nouser", name: "tools_without_user" }),
      " Allow support tools when nobody is logged on"),
    h("fieldset", { id: "policy-update" }, h("legend", {}, "Agent updates"),
      h("p", { class: "hint" }, "The agent release these endpoints run. Agents download it, check its signature, and roll back by themselves if the new version does not reach the server within 5 minutes. Start with a small percentage, or a canary group at 100."),
      h("label", { for: "policy-update-version" }, "Version (empty: leave agents as they are)"),
      h("input", { id: "policy-update-version", name: "update_version", type: "text", placeholder: "v1.4.0", pattern: "[A-Za-z0-9][A-Za-z0-9._+\\-]*" }),
      h("label", { for: "policy-update-percent" }, "Percent of the endpoints"),
      h("input", { id: "policy-update-percent", name: "update_percent", type: "number", min: "0", max: "100" }),
      h("p", { id: "rollouts", class: "hint", role: "status" })),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Save policy"),
      h("button", { type: "button", id: "policy-reset", onclick: () => save(true) }, "Use the global default")));

  function fill(sp) {
    for (const el of form.elements) {
      if (el.name === "mode") el.checked = (sp.modes || []).includes(el.value);
      else if (el.type === "checkbox") el.checked = !!sp[el.name];
      else if (el.name === "acceptance_timeout_s") el.value = sp.acceptance_timeout_s || 30;
      else if (el.name === "outage_limit_s") el.value = sp.outage_limit_s || 60;
      else if (el.name === "recording_retention_days") el.value = sp.recording_retention_days || 30;
    }
  }

  async function showRollouts() {
    const out = form.querySelector("#rollouts");
    try {
      const data = await api("GET", "/api/v1/agent-updates");
      out.textContent = data.rollouts.length ? "Rollout: " + data.rollouts.map((r) =>
        `${r.version}: ${r.updated} of ${r.covered} endpoints updated (${r.endpoints} targeted)`).join("; ") : "No agent release is targeted.";
    } catch (e) { out.textContent = describe(e, "read the rollout"); }
  }

  async function load() {
    notice(ok, "");
    try {
      const g = which.value;
      const [pol, glob] = await Promise.all([api("GET", "/api/v1/policies/" + encodeURIComponent(g)),
        g === "global" ? null : api("GET", "/api/v1/policies/global").catch(() => null)]);
      doc = pol.doc || {};
      const own = doc.screenshare;
      const base = { acceptance_required: true, acceptance_timeout_s: 30, unattended_allowed: false, modes: modes.map((m) => m[0]), user_may_end: true, clipboard_sync: true, file_transfer: true, outage_limit_s: 60,
        record_sessions: false, recording_retention_days: 30, tools_acceptance_required: true, tools_without_user: false };
      const inherited = glob && glob.doc && glob.doc.screenshare ? { ...base, ...glob.doc.screenshare } : base;
      fill({ ...inherited, ...(own || {}) });
      const upd = doc.agent_update || {};
      form.querySelector("#policy-update-version").value = upd.version || "";
      form.querySelector("#policy-update-percent").value = upd.percent ?? 100;
      showRollouts();
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
      else if (el.name === "outage_limit_s") sp.outage_limit_s = Number(el.value);
      else if (el.name === "recording_retention_days") sp.recording_retention_days = Number(el.value);
    }
    const next = { ...doc };
    if (reset) delete next.screenshare; else next.screenshare = sp;
    const uv = form.querySelector("#policy-update-version").value.trim();
    if (reset || !uv) delete next.agent_update;
    else next.agent_update = { version: uv, percent: Number(form.querySelector("#policy-update-percent").value) };
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
