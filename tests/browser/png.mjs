// Reads the pixels of a PNG screenshot, so a test can assert what a person would see
// (a colour at a point) rather than only that an image was made. Handles what
// Chromium writes: 8-bit RGB or RGBA, not interlaced.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Decodes a PNG buffer to { width, height, channels, data } (rows of raw bytes). */
export function decodePng(buf) {
  assert.ok(buf.subarray(0, 8).equals(SIGNATURE), 'not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const body = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const depth = body[8];
      const colour = body[9];
      assert.equal(depth, 8, '8-bit samples expected');
      assert.equal(body[12], 0, 'interlaced PNGs are not read');
      assert.ok(colour === 2 || colour === 6, `colour type ${colour} is not read`);
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const data = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = data.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? data.subarray((y - 1) * stride, y * stride) : null;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels] : 0;
      const b = prev ? prev[x] : 0;
      const c = prev && x >= channels ? prev[x - channels] : 0;
      let v = src[x];
      switch (filter) {
        case 0: break;
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) >> 1; break;
        case 4: v += paeth(a, b, c); break;
        default: assert.fail(`PNG filter ${filter} is unknown`);
      }
      row[x] = v & 0xff;
    }
  }
  return { width, height, channels, data };
}

/** The colour at (x, y) as '#rrggbb'. */
export function pixel(img, x, y) {
  const i = (Math.round(y) * img.width + Math.round(x)) * img.channels;
  const hex = (v) => v.toString(16).padStart(2, '0');
  return `#${hex(img.data[i])}${hex(img.data[i + 1])}${hex(img.data[i + 2])}`;
}

/** True when two '#rrggbb' colours differ by at most tol in every channel. */
export function near(a, b, tol = 3) {
  const ch = (h, i) => parseInt(h.slice(1 + 2 * i, 3 + 2 * i), 16);
  return [0, 1, 2].every((i) => Math.abs(ch(a, i) - ch(b, i)) <= tol);
}
