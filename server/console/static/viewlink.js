// SessionLink: one viewer's connection to a session, as the viewer page
// and the endpoint page's tool tabs both make it. It follows the
// signalling flow of protocol.Signal over the session's websocket,
// answers the agent's WebRTC offer with the data channels the caller
// names, falls back to the websocket relay (viewrelay.js) when no WebRTC
// path comes up, and reconnects after a drop, taking its seat back.
import { api } from "./api.js";
import { RelayLink } from "./viewrelay.js";

// How long ICE gets, from the offer, before the viewer asks for the relay.
const ICE_PATIENCE_MS = 15000;

const noop = () => {};

export class SessionLink {
  // opts: sessionID; stats (counters: offers, reconnects, viewerId,
  // errors); relayFirst (start on the relay without trying WebRTC);
  // channels(ch) → the data channels by name, ch(label, id) making each;
  // on: hooks, each optional —
  //   hello(m): the signalling's first message (viewer id, session);
  //   session(s): the session changed;       end(reason): it ended;
  //   channels(chs, current): new channels, current() while still in use;
  //   closed(): the peer and its channels are gone;
  //   lost(): the connection dropped;        connected(again): a path is up;
  //   switching(reason): the endpoint moves the session (a new desktop);
  //   holder(id): control changed hands;     track(ev): a media track;
  //   path(): the network path may have changed;  error(text).
  constructor(opts) {
    this.sessionID = opts.sessionID;
    this.stats = opts.stats || {};
    this.channelsFor = opts.channels;
    this.on = opts.on || {};
    this.wantRelay = !!opts.relayFirst;
    this.ws = null;
    this.pc = null;
    this.relay = null;
    this.relayAsked = false;
    this.iceTimer = 0;
    this.iceConfig = null;
    this.remoteCandidates = [];
    this.viewerID = "";
    this.session = null;
    this.ended = false;
    this.reconnectDelay = 1000;
  }

  hook(name, ...args) { return (this.on[name] || noop)(...args); }

  signal(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  // drop closes the websocket and the peer connection as a network
  // failure would; the link reconnects.
  drop() {
    if (this.ws) this.ws.close(4000, "dropped on purpose");
  }

  // close ends the link for good (the session ended).
  close() {
    if (this.ended) return;
    this.ended = true;
    this.closePeer();
    if (this.ws) { try { this.ws.close(1000, "session ended"); } catch { /* closed */ } }
  }

  closePeer() {
    clearTimeout(this.iceTimer);
    if (this.pc) { try { this.pc.close(); } catch { /* closed */ } }
    this.pc = null;
    if (this.relay) this.relay.close();
    this.relay = null;
    this.hook("closed");
  }

  connect() {
    if (this.ended) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    // After a drop, the viewer takes its seat back (and control with it)
    // while the server still holds it.
    const s = this.session;
    const seated = this.viewerID && s && (s.viewers || []).some((v) => v.id === this.viewerID);
    const resume = seated ? `?viewer=${encodeURIComponent(this.viewerID)}` : "";
    const sock = new WebSocket(`${proto}//${location.host}/api/v1/sessions/${encodeURIComponent(this.sessionID)}/signal${resume}`);
    sock.binaryType = "arraybuffer";
    this.ws = sock;
    sock.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        if (this.ws === sock && this.relay && !this.relay.onFrame(ev.data)) this.stats.errors = (this.stats.errors || 0) + 1;
        return;
      }
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      this.onSignal(m).catch((e) => { console.warn("signal:", e); this.hook("error", `Connection problem: ${e.message}`); });
    };
    sock.onclose = () => {
      if (this.ws !== sock || this.ended) return;
      this.hook("lost");
      this.closePeer();
      this.relayAsked = false;
      setTimeout(async () => {
        // The session may have ended while we were away.
        try { this.setSession(await api("GET", `/api/v1/sessions/${encodeURIComponent(this.sessionID)}`)); } catch { /* retry below */ }
        this.connect();
      }, this.reconnectDelay);
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, 10000);
    };
  }

  setSession(s) {
    if (!s) return;
    this.session = s;
    this.hook("session", s);
  }

  async onSignal(m) {
    switch (m.type) {
      case "hello":
        this.reconnectDelay = 1000;
        this.viewerID = m.viewer_id || "";
        this.stats.viewerId = this.viewerID;
        this.iceConfig = {
          iceServers: (m.ice_servers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })),
          iceTransportPolicy: m.ice_transport_policy === "relay" ? "relay" : "all",
        };
        if (m.session) this.session = m.session;
        this.hook("hello", m);
        if (this.wantRelay) { this.closePeer(); this.askRelay("asked"); } else this.newPeer();
        break;
      case "offer": await this.onOffer(m.sdp); break;
      case "reconnect": this.onReconnect(m.reason); break;
      case "relay": this.onRelay(); break;
      case "candidate": await this.onCandidate(m.candidate); break;
      case "session": this.setSession(m.session); break;
      case "state":
        if (m.state === "ended") this.hook("end", m.reason);
        else this.setSession({ ...(this.session || {}), state: m.state });
        break;
      case "control": this.hook("holder", m.holder || ""); break;
      case "end": this.hook("end", m.reason || (this.session && this.session.reason)); break;
      case "error": this.hook("error", m.message || "The server reported an error."); break;
    }
  }

  // askRelay asks the endpoint to carry the data channels through the
  // server's websocket: WebRTC did not come up (reason "ice_failed"), or
  // the viewer was told to start so ("asked").
  askRelay(reason) {
    if (this.relayAsked || this.ended) return;
    this.relayAsked = true;
    if (reason === "ice_failed") this.wantRelay = true;
    console.info(`asking for the websocket relay (${reason})`);
    this.signal({ type: "relay", reason });
  }

  // onRelay: the endpoint's side of the relay is ready; its frames follow.
  onRelay() {
    if (this.ended || this.relay) return;
    this.closePeer();
    const link = new RelayLink(this.ws);
    this.relay = link;
    this.hook("channels", this.channelsFor((label) => link.channels[label]), () => this.relay === link);
    link.open();
    this.hook("path");
  }

  newPeer() {
    this.closePeer();
    const p = new RTCPeerConnection(this.iceConfig);
    this.pc = p;
    this.remoteCandidates = [];
    p.onicecandidate = (ev) => {
      if (ev.candidate && this.pc === p) this.signal({ type: "candidate", candidate: ev.candidate.toJSON() });
    };
    let everConnected = false;
    p.onconnectionstatechange = () => {
      if (this.pc !== p || this.ended) return;
      // A path that never came up: the relay. One that worked and died (an
      // outage): the endpoint offers a new peer connection, as it does when
      // its side fails too.
      if (p.connectionState === "failed" && !everConnected) this.askRelay("ice_failed");
      if (p.connectionState === "failed" || p.connectionState === "disconnected") this.hook("lost");
      if (p.connectionState === "connected") {
        this.hook("connected", everConnected);
        everConnected = true;
        clearTimeout(this.iceTimer);
        this.hook("path");
      }
    };
    p.ontrack = (ev) => { if (this.pc === p) this.hook("track", ev); };
    this.hook("channels", this.channelsFor((label, id) => p.createDataChannel(label, { negotiated: true, id })), () => this.pc === p);
    return p;
  }

  // onReconnect: the endpoint moved the session to another desktop's
  // helper (protocol.SignalReconnect). Its offer follows; drop the old
  // peer now so nothing of it is used any more, and wait for the new one.
  onReconnect(reason) {
    if (this.ended) return;
    this.stats.reconnects = (this.stats.reconnects || 0) + 1;
    this.hook("switching", reason);
    // The new helper knows nothing of a relay the old one ran.
    this.relayAsked = false;
    if (this.wantRelay) { this.closePeer(); this.askRelay("asked"); } else this.newPeer();
  }

  async onOffer(sdp) {
    this.stats.offers = (this.stats.offers || 0) + 1;
    if (this.relay || this.relayAsked) return; // the relay carries this viewer's data
    // A second offer on a connection that already has one means the agent
    // started over (a new helper, a changed desktop): start over too.
    if (!this.pc || this.pc.remoteDescription) this.newPeer();
    const p = this.pc;
    await p.setRemoteDescription({ type: "offer", sdp });
    const answer = await p.createAnswer();
    await p.setLocalDescription(answer);
    this.signal({ type: "answer", sdp: p.localDescription.sdp });
    clearTimeout(this.iceTimer);
    this.iceTimer = setTimeout(() => { if (this.pc === p && p.connectionState !== "connected") this.askRelay("ice_failed"); }, ICE_PATIENCE_MS);
    for (const c of this.remoteCandidates.splice(0)) await p.addIceCandidate(c).catch((e) => console.warn("candidate:", e.message));
  }

  async onCandidate(c) {
    if (!c) return;
    if (!this.pc || !this.pc.remoteDescription) { this.remoteCandidates.push(c); return; }
    await this.pc.addIceCandidate(c).catch((e) => console.warn("candidate:", e.message));
  }

  // networkPath is how the session's data travel now: "direct" (a host or
  // reflexive pair), "relay-udp", "relay-tcp" or "relay-tls" (this side
  // reaches the server's relay so), "relay-remote" (only the endpoint is
  // relayed), "websocket", or "" before a pair is chosen.
  async networkPath() {
    if (this.relay) return "websocket";
    const p = this.pc;
    if (!p) return "";
    const report = await p.getStats();
    let pair = null;
    report.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId); });
    if (!pair) return "";
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    if (local && local.candidateType === "relay") return `relay-${(local.relayProtocol || "udp").toLowerCase()}`;
    // The endpoint's relayed packets can arrive before its relay candidate
    // does; the pair then has a peer-reflexive remote at the relay's
    // address.
    if (remote && (remote.candidateType === "relay" || this.relayHosts().has(remote.address || remote.ip))) return "relay-remote";
    return "direct";
  }

  // relayHosts are the hosts of the session's TURN servers.
  relayHosts() {
    const hosts = new Set();
    for (const s of (this.iceConfig && this.iceConfig.iceServers) || []) {
      for (const u of [].concat(s.urls || [])) {
        const m = /^turns?:(\[[^\]]+\]|[^:?]+)/.exec(u);
        if (m) hosts.add(m[1].replace(/^\[|\]$/g, ""));
      }
    }
    return hosts;
  }
}
