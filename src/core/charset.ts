/**
 * Bytes → text for any MIME charset label. Node 20 ships full ICU, so
 * `TextDecoder` knows every WHATWG encoding label; anything it does not know
 * is decoded as UTF-8 when the bytes are valid UTF-8, else as Latin-1, so a
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
  try {
    return dec.decode(bytes);
  } catch {
    return fallbackDecode(bytes);
  }
}

/** UTF-8 when the bytes are valid UTF-8 (ASCII is), else Latin-1: the best guess for unlabelled text. */
export function fallbackDecode(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(buf) ? buf.toString('utf8') : buf.toString('latin1');
}
