/**
 * Content-Transfer-Encodings (RFC 2045 §6) on bytes. Lenient: a malformed
 * escape is kept as written, never an error.
 */
import { hexVal, isHex } from './rfc2047.js';

/** Undo quoted-printable: `=XX` → byte, `=` before a line break (soft break) → nothing. */
export function decodeQuotedPrintable(input: Uint8Array): Buffer {
  const len = input.length;
  const out = Buffer.allocUnsafe(len);
  let n = 0;
  let i = 0;
  while (i < len) {
    const c = input[i] as number;
    if (c !== 0x3d) {
      out[n++] = c;
      i++;
      continue;
    }
    const a = i + 1 < len ? (input[i + 1] as number) : -1;
    const b = i + 2 < len ? (input[i + 2] as number) : -1;
    if (a >= 0 && b >= 0 && isHex(a) && isHex(b)) {
      out[n++] = (hexVal(a) << 4) | hexVal(b);
      i += 3;
      continue;
    }
    // Soft line break; transport may have added white space after the `=`.
    let j = i + 1;
    while (j < len && (input[j] === 0x20 || input[j] === 0x09)) j++;
    if (j >= len) {
      i = len;
      continue;
    }
    if (input[j] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (input[j] === 0x0d && j + 1 < len && input[j + 1] === 0x0a) {
      i = j + 2;
      continue;
    }
    out[n++] = c;
    i++;
  }
  return out.subarray(0, n);
}

/** Undo base64; white space and junk characters are skipped (Node's decoder is lenient). */
export function decodeBase64(input: Uint8Array): Buffer {
  return Buffer.from(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1'), 'base64');
}
