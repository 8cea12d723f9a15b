// The Start Broker Session dialog: the server issues a 9-digit connection
// code valid 15 minutes; the dialog shows it with a live countdown and
// "waiting for target", offers Request New (new digits, the old ones dead
// at once), Extend Timeout (same digits, 15 minutes again) and Cancel.
// When the end user enters the code on their computer, the dialog follows
// the session it started and opens the viewer.
import { api, describe } from "./api.js";
import { h, clock, notice, openViewer, reasonNames } from "./ui.js";

const stateText = {
  requested: "Code entered. Deploying to the endpoint…",
  awaiting_acceptance: "Code entered. Waiting for the user to accept…",
  connecting: "Connecting…",
  active: "Connected.",
};

export function openBrokerDialog(onChange = () => {}) {
  const codeEl = h("p", { id: "broker-code", class: "broker-code", "aria-live": "polite" }, "…");
  const count = h("p", { id: "broker-countdown", class: "hint", role: "timer", "aria-live": "off" });
  const status = h("p", { id: "broker-state", role: "status", "aria-live": "polite", class: "share-state" }, "Issuing a code…");
  const err = h("p", { id: "broker-error", class: "notice", role: "alert", hidden: true });
  const how = h("p", { class: "hint", id: "broker-how" });
  const renew = h("button", { type: "button", id: "broker-renew", disabled: true }, "Request New");
  const extend = h("button", { type: "button", id: "broker-extend", disabled: true }, "Extend Timeout");
  const cancel = h("button", { type: "button", id: "broker-cancel", class: "danger" }, "Cancel");
  const link = h("p", { hidden: true });
  let code = null, digits = "", deadline = 0, tick = null, poll = null, closed = false, sessionID = "";

  const dlg = h("dialog", { id: "broker-dialog", "aria-labelledby": "broker-title" },
    h("h2", { id: "broker-title" }, "Broker session"),
    h("p", {}, "Give this code to the person you are helping:"), codeEl, count, how, status, err, link,
    h("div", { class: "buttons" }, renew, extend, cancel));

  const stop = () => { clearInterval(tick); clearTimeout(poll); tick = poll = null; };
  const close = () => { closed = true; stop(); dlg.close(); dlg.remove(); };

  // show takes a code answer: digits when given, and the time left.
  function show(c) {
    code = c;
    if (c.code) digits = c.code;
    codeEl.textContent = digits;
    deadline = performance.now() + c.seconds_left * 1000;
    how.replaceChildren("They enter it from the Tether icon (Enter Connection Code…), or as administrator: ",
      h("code", {}, `tether-agent code ${digits}`));
    renew.disabled = extend.disabled = false;
    countdown();
    clearInterval(tick);
    tick = setInterval(countdown, 1000);
  }

  function countdown() {
    const left = Math.ceil((deadline - performance.now()) / 1000);
    if (left > 0) {
      count.textContent = `Expires in ${clock(left)} (${left} s)`;
      count.dataset.seconds = String(left);
      if (!sessionID) { status.textContent = "Waiting for target…"; status.dataset.state = "waiting"; }
      return;
    }
    count.textContent = "Expired.";
    count.dataset.seconds = "0";
    if (!sessionID) {
      status.textContent = "";
      status.dataset.state = "expired";
      notice(err, "The code expired before it was entered. Request New gives a fresh one; Extend Timeout revives this one.");
    }
  }

  async function follow() {
    poll = null;
    if (closed || !code) return;
    try {
      if (!sessionID) {
        const c = await api("GET", "/api/v1/codes/" + encodeURIComponent(code.id));
        if (c.state === "used" && c.session_id) {
          sessionID = c.session_id;
          clearInterval(tick);
          renew.disabled = extend.disabled = true;
          count.textContent = c.hostname ? `Entered on ${c.hostname}.` : "Entered.";
          onChange();
        } else if (c.state === "cancelled") {
          return close();
        }
      }
      if (sessionID) {
        const s = await api("GET", "/api/v1/sessions/" + encodeURIComponent(sessionID));
        if (s.state === "ended") {
          status.textContent = "";
          notice(err, `The session ended: ${reasonNames[s.reason] || s.reason}.`);
          cancel.textContent = "Close";
          return;
        }
        status.textContent = stateText[s.state] || s.state;
        status.dataset.state = s.state;
        if (s.state === "connecting" || s.state === "active") {
          if (openViewer(s.id)) return close();
          link.replaceChildren(h("a", { href: "/view/" + encodeURIComponent(s.id), target: "_blank", rel: "noopener", onclick: () => setTimeout(close) }, "Open the viewer"));
          link.hidden = false;
          cancel.textContent = "Close";
          return;
        }
      }
    } catch (e) {
      notice(err, describe(e, "follow the broker session"));
    }
    if (!closed) poll = setTimeout(follow, 1000);
  }

  renew.addEventListener("click", async () => {
    try { notice(err, ""); show(await api("POST", `/api/v1/codes/${encodeURIComponent(code.id)}/renew`, {})); }
    catch (e) { notice(err, describe(e, "request a new code")); }
  });
  extend.addEventListener("click", async () => {
    try { notice(err, ""); show(await api("POST", `/api/v1/codes/${encodeURIComponent(code.id)}/extend`, {})); }
    catch (e) { notice(err, describe(e, "extend the code")); }
  });
  const cancelled = async () => {
    const c = code;
    close();
    // A code not yet entered dies with the dialog; a started session goes on.
    if (c && !sessionID) await api("POST", `/api/v1/codes/${encodeURIComponent(c.id)}/cancel`, {}).catch(() => {});
  };
  cancel.addEventListener("click", cancelled);
  dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); cancelled(); });

  document.body.append(dlg);
  dlg.showModal();
  cancel.focus();
  api("POST", "/api/v1/codes", {}).then((c) => { show(c); renew.focus(); follow(); }, (e) => {
    status.textContent = "";
    notice(err, describe(e, "start a broker session"));
    cancel.textContent = "Close";
  });
  return dlg;
}
