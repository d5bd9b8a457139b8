/**
 * Content-Transfer-Encodings (RFC 2045 §6) on bytes. Lenient: a malformed
 * escape is kept as written, never an error.
 */
import { hexVal, isHex } from './rfc2047.js';

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; c++) if (isHex(c)) HEX[c] = hexVal(c);

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Undo quoted-printable: `=XX` → byte, `=` before a line break (soft break,
 * transport white space allowed) → nothing, any other `=` kept. Runs between
 * escapes are copied natively, which keeps this fast on long text.
 */
export function decodeQuotedPrintable(input: Uint8Array, scratch?: Buffer): Buffer {
  const src = asBuffer(input);
  let eq = src.indexOf(0x3d);
  if (eq < 0) return src;
  const len = src.length;
  // The output is never longer than the input; a caller that decodes right
  // away may lend a scratch buffer and save the allocation.
  const out = scratch && scratch.length >= len ? scratch : Buffer.allocUnsafe(len);
  let n = 0;
  let i = 0;
  while (eq >= 0) {
    if (eq - i > 24) {
      out.set(src.subarray(i, eq), n);
      n += eq - i;
    } else {
      for (let k = i; k < eq; k++) out[n++] = src[k] as number;
    }
    const a = eq + 1 < len ? (HEX[src[eq + 1] as number] as number) : -1;
    const b = eq + 2 < len ? (HEX[src[eq + 2] as number] as number) : -1;
    if (a >= 0 && b >= 0) {
      out[n++] = (a << 4) | b;
      i = eq + 3;
    } else {
      let j = eq + 1;
      while (j < len && (src[j] === 0x20 || src[j] === 0x09)) j++;
      if (j >= len) i = len;
      else if (src[j] === 0x0a) i = j + 1;
      else if (src[j] === 0x0d && j + 1 < len && src[j + 1] === 0x0a) i = j + 2;
      else {
        out[n++] = 0x3d;
        i = eq + 1;
      }
    }
    eq = i < len ? src.indexOf(0x3d, i) : -1;
  }
  if (i < len) {
    out.set(src.subarray(i, len), n);
    n += len - i;
  }
  return out.subarray(0, n);
}

/** Undo base64; white space and junk characters are skipped (Node's decoder is lenient). */
export function decodeBase64(input: Uint8Array): Buffer {
  return Buffer.from(asBuffer(input).toString('latin1'), 'base64');
}
