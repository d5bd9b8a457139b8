/**
 * Bytes → text for any MIME charset label. Node 20 ships full ICU, so
 * `TextDecoder` knows every WHATWG encoding label; anything it does not know
 * is decoded as UTF-8 when the bytes are valid UTF-8, else as windows-1252, so a
 * made-up charset never throws and never loses bytes silently.
 */
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';

const decoders = new Map<string, TextDecoder>();

function decoderFor(label: string): TextDecoder | undefined {
  const hit = decoders.get(label);
  if (hit) return hit;
  let dec: TextDecoder;
  try {
    dec = new TextDecoder(label, { fatal: false });
  } catch {
    return undefined;
  }
  // Only valid labels are cached and there are a few hundred of them at most.
  decoders.set(label, dec);
  return dec;
}

/** Normalise a charset parameter: trim, quotes gone, RFC 2231 language (`utf-8*en`) gone, lower case. */
export function normalizeCharset(charset: string | undefined): string {
  if (!charset) return '';
  let c = charset.trim();
  const star = c.indexOf('*');
  if (star >= 0) c = c.slice(0, star);
  return c.replace(/^["']+|["']+$/g, '').toLowerCase();
}

/** Decode `bytes` from `charset` (any label, or empty for "not said": UTF-8, else Latin-1). */
export function decodeBytes(bytes: Uint8Array, charset: string | undefined): string {
  const label = normalizeCharset(charset);
  if (label === 'utf-8' || label === 'utf8') {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }
  if (label === '' || label === 'us-ascii' || label === 'ascii') {
    return fallbackDecode(bytes);
  }
  // UTF-7 is not a WHATWG encoding: TextDecoder would throw, the fallback keeps the text readable.
  const dec = label.length <= 64 ? decoderFor(label) : undefined;
  if (!dec) return fallbackDecode(bytes);
  // Node 20's TextDecoder decodes windows-1252 (and so every label WHATWG maps
  // to it: iso-8859-1, us-ascii, latin1, …) as plain Latin-1, losing € and the
  // curly quotes in 0x80–0x9F. Do that one table ourselves.
  if (dec.encoding === 'windows-1252') return decodeWindows1252(bytes);
  try {
    return dec.decode(bytes);
  } catch {
    return fallbackDecode(bytes);
  }
}

// WHATWG windows-1252 for 0x80–0x9F (the rest is Latin-1); unassigned bytes map to the C1 control.
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** windows-1252 → text (WHATWG Encoding). */
export function decodeWindows1252(bytes: Uint8Array): string {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return /[\x80-\x9f]/.test(latin1) ? latin1.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80] as string) : latin1;
}

/** UTF-8 when the bytes are valid UTF-8 (ASCII is), else windows-1252: the best guess for unlabelled text. */
export function fallbackDecode(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(buf) ? buf.toString('utf8') : decodeWindows1252(buf);
}
