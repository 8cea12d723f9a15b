// Tether recording player: /play/{session_id}. Plays a session's recording
// (GET /api/v1/sessions/{id}/recording, served with Range so the player
// seeks) beside the session's facts (the audit history's row) and its
// timeline (.../recording/timeline); choosing an event seeks the video to
// it. It needs the console's sign-in and audit.read over the session's
// endpoint; the server checks both. For tests: the video is #recording,
// the timeline #timeline with one <li data-at-ms> per event, and
// body[data-state] is loading, ready or error.
import { api, describe } from "./api.js";
import { h, when, duration, clock, modeNames, reasonNames, stateNames } from "./ui.js";

const $ = (id) => document.getElementById(id);
const sessionID = decodeURIComponent(location.pathname.replace(/^\/play\//, "").replace(/\/$/, ""));
const base = "/api/v1/sessions/" + encodeURIComponent(sessionID);
const video = $("recording");

// stamp formats milliseconds from the start.
const stamp = (ms) => clock(ms / 1000);

const kindNames = { chat: "Chat", control: "Control", mode: "Mode", file: "File", viewer: "Viewer" };

// eventText says an event in words; the actor has its own column.
function eventText(e) {
  switch (e.kind) {
    case "control": return e.actor ? "has control" : "nobody has control";
    case "mode": return modeNames[e.text] || e.text || "";
    default: return e.text || "";
  }
}

function fail(text) {
  const el = $("play-error");
  el.replaceChildren(text, " ", h("a", { href: "/" }, "Open the console"));
  el.hidden = false;
  document.body.dataset.state = "error";
}

function fact(dl, term, value) {
  if (value === undefined || value === null || value === "") return;
  dl.append(h("dt", {}, term), h("dd", {}, value));
}

function showFacts(s, info) {
  const dl = $("facts");
  dl.replaceChildren();
  if (s) {
    $("play-title").textContent = `Session recording: ${s.hostname || s.endpoint_id}, ${when(s.created)}`;
    document.title = `Recording: ${s.hostname || s.endpoint_id} — Tether`;
    fact(dl, "Endpoint", s.hostname || s.endpoint_id);
    fact(dl, "Technician", s.technician);
    fact(dl, "Mode", modeNames[s.mode] || s.mode);
    fact(dl, "Attended", s.attended ? "Yes" : "No");
    fact(dl, "Start", when(s.created));
    fact(dl, "End", s.ended ? when(s.ended) : stateNames[s.state] || s.state);
    if (s.ended) fact(dl, "Duration", duration(s.duration_s));
    fact(dl, "End reason", reasonNames[s.reason] || s.reason);
    fact(dl, "Joined", (s.joined || []).join(", "));
  }
  fact(dl, "Recorded", stamp(info.duration_ms) + (info.width ? ` at ${info.width}×${info.height}` : ""));
  fact(dl, "Size", info.size >= 1048576 ? `${(info.size / 1048576).toFixed(1)} MiB` : `${Math.ceil(info.size / 1024)} KiB`);
  fact(dl, "SHA-256", h("code", {}, info.sha256));
  fact(dl, "Kept until", when(info.expires));
}

function showTimeline(events) {
  const list = $("timeline");
  if (!events.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No events: nobody chatted, changed control or mode, or sent files."));
    return;
  }
  list.replaceChildren(...events.map((e) => {
    const text = eventText(e);
    return h("li", { "data-at-ms": String(e.at_ms), "data-kind": e.kind },
      h("button", { type: "button", title: "Jump to " + stamp(e.at_ms), onclick: () => seek(e.at_ms) },
        h("span", { class: "at" }, stamp(e.at_ms)),
        h("span", { class: "kind" }, kindNames[e.kind] || e.kind),
        e.actor ? h("span", { class: "actor" }, e.actor) : null,
        text ? h("span", { class: "text" }, text) : null));
  }));
}

// seek moves the video to at milliseconds (once it knows its length).
function seek(at) {
  const go = () => { video.currentTime = at / 1000; };
  if (video.readyState >= 1) go();
  else video.addEventListener("loadedmetadata", go, { once: true });
  video.focus();
}

// The event at or before the playing time is marked current.
video.addEventListener("timeupdate", () => {
  const now = video.currentTime * 1000;
  let cur = null;
  for (const li of $("timeline").querySelectorAll("li[data-at-ms]")) {
    li.removeAttribute("aria-current");
    if (Number(li.dataset.atMs) <= now) cur = li;
  }
  if (cur) cur.setAttribute("aria-current", "true");
});

video.addEventListener("error", () => {
  if (document.body.dataset.state !== "error") fail("The video cannot be played: it may have been deleted, or your sign-in has expired.");
});

async function start() {
  if (!sessionID) return fail("No session given.");
  let info;
  try {
    info = await api("GET", base + "/recording/timeline");
  } catch (e) {
    return fail(describe(e, "play this session's recording"));
  }
  video.src = base + "/recording";
  let s = null;
  try {
    const data = await api("GET", "/api/v1/audit/sessions?session=" + encodeURIComponent(sessionID));
    s = data.sessions[0] || null;
  } catch (_) { /* the facts of the recording still show */ }
  showFacts(s, info);
  showTimeline(info.events || []);
  document.body.dataset.state = "ready";
}

start();
