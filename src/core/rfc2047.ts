/**
 * RFC 2047 encoded-words in header values (`=?utf-8?q?Lukas_M=C3=A4rdian?=`).
 *
 * - `q` and `b` encodings, any charset (see charset.ts), language suffixes
 *   (RFC 2231 §5: `=?utf-8*en?q?...?=`) ignored.
 * - White space between two adjacent encoded-words is dropped (RFC 2047 §6.2).
 * - Adjacent words in the same charset are joined as bytes before decoding, so
 *   a character split across two words (Launchpad does this) survives.
 * - Anything malformed stays as written; nothing here throws.
 */
import { decodeBytes } from './charset.js';

// Linear: every quantified class stops at `?` or white space, so a failed
// attempt never scans past the next `?`.
const WORD = /=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=/g;

interface Encoded {
  charset: string;
  chunks: Buffer[];
}

/** Decode the `q` encoding (RFC 2047 §4.2): `_` is a space, `=XX` a byte. */
export function decodeQWord(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) {
      out[n++] = 0x20;
    } else if (c === 0x3d && i + 2 < text.length && isHex(text.charCodeAt(i + 1)) && isHex(text.charCodeAt(i + 2))) {
      out[n++] = (hexVal(text.charCodeAt(i + 1)) << 4) | hexVal(text.charCodeAt(i + 2));
      i += 2;
    } else {
      out[n++] = c & 0xff;
    }
  }
  return out.subarray(0, n);
}

export function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

export function hexVal(c: number): number {
  if (c <= 0x39) return c - 0x30;
  if (c <= 0x46) return c - 0x37;
  return c - 0x57;
}

function decodeWordBytes(enc: string, text: string): Buffer {
  if (enc === 'b' || enc === 'B') return Buffer.from(text, 'base64');
  return decodeQWord(text);
}

function charsetOf(spec: string): string {
  const star = spec.indexOf('*');
  return (star >= 0 ? spec.slice(0, star) : spec).toLowerCase();
}

/** Decode every encoded-word in an (already unfolded) header value. */
export function decodeEncodedWords(value: string): string {
  if (value.indexOf('=?') < 0) return value;
  let out = '';
  let last = 0;
  let pending: Encoded | undefined;
  const flush = (): void => {
    if (pending) {
      const { chunks } = pending;
      out += decodeBytes(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), pending.charset);
      pending = undefined;
    }
  };
  WORD.lastIndex = 0;
  for (let m = WORD.exec(value); m !== null; m = WORD.exec(value)) {
    const between = value.slice(last, m.index);
    const charset = charsetOf(m[1] ?? '');
    const bytes = decodeWordBytes(m[2] ?? 'q', m[3] ?? '');
    if (pending && /^[ \t\r\n]*$/.test(between)) {
      // Adjacent encoded-words: the white space between them is not text.
      if (pending.charset === charset) {
        pending.chunks.push(bytes);
      } else {
        flush();
        pending = { charset, chunks: [bytes] };
      }
    } else {
      flush();
      out += between;
      pending = { charset, chunks: [bytes] };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + value.slice(last);
}
