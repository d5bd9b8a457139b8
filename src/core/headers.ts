/**
 * The header block of a mail, read straight off the Buffer: find the empty
 * line, split fields, and decode a value only when someone asks for it.
 * Linear in the size of the header block; the body is never looked at.
 */
import { isUtf8 } from 'node:buffer';
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

/** Find the empty line that ends the header block (`\n\n` or `\n\r\n`), scanning from `start`. */
export function findHeaderEnd(raw: Uint8Array, start = 0, end = raw.length): HeaderBounds {
  // An empty header block: the input starts with the empty line.
  if (start < end && raw[start] === 0x0a) return { headerEnd: start, bodyOffset: start + 1, separated: true };
  if (start + 1 < end && raw[start] === 0x0d && raw[start + 1] === 0x0a) {
    return { headerEnd: start, bodyOffset: start + 2, separated: true };
  }
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  let pos = start;
  for (;;) {
    const lf = buf.indexOf(0x0a, pos);
    if (lf < 0 || lf >= end) return { headerEnd: end, bodyOffset: end, separated: false };
    const next = lf + 1;
    if (next < end && buf[next] === 0x0a) return { headerEnd: next, bodyOffset: next + 1, separated: true };
    if (next + 1 < end && buf[next] === 0x0d && buf[next + 1] === 0x0a) {
      return { headerEnd: next, bodyOffset: next + 2, separated: true };
    }
    pos = next;
  }
}

/** Header text: UTF-8 when valid (RFC 6532 allows it), else Latin-1 so no byte is lost. */
export function headerText(raw: Uint8Array, start: number, end: number): string {
  const buf = Buffer.from(raw.buffer, raw.byteOffset + start, end - start);
  return isUtf8(buf) ? buf.toString('utf8') : buf.toString('latin1');
}

function isFieldNameChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x3a;
}

/**
 * Split header text into fields. Lines that are not `name: value` (an mbox
 * `From ` line, garbage) are skipped together with their continuation lines.
 */
export function splitFields(text: string): HeaderField[] {
  const fields: HeaderField[] = [];
  const len = text.length;
  let pos = 0;
  let current: { name: string; start: number } | undefined;
  let valueEnd = 0;
  const close = (): void => {
    if (current) fields.push({ name: current.name, raw: text.slice(current.start, valueEnd) });
    current = undefined;
  };
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = len;
    const first = text.charCodeAt(pos);
    if (first === 0x20 || first === 0x09) {
      // Continuation line: belongs to the open field (or to a skipped line).
      if (current) valueEnd = nl;
    } else {
      close();
      // Field name: printable ASCII up to the colon; obsolete syntax (RFC 5322
      // §4.5.) allows white space before the colon. Scanning stops at the first
      // other character, so a long line without a colon costs nothing extra.
      let i = pos;
      while (i < nl && isFieldNameChar(text.charCodeAt(i))) i++;
      const nameEnd = i;
      while (i < nl && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
      if (nameEnd > pos && i < nl && text.charCodeAt(i) === 0x3a) {
        current = { name: text.slice(pos, nameEnd).toLowerCase(), start: i + 1 };
        valueEnd = nl;
      }
    }
    pos = nl + 1;
  }
  close();
  return fields;
}

const FOLD = /\r?\n[ \t]*/g;

/** Unfold (line break + white space → one space), decode RFC 2047 words, trim. */
export function decodeHeaderValue(raw: string): string {
  let v = raw;
  if (v.indexOf('\n') >= 0) v = v.replace(FOLD, ' ');
  return decodeEncodedWords(v.trim()).trim();
}

/** Unfold and trim, without decoding encoded-words (for structured fields such as Authentication-Results). */
export function unfoldHeaderValue(raw: string): string {
  let v = raw;
  if (v.indexOf('\n') >= 0) v = v.replace(FOLD, ' ');
  return v.trim();
}

/** The fields of one header block with cheap look-ups by name. */
export class HeaderList {
  readonly fields: readonly HeaderField[];
  private index: Map<string, string[]> | undefined;

  constructor(fields: readonly HeaderField[]) {
    this.fields = fields;
  }

  private lookup(): Map<string, string[]> {
    if (this.index) return this.index;
    const idx = new Map<string, string[]>();
    for (const f of this.fields) {
      const list = idx.get(f.name);
      if (list) list.push(f.raw);
      else idx.set(f.name, [f.raw]);
    }
    this.index = idx;
    return idx;
  }

  /** Raw values (folded, undecoded) of every field called `name`, in header order. */
  raw(name: string): readonly string[] {
    return this.lookup().get(name.toLowerCase()) ?? [];
  }

  has(name: string): boolean {
    return this.lookup().has(name.toLowerCase());
  }

  /** Decoded value of the first field called `name`; undefined when there is none. */
  get(name: string): string | undefined {
    const r = this.raw(name)[0];
    return r === undefined ? undefined : decodeHeaderValue(r);
  }

  /** Decoded values of every field called `name`, in header order. */
  all(name: string): string[] {
    return this.raw(name).map(decodeHeaderValue);
  }

  get size(): number {
    return this.fields.length;
  }
}

/** The header block of `raw` and where its body starts. */
export interface ReadHeaders {
  headers: HeaderList;
  bodyOffset: number;
  /** False when the mail has no empty line after its headers. */
  separated: boolean;
}

/** Read the header block of a raw mail (or MIME part) between `start` and `end`. */
export function readHeaders(raw: Uint8Array, start = 0, end = raw.length): ReadHeaders {
  const b = findHeaderEnd(raw, start, end);
  const fields = splitFields(headerText(raw, start, b.headerEnd));
  return { headers: new HeaderList(fields), bodyOffset: b.bodyOffset, separated: b.separated };
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
