// The Open Screen Share dialog: attended by default; users holding
// screenshare.unattended may clear "Ask the endpoint user for permission".
// The technician picks a mode among those the endpoint's policy enables
// (the server refuses any other). While the session starts it shows live
// state, then opens the viewer.
import { api, describe, ApiError } from "./api.js";
import { h, notice, openViewer, reasonNames, modeNames } from "./ui.js";

const modeHelp = {
  active: "view and control",
  guidance: "view; point and mark on the user's screen",
  monitor: "view only",
};

const stateText = {
  requested: "Deploying to the endpoint…",
  awaiting_acceptance: "Waiting for the user to accept…",
  connecting: "Connecting…",
  active: "Connected.",
};

const endText = {
  declined: "The user declined the screen share.",
  acceptance_timeout: "The user did not answer in time.",
  agent_offline: "The endpoint did not pick up the request: it may have gone offline.",
  error: "The screen share failed on the endpoint.",
  ended_by_user: "The user ended the screen share.",
  ended_by_technician: "The screen share was ended.",
  user_changed: "Another user (or the login screen) took over the endpoint's screen: the consent given does not carry over.",
};

// openShareDialog asks how to share ep's screen and starts the session.
// onChange is called when a session was started or ended.
export function openShareDialog(me, ep, onChange = () => {}) {
  const mayUnattended = me.can("screenshare.unattended");
  const ask = h("input", { type: "checkbox", id: "share-ask", checked: true });
  const status = h("p", { id: "share-state", role: "status", "aria-live": "polite", class: "share-state" });
  const err = h("p", { id: "share-error", class: "notice", role: "alert", hidden: true });
  const start = h("button", { type: "submit", class: "primary", id: "share-start" }, "Start Screen Share");
  const cancel = h("button", { type: "button", id: "share-cancel" }, "Cancel");
  const link = h("p", { hidden: true });
  // Filled from the endpoint's policy once it loads; until then the
  // server picks the first enabled mode.
  const modeBox = h("fieldset", { class: "mode-choice", id: "share-modes" }, h("legend", {}, "Mode"), h("p", { class: "hint" }, "Loading the endpoint's policy…"));
  let session = null, timer = null, done = false;

  const dlg = h("dialog", { id: "share-dialog", "aria-labelledby": "share-title" },
    h("form", { method: "dialog" },
      h("h2", { id: "share-title" }, `Open Screen Share with ${ep.hostname}`),
      mayUnattended
        ? h("label", { class: "check" }, ask, " Ask the endpoint user for permission")
        : h("p", { class: "hint" }, "The endpoint user will be asked for permission."),
      modeBox, status, err, link,
      h("div", { class: "buttons" }, start, cancel)));

  api("GET", "/api/v1/endpoints/" + encodeURIComponent(ep.id)).then((full) => {
    const ss = full.screenshare || { modes: [] };
    if (!ss.modes.length) {
      modeBox.replaceChildren(h("legend", {}, "Mode"), h("p", { class: "notice error" }, "The endpoint's policy enables no mode that shows the screen."));
      start.disabled = true;
      return;
    }
    modeBox.replaceChildren(h("legend", {}, "Mode"), ...ss.modes.map((m, i) => h("label", { class: "check" },
      h("input", { type: "radio", name: "share-mode", value: m, checked: i === 0, id: "share-mode-" + m }),
      ` ${modeNames[m] || m}`, h("span", { class: "hint" }, ` — ${modeHelp[m] || ""}`))));
    if (!ss.acceptance_required) modeBox.append(h("p", { class: "hint" }, "This endpoint's policy connects without asking the user."));
  }, () => { modeBox.hidden = true; });

  const stop = () => { clearTimeout(timer); timer = null; };
  const close = () => { stop(); dlg.close(); dlg.remove(); };

  async function watch() {
    timer = null;
    try {
      session = await api("GET", "/api/v1/sessions/" + encodeURIComponent(session.id));
    } catch (e) {
      notice(err, describe(e, "follow the session"));
      return finish();
    }
    if (session.state === "ended") {
      status.textContent = "";
      notice(err, endText[session.reason] || `The screen share ended (${reasonNames[session.reason] || session.reason}).`);
      onChange();
      return finish();
    }
    status.textContent = stateText[session.state] || session.state;
    status.dataset.state = session.state;
    if (session.state === "connecting" || session.state === "active") {
      done = true;
      onChange();
      if (openViewer(session.id)) return close();
      // The browser blocked the new tab: offer a link (a click may open it).
      link.replaceChildren(h("a", { href: "/view/" + encodeURIComponent(session.id), target: "_blank", rel: "noopener", onclick: () => setTimeout(close) }, "Open the viewer"));
      link.hidden = false;
      cancel.textContent = "Close";
      return;
    }
    timer = setTimeout(watch, 1000);
  }

  function finish() {
    stop();
    session = null;
    start.disabled = false;
    start.textContent = "Try Again";
    ask.disabled = false;
    for (const r of modeBox.querySelectorAll("input")) r.disabled = false;
    cancel.textContent = "Close";
  }

  dlg.querySelector("form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (session) return;
    notice(err, "");
    start.disabled = true;
    ask.disabled = true;
    for (const r of modeBox.querySelectorAll("input")) r.disabled = true;
    cancel.textContent = "Cancel";
    status.textContent = "Requesting…";
    try {
      const picked = modeBox.querySelector("input[name=share-mode]:checked");
      session = await api("POST", "/api/v1/sessions", { endpoint_id: ep.id, attended: mayUnattended ? ask.checked : true, mode: picked ? picked.value : "" });
      onChange();
      watch();
    } catch (e) {
      status.textContent = "";
      let msg = describe(e, `share the screen of ${ep.hostname}`);
      if (e instanceof ApiError && e.status === 409 && e.code === "endpoint_offline") msg = `${ep.hostname} is offline: its agent has not checked in recently. Try again when it is online.`;
      else if (e instanceof ApiError && e.status === 403) msg = `Permission denied: ${e.message}.`;
      else if (e instanceof ApiError && e.status === 400 && /not enabled by policy/.test(e.message)) msg = `That mode is not allowed on ${ep.hostname}: ${e.message}. Pick another mode.`;
      notice(err, msg);
      finish();
      start.textContent = "Start Screen Share";
    }
  });

  // Cancel while starting ends the session that is being set up.
  const cancelled = async () => {
    const s = session;
    close();
    if (s && !done) {
      await api("POST", "/api/v1/sessions/" + encodeURIComponent(s.id) + "/end", {}).catch(() => {});
      onChange();
    }
  };
  cancel.addEventListener("click", cancelled);
  dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); cancelled(); });

  document.body.append(dlg);
  dlg.showModal();
  start.focus();
  return dlg;
}
