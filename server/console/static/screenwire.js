// screenwire.js decodes the binary messages of the "screen" data channel.
// It mirrors Decode in shared/screen/wire.go byte for byte, with the same
// validation: what Go rejects, this rejects (e2e TestScreenwireMatchesGo
// feeds both the same bytes).
//
// All integers are big-endian. Every message starts with a kind byte:
//
//	tile:      [1][seq u32][x u16][y u16][w u16][h u16][enc u8][payload...]
//	frame end: [2][seq u32]
//	size:      [3][seq u32][w u16][h u16]
//	copy:      [4][seq u32][sx u16][sy u16][w u16][h u16][dx u16][dy u16]
//	           (move a rectangle of the picture, as if through a copy)
//	bundle:    [5][seq u32] then, one or more times, [len u32][message]
//	           (messages of one frame in one; never nested)
//	video:     [6][seq u32][x u16][y u16][w u16][h u16]
//	           (from this frame on the rectangle is shown by the video
//	           track; w = h = 0: no video any more)
//
// Encodings: 1 JPEG, 2 PNG, 3 solid colour (payload R, G, B), 4 JPEG at half
// resolution (ceil(w/2) x ceil(h/2), drawn scaled up to w x h), 5 indexed:
// [n-1 u8][n x RGB][deflate-raw of the palette indices, packed per row at 1,
// 2, 4 or 8 bits, most significant first, rows on byte boundaries]
// (decodeIndexed below; Go's screen.DecodeIndexed).

export const KIND_TILE = 1;
export const KIND_FRAME_END = 2;
export const KIND_SIZE = 3;
export const KIND_COPY = 4;
export const KIND_BUNDLE = 5;
export const KIND_VIDEO = 6;

export const ENC_JPEG = 1;
export const ENC_PNG = 2;
export const ENC_SOLID = 3;
export const ENC_JPEG_HALF = 4;
export const ENC_INDEXED = 5;

export const TILE_HEADER_LEN = 1 + 4 + 2 * 4 + 1;
export const COPY_LEN = 1 + 4 + 2 * 6;
export const VIDEO_LEN = 1 + 4 + 2 * 4;
export const MAX_MESSAGE = 256 << 10;

// MalformedError reports bytes that are not a screen message.
export class MalformedError extends Error {
  constructor(detail) {
    super("malformed screen message: " + detail);
    this.name = "MalformedError";
  }
}

// decode parses one message from a Uint8Array (or ArrayBuffer). It returns
// {kind, seq} plus, for tiles, tile: {x, y, w, h, enc, payload} (payload is a
// view into the input, not a copy), for copies, copy: {sx, sy, w, h, dx, dy},
// for bundles, parts: [Uint8Array] (views, each still to be decoded), for
// size messages, w and h, and for video messages, x, y, w and h. It
// throws MalformedError for anything Go's screen.Decode rejects.
export function decode(input) {
  const b = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (b.length < 5) throw new MalformedError(`${b.length} bytes`);
  if (b.length > MAX_MESSAGE) throw new MalformedError(`${b.length} bytes exceeds ${MAX_MESSAGE}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const m = { kind: b[0], seq: dv.getUint32(1) };
  switch (m.kind) {
    case KIND_TILE: {
      if (b.length < TILE_HEADER_LEN) throw new MalformedError(`tile header of ${b.length} bytes`);
      const t = {
        x: dv.getUint16(5), y: dv.getUint16(7), w: dv.getUint16(9), h: dv.getUint16(11),
        enc: b[13], payload: b.subarray(TILE_HEADER_LEN),
      };
      if (t.w === 0 || t.h === 0) throw new MalformedError(`empty tile ${t.w}x${t.h}`);
      if (t.x + t.w > 65535 || t.y + t.h > 65535) throw new MalformedError("tile beyond 65535 pixels");
      switch (t.enc) {
        case ENC_JPEG:
        case ENC_PNG:
        case ENC_JPEG_HALF:
          if (t.payload.length === 0) throw new MalformedError("empty image payload");
          break;
        case ENC_INDEXED:
          if (t.payload.length === 0 || t.payload.length < 1 + 3 * (t.payload[0] + 1) + 1) {
            throw new MalformedError(`indexed payload of ${t.payload.length} bytes`);
          }
          break;
        case ENC_SOLID:
          if (t.payload.length !== 3) throw new MalformedError(`solid tile payload of ${t.payload.length} bytes`);
          break;
        default:
          throw new MalformedError(`unknown encoding ${t.enc}`);
      }
      m.tile = t;
      break;
    }
    case KIND_FRAME_END:
      if (b.length !== 5) throw new MalformedError(`frame end of ${b.length} bytes`);
      break;
    case KIND_SIZE:
      if (b.length !== 9) throw new MalformedError(`size message of ${b.length} bytes`);
      m.w = dv.getUint16(5);
      m.h = dv.getUint16(7);
      if (m.w === 0 || m.h === 0) throw new MalformedError("empty size");
      break;
    case KIND_COPY: {
      if (b.length !== COPY_LEN) throw new MalformedError(`copy message of ${b.length} bytes`);
      const c = {
        sx: dv.getUint16(5), sy: dv.getUint16(7), w: dv.getUint16(9), h: dv.getUint16(11),
        dx: dv.getUint16(13), dy: dv.getUint16(15),
      };
      if (c.w === 0 || c.h === 0) throw new MalformedError(`empty copy ${c.w}x${c.h}`);
      if (c.sx + c.w > 65535 || c.sy + c.h > 65535 || c.dx + c.w > 65535 || c.dy + c.h > 65535) {
        throw new MalformedError("copy beyond 65535 pixels");
      }
      m.copy = c;
      break;
    }
    case KIND_VIDEO:
      if (b.length !== VIDEO_LEN) throw new MalformedError(`video message of ${b.length} bytes`);
      m.x = dv.getUint16(5);
      m.y = dv.getUint16(7);
      m.w = dv.getUint16(9);
      m.h = dv.getUint16(11);
      if ((m.w === 0) !== (m.h === 0)) throw new MalformedError(`video rectangle ${m.w}x${m.h}`);
      if (m.x + m.w > 65535 || m.y + m.h > 65535) throw new MalformedError("video beyond 65535 pixels");
      break;
    case KIND_BUNDLE: {
      m.parts = [];
      for (let off = 5; off < b.length;) {
        if (b.length - off < 4) throw new MalformedError("bundle part length cut short");
        const n = dv.getUint32(off);
        if (n < 5 || n > b.length - off - 4) throw new MalformedError(`bundle part of ${n} bytes`);
        const part = b.subarray(off + 4, off + 4 + n);
        if (part[0] === KIND_BUNDLE) throw new MalformedError("bundle in a bundle");
        m.parts.push(part);
        off += 4 + n;
      }
      if (m.parts.length === 0) throw new MalformedError("empty bundle");
      break;
    }
    default:
      throw new MalformedError(`unknown kind ${m.kind}`);
  }
  return m;
}

// MAX_INDEXED_PIXELS bounds an indexed rectangle, as Go's does.
const MAX_INDEXED_PIXELS = 1 << 24;

// indexedBits is the bits per pixel of n colours.
function indexedBits(n) {
  return n <= 2 ? 1 : n <= 4 ? 2 : n <= 16 ? 4 : 8;
}

// decodeIndexed resolves to the w x h ImageData of an indexed payload (a
// tile that decode accepted). It rejects what Go's screen.DecodeIndexed
// rejects: a stream that is not exactly the rectangle's bytes, an index
// beyond the palette.
export async function decodeIndexed(payload, w, h) {
  if (w * h > MAX_INDEXED_PIXELS) throw new MalformedError(`indexed: ${w}x${h}`);
  const n = payload[0] + 1;
  const pal = payload.subarray(1, 1 + 3 * n);
  const bits = indexedBits(n);
  const row = (w * bits + 7) >> 3;
  const want = row * h;
  // Inflate into exactly the rectangle's bytes, stopping at the first byte
  // more: a small payload must not make the viewer hold a huge one.
  const reader = new Blob([payload.subarray(1 + 3 * n)]).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  const packed = new Uint8Array(want);
  let got = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.length > want) {
        reader.cancel().catch(() => {});
        throw new MalformedError(`indexed: more than the ${want} bytes of ${w}x${h} at ${bits} bits`);
      }
      packed.set(value, got);
      got += value.length;
    }
  } catch (e) {
    throw e instanceof MalformedError ? e : new MalformedError("indexed: " + e.message);
  }
  if (got !== want) throw new MalformedError(`indexed: ${got} of ${want} bytes`);
  const img = new ImageData(w, h);
  const px = new Uint32Array(img.data.buffer);
  // Palette as little-endian RGBA words (ImageData's byte order).
  const words = new Uint32Array(n);
  for (let i = 0; i < n; i++) words[i] = (0xff000000 | (pal[3 * i + 2] << 16) | (pal[3 * i + 1] << 8) | pal[3 * i]) >>> 0;
  const mask = (1 << bits) - 1;
  for (let y = 0, o = 0; y < h; y++) {
    const base = y * row;
    for (let x = 0; x < w; x++, o++) {
      const bit = x * bits;
      const i = (packed[base + (bit >> 3)] >> (8 - bits - (bit & 7))) & mask;
      if (i >= n) throw new MalformedError(`indexed: index ${i} of ${n} colours`);
      px[o] = words[i];
    }
  }
  return img;
}
