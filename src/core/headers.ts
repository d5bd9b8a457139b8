/**
 * The header block of a mail, read straight off the Buffer: find the empty
 * line, split fields, and decode a value only when someone asks for it.
 * Linear in the size of the header block; the body is never looked at.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { decodeWindows1252 } from './charset.js';
import { decodeEncodedWords } from './rfc2047.js';

/** One header field: lower-cased name and the raw value (folds kept, undecoded). */
export interface HeaderField {
  name: string;
  raw: string;
}

/** Where the header block ends, found without decoding anything. */
export interface HeaderBounds {
  /** End of the header block (exclusive, before the empty line). */
  headerEnd: number;
  /** Start of the body; equals raw.length when there is no empty line. */
  bodyOffset: number;
  /** False when no empty line was found (the whole input is headers). */
  separated: boolean;
}

const LFLF = Buffer.from('\n\n');
const LFCRLF = Buffer.from('\n\r\n');

/** Find the empty line that ends the header block (`\n\n` or `\n\r\n`) between `start` and `end`. */
export function findHeaderEnd(raw: Uint8Array, start = 0, end = raw.length): HeaderBounds {
  // An empty header block: the input starts with the empty line.
  if (start < end && raw[start] === 0x0a) return { headerEnd: start, bodyOffset: start + 1, separated: true };
  if (start + 1 < end && raw[start] === 0x0d && raw[start + 1] === 0x0a) {
    return { headerEnd: start, bodyOffset: start + 2, separated: true };
  }
  // Two native searches instead of one call per line: the first `\n\n`, then
  // a `\n\r\n` before it (CRLF mail has no `\n\n` in its header block).
  const region = Buffer.from(raw.buffer, raw.byteOffset + start, end - start);
  const lf = region.indexOf(LFLF);
  const crlf = (lf < 0 ? region : region.subarray(0, lf + 2)).indexOf(LFCRLF);
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headerEnd: start + crlf + 1, bodyOffset: start + crlf + 3, separated: true };
  if (lf >= 0) return { headerEnd: start + lf + 1, bodyOffset: start + lf + 2, separated: true };
  return { headerEnd: end, bodyOffset: end, separated: false };
}

/**
 * Header text as Latin-1: one byte per character, so string and byte offsets
 * agree and no byte is lost. Values are turned into real text (UTF-8, RFC
 * 6532, else windows-1252) one at a time, when asked for: see decodeHeaderValue.
 */
export function headerText(raw: Uint8Array, start: number, end: number): string {
  return Buffer.from(raw.buffer, raw.byteOffset + start, end - start).toString('latin1');
}

function isFieldNameChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x3a;
}

/**
 * Split header text into fields: four offsets per field (name start, name
 * end, value start, value end) into `text`. Nothing is sliced or lower-cased
 * here; look-ups compare names in place (HeaderList). Lines that are not
 * `name: value` (an mbox `From ` line, garbage) are skipped together with
 * their continuation lines.
 */
export function splitFieldOffsets(text: string): number[] {
  const offs: number[] = [];
  const len = text.length;
  let pos = 0;
  let open = false;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = len;
    const first = text.charCodeAt(pos);
    if (first === 0x20 || first === 0x09) {
      // Continuation line: extends the open field (or belongs to a skipped line).
      if (open) offs[offs.length - 1] = nl;
    } else {
      // Field name: printable ASCII up to the colon; obsolete syntax (RFC 5322
      // §4.5) allows white space before the colon. The scan stops at the first
      // other character, so each line is looked at once.
      let i = pos;
      while (i < nl && isFieldNameChar(text.charCodeAt(i))) i++;
      const nameEnd = i;
      while (i < nl && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
      open = nameEnd > pos && i < nl && text.charCodeAt(i) === 0x3a;
      if (open) offs.push(pos, nameEnd, i + 1, nl);
    }
    pos = nl + 1;
  }
  return offs;
}

/** Split header text into fields (lower-cased names, raw values). */
export function splitFields(text: string): readonly HeaderField[] {
  return new HeaderList(text, splitFieldOffsets(text)).fields;
}

const FOLD = /\r?\n[ \t]*/g;

const HIGH = /[\x80-\xff]/;

/** Raw 8-bit header bytes (held as Latin-1 characters) → text: UTF-8 when valid, else windows-1252. */
function eightBit(v: string): string {
  if (!HIGH.test(v)) return v;
  const bytes = Buffer.from(v, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : decodeWindows1252(bytes);
}

/** Unfold (line break + white space → one space), decode RFC 2047 words, trim. */
export function decodeHeaderValue(raw: string): string {
  return decodeValue(raw, true);
}

function decodeValue(raw: string, mayBe8bit: boolean): string {
  let v = raw;
  if (v.indexOf('\n') >= 0) v = v.replace(FOLD, ' ');
  if (mayBe8bit) v = eightBit(v);
  return decodeEncodedWords(v.trim()).trim();
}

/** Unfold and trim, without decoding encoded-words (for structured fields such as Authentication-Results). */
export function unfoldHeaderValue(raw: string): string {
  let v = raw;
  if (v.indexOf('\n') >= 0) v = v.replace(FOLD, ' ');
  return eightBit(v).trim();
}

/** The fields of one header block with cheap look-ups by name. */
export class HeaderList {
  private readonly text: string;
  /** Four offsets per field into `text`: name start, name end, value start, value end. */
  private readonly offs: readonly number[];
  private materialized: HeaderField[] | undefined;
  /** Any byte ≥ 0x80 in the block? Pure ASCII blocks (the usual case) skip the per-value 8-bit check. */
  private readonly eightBit: boolean;

  constructor(text: string, offs: readonly number[], eightBit = HIGH.test(text)) {
    this.text = text;
    this.offs = offs;
    this.eightBit = eightBit;
  }

  /** Does field `k` have the (lower-case) name `lower`? Length first, then case-insensitive in place. */
  private is(k: number, lower: string): boolean {
    const start = this.offs[k] as number;
    const n = lower.length;
    if ((this.offs[k + 1] as number) - start !== n) return false;
    const t = this.text;
    for (let j = 0; j < n; j++) {
      let c = t.charCodeAt(start + j);
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c !== lower.charCodeAt(j)) return false;
    }
    return true;
  }

  private rawAt(k: number): string {
    return this.text.slice(this.offs[k + 2], this.offs[k + 3]);
  }

  /** Every field: lower-cased name and raw value, in header order. */
  get fields(): readonly HeaderField[] {
    if (!this.materialized) {
      const out: HeaderField[] = [];
      for (let k = 0; k < this.offs.length; k += 4) {
        out.push({ name: this.text.slice(this.offs[k], this.offs[k + 1]).toLowerCase(), raw: this.rawAt(k) });
      }
      this.materialized = out;
    }
    return this.materialized;
  }

  /** Raw values (folded, undecoded) of every field called `name`, in header order. */
  raw(name: string, limit = Number.POSITIVE_INFINITY): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (let k = 0; k < this.offs.length && out.length < limit; k += 4) if (this.is(k, lower)) out.push(this.rawAt(k));
    return out;
  }

  /** Raw value of the first field called `name`. */
  firstRaw(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let k = 0; k < this.offs.length; k += 4) if (this.is(k, lower)) return this.rawAt(k);
    return undefined;
  }

  has(name: string): boolean {
    return this.firstRaw(name) !== undefined;
  }

  /** Decoded value of the first field called `name`; undefined when there is none. */
  get(name: string): string | undefined {
    const r = this.firstRaw(name);
    return r === undefined ? undefined : decodeValue(r, this.eightBit);
  }

  /** Decoded values of every field called `name` (at most `limit`), in header order. */
  all(name: string, limit = Number.POSITIVE_INFINITY): string[] {
    return this.raw(name, limit).map((r) => decodeValue(r, this.eightBit));
  }

  /** Raw fields whose name starts with the (lower-case) `prefix`, in header order. */
  withPrefix(prefix: string): HeaderField[] {
    return this.fields.filter((f) => f.name.startsWith(prefix));
  }

  get size(): number {
    return this.offs.length / 4;
  }
}

/** The header block of `raw` and where its body starts. */
export interface ReadHeaders {
  headers: HeaderList;
  bodyOffset: number;
  /** False when the mail has no empty line after its headers. */
  separated: boolean;
}

/** Most header blocks end well within this many bytes; see readHeaders. */
const HEAD_CHUNK = 64 * 1024;

/** Read the header block of a raw mail (or MIME part) between `start` and `end`. */
export function readHeaders(raw: Uint8Array, start = 0, end = raw.length): ReadHeaders {
  // Fast path: decode the first chunk as Latin-1 once and search the string
  // (string and byte offsets agree); only a header block longer than the chunk
  // falls back to searching the bytes.
  const chunkEnd = Math.min(end, start + HEAD_CHUNK);
  const chunk = headerText(raw, start, chunkEnd);
  let b: HeaderBounds | undefined;
  if (chunk.charCodeAt(0) === 0x0a) b = { headerEnd: start, bodyOffset: start + 1, separated: true };
  else if (chunk.startsWith('\r\n')) b = { headerEnd: start, bodyOffset: start + 2, separated: true };
  else {
    for (let pos = 0; ; ) {
      const nl = chunk.indexOf('\n', pos);
      if (nl < 0) break;
      const next = chunk.charCodeAt(nl + 1);
      if (next === 0x0a) {
        b = { headerEnd: start + nl + 1, bodyOffset: start + nl + 2, separated: true };
        break;
      }
      if (next === 0x0d && chunk.charCodeAt(nl + 2) === 0x0a) {
        b = { headerEnd: start + nl + 1, bodyOffset: start + nl + 3, separated: true };
        break;
      }
      pos = nl + 1;
    }
    if (!b && chunkEnd === end) b = { headerEnd: end, bodyOffset: end, separated: false };
  }
  b ??= findHeaderEnd(raw, start, end);
  // A fresh (flat) string of just the header block scans faster than a slice of the chunk.
  const text = headerText(raw, start, b.headerEnd);
  const ascii = isAscii(raw.subarray(start, b.headerEnd));
  return { headers: new HeaderList(text, splitFieldOffsets(text), !ascii), bodyOffset: b.bodyOffset, separated: b.separated };
}

/**
 * Values of every header `name` of a raw mail, unfolded, trimmed and (unless
 * `decode: false`) RFC 2047-decoded. For the verifier and logs.
 */
export function headerValues(raw: Uint8Array, name: string, opts: { decode?: boolean } = {}): string[] {
  const { headers } = readHeaders(raw);
  const list = headers.raw(name);
  return opts.decode === false ? list.map(unfoldHeaderValue) : list.map(decodeHeaderValue);
}
