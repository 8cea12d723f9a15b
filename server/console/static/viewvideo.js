// viewvideo.js draws the session's video track (VP8: the parts of the
// screen that move like video) onto the viewer's canvas, in the rectangle
// the screen channel names (KIND_VIDEO messages). The rest of the picture
// stays on the tile path; the agent sends no tiles inside the rectangle
// while it is video, and sends them all again when it ends.
export class VideoLayer {
  // ctx: the canvas's 2D context; onFrame: called after each frame drawn.
  constructor({ ctx, onFrame }) {
    this.ctx = ctx;
    this.onFrame = onFrame;
    this.region = null; // {x, y, w, h} or null
    this.frames = 0; // video frames drawn
    this.skipped = 0; // frames of another size than the region (an old stream)
    // The element decodes; it is never shown itself. It stays in the
    // document (a detached or hidden one may not hand out frames).
    const v = this.video = document.createElement("video");
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute("aria-hidden", "true");
    v.style.cssText = "position:fixed;left:0;top:0;width:2px;height:2px;opacity:0;pointer-events:none;";
    document.body.append(v);
    this.pending = false;
  }

  // attach shows stream's frames from now on.
  // receiver: the track's RTCRtpReceiver, told to hold no frames back.
  attach(stream, receiver) {
    // A screen is interactive: show each frame as soon as it is decoded,
    // not after a jitter buffer meant for smooth film.
    if (receiver && "jitterBufferTarget" in receiver) receiver.jitterBufferTarget = 0;
    this.video.srcObject = stream;
    this.video.play().catch(() => {});
    this.watch();
  }

  // detach forgets the stream (the peer connection closed).
  detach() {
    this.video.srcObject = null;
  }

  // setRegion is called in the order of the screen channel's frames: null
  // ends the video (the frame's own tiles then paint the rectangle).
  setRegion(r) {
    this.region = r && r.w > 0 && r.h > 0 ? r : null;
    if (this.region) this.draw();
  }

  watch() {
    if (this.pending) return;
    this.pending = true;
    const next = () => {
      this.pending = true;
      if ("requestVideoFrameCallback" in this.video) {
        this.video.requestVideoFrameCallback(() => { this.pending = false; this.draw(); next(); });
      } else {
        requestAnimationFrame(() => { this.pending = false; this.draw(); next(); });
      }
    };
    next();
  }

  draw() {
    const r = this.region, v = this.video;
    if (!r || v.readyState < 2) return;
    // The agent encodes the rectangle at its size or, when large, at half
    // of it, rounded up to even; any other size is a stream made for
    // another rectangle, still draining.
    const fits = (s, n) => s >= n && s <= n + 1;
    const half = Math.ceil(r.w / 2), halfH = Math.ceil(r.h / 2);
    if (fits(v.videoWidth, r.w) && fits(v.videoHeight, r.h)) {
      this.ctx.drawImage(v, 0, 0, r.w, r.h, r.x, r.y, r.w, r.h);
    } else if (fits(v.videoWidth, half) && fits(v.videoHeight, halfH)) {
      const smooth = this.ctx.imageSmoothingEnabled;
      this.ctx.imageSmoothingEnabled = true;
      this.ctx.drawImage(v, 0, 0, half, halfH, r.x, r.y, r.w, r.h);
      this.ctx.imageSmoothingEnabled = smooth;
    } else {
      this.skipped++;
      return;
    }
    this.frames++;
    this.onFrame();
  }
}
