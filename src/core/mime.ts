/**
 * Finding and decoding the text body (SPEC §2 `body`): the body of a
 * single-part text mail, else the first `text/plain` part that is not an
 * attachment, searched depth-first through nested multiparts.
 *
 * Only the chosen part is decoded, and only as much of it as the body limit
 * needs; other parts (a 50 MB attachment) are skipped with one `indexOf` for
 * the next boundary. Nesting deeper than MAX_MULTIPART_DEPTH yields no body.
 */
import { decodeBytes } from './charset.js';
import { decodeBase64, decodeQuotedPrintable } from './encodings.js';
import { type HeaderList, readHeaders } from './headers.js';

/** Multipart nesting beyond this depth is not searched (hostile mail). */
export const MAX_MULTIPART_DEPTH = 50;

/** A parsed Content-Type / Content-Disposition value. */
export interface MimeValue {
  /** Lower-cased value before the first `;` (`text/plain`, `attachment`). */
  value: string;
  /** Lower-cased parameter names → values (quotes removed). */
  params: Map<string, string>;
}

const MAX_PARAMS = 100;

/** Parse `value; key=val; key="quoted; val"`; never throws. */
export function parseMimeValue(input: string | undefined): MimeValue {
  const params = new Map<string, string>();
  if (!input) return { value: '', params };
  const len = input.length;
  let i = input.indexOf(';');
  if (i < 0) i = len;
  const value = input.slice(0, i).trim().toLowerCase();
  // Real headers have a handful of parameters; a hostile one is not read past MAX_PARAMS.
  for (let count = 0; i < len && count < MAX_PARAMS; count++) {
    i++; // past ';'
    let eq = i;
    while (eq < len && input[eq] !== '=' && input[eq] !== ';') eq++;
    const key = input.slice(i, eq).trim().toLowerCase();
    if (eq >= len || input[eq] === ';') {
      i = eq;
      continue;
    }
    let j = eq + 1;
    while (j < len && (input[j] === ' ' || input[j] === '\t')) j++;
    let val = '';
    if (input[j] === '"') {
      j++;
      const close = input.indexOf('"', j);
      const bs = input.indexOf('\\', j);
      if (bs < 0 || (close >= 0 && bs > close)) {
        // No quoted-pair: the value is one slice.
        const end = close < 0 ? len : close;
        val = input.slice(j, end);
        j = end;
      } else {
        const parts: string[] = [];
        while (j < len && input[j] !== '"') {
          if (input[j] === '\\' && j + 1 < len) j++;
          parts.push(input[j] as string);
          j++;
        }
        val = parts.join('');
      }
      while (j < len && input[j] !== ';') j++;
    } else {
      const start = j;
      while (j < len && input[j] !== ';') j++;
      val = input.slice(start, j).trim();
    }
    if (key && !params.has(key)) params.set(key, val);
    i = j;
  }
  return { value, params };
}

/** The decoded body and whether it was cut to the limit. */
export interface BodyResult {
  body: string;
  truncated: boolean;
}

interface PartRef {
  headers: HeaderList;
  /** The part's parsed Content-Type (for its charset). */
  ct: MimeValue;
  start: number;
  end: number;
}

const EMPTY: BodyResult = { body: '', truncated: false };

/** Extract the text body of a mail whose headers were already read. */
export function extractBody(raw: Buffer, headers: HeaderList, bodyOffset: number, maxBytes: number): BodyResult {
  const ct = parseMimeValue(headers.get('content-type'));
  const type = ct.value.includes('/') ? ct.value : 'text/plain';
  let part: PartRef | undefined;
  if (type.startsWith('multipart/')) {
    part = findInMultipart(raw, ct, bodyOffset, raw.length, 1);
  } else if (type.startsWith('text/')) {
    part = { headers, ct, start: bodyOffset, end: raw.length };
  }
  return part ? decodePart(raw, part, maxBytes) : EMPTY;
}

function isInlineTextPlain(headers: HeaderList, ct: MimeValue, defaultType: string): boolean {
  const type = ct.value.includes('/') ? ct.value : defaultType;
  if (type !== 'text/plain') return false;
  const disp = parseMimeValue(headers.get('content-disposition'));
  if (disp.value === 'attachment') return false;
  // No disposition but a file name: what most clients send for attachments.
  if (disp.value === '' && (ct.params.has('name') || ct.params.has('name*'))) return false;
  return true;
}

function findInMultipart(raw: Buffer, ct: MimeValue, start: number, end: number, depth: number): PartRef | undefined {
  if (depth > MAX_MULTIPART_DEPTH) return undefined;
  const boundary = ct.params.get('boundary');
  // RFC 2046 §5.1.1: 1–70 characters. Longer is not a boundary (and would be a slow needle).
  if (!boundary || boundary.length > 200) return undefined;
  // multipart/digest parts default to message/rfc822 (RFC 2046 §5.1.5).
  const defaultType = ct.value === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
  for (const [ps, pe] of partRanges(raw, start, end, boundary)) {
    const { headers, bodyOffset } = readHeaders(raw, ps, pe);
    const pct = parseMimeValue(headers.get('content-type'));
    if (pct.value.startsWith('multipart/')) {
      const found = findInMultipart(raw, pct, bodyOffset, pe, depth + 1);
      if (found) return found;
    } else if (isInlineTextPlain(headers, pct, defaultType)) {
      return { headers, ct: pct, start: bodyOffset, end: pe };
    }
  }
  return undefined;
}

/**
 * The [start, end) byte ranges of the parts of a multipart body (RFC 2046
 * §5.1.1): delimiter lines `--boundary` at the start of a line, the last one
 * `--boundary--`. A missing close delimiter ends the last part at `end`.
 */
export function* partRanges(raw: Buffer, start: number, end: number, boundary: string): Generator<[number, number]> {
  const region = raw.subarray(start, end);
  const delim = Buffer.from(`--${boundary}`, 'utf8');
  const rlen = region.length;
  let pos = 0;
  let partStart = -1;
  while (pos < rlen) {
    const idx = region.indexOf(delim, pos);
    if (idx < 0) break;
    if (idx > 0 && region[idx - 1] !== 0x0a) {
      pos = idx + 1;
      continue;
    }
    let j = idx + delim.length;
    const close = region[j] === 0x2d && region[j + 1] === 0x2d;
    if (close) j += 2;
    while (j < rlen && (region[j] === 0x20 || region[j] === 0x09)) j++;
    if (!close && j < rlen && region[j] !== 0x0d && region[j] !== 0x0a) {
      // A longer boundary that merely starts with ours.
      pos = idx + 1;
      continue;
    }
    if (partStart >= 0) {
      // The line break before the delimiter belongs to the delimiter.
      let pe = idx > 0 ? idx - 1 : 0;
      if (pe > partStart && region[pe - 1] === 0x0d) pe--;
      yield [start + partStart, start + Math.max(partStart, pe)];
    }
    if (close) return;
    const nl = region.indexOf(0x0a, j);
    partStart = nl < 0 ? rlen : nl + 1;
    pos = partStart;
  }
  if (partStart >= 0 && partStart < rlen) yield [start + partStart, end];
}

/** How many encoded bytes to decode at most for a body limit of `maxBytes`. */
function encodedCap(maxBytes: number): number {
  // Quoted-printable needs up to 3 bytes per decoded byte plus soft breaks;
  // 4× leaves room for that and for multi-byte charsets.
  return maxBytes * 4 + 4096;
}

// parseMail is synchronous and decodes the bytes to text right away, so one
// scratch buffer serves every call; it is kept only while it stays small.
const SCRATCH_KEEP = 1 << 20;
let scratch = Buffer.allocUnsafe(0);
function scratchFor(len: number): Buffer | undefined {
  if (len > SCRATCH_KEEP) return undefined;
  if (scratch.length < len) scratch = Buffer.allocUnsafe(Math.max(len, 16384));
  return scratch;
}

function decodePart(raw: Buffer, part: PartRef, maxBytes: number): BodyResult {
  const cte = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  const charset = part.ct.params.get('charset');
  let bytes = raw.subarray(part.start, part.end);
  let cut = false;
  const cap = encodedCap(maxBytes);
  if (bytes.length > cap) {
    bytes = bytes.subarray(0, cap);
    // Cut at a line break so no escape sequence is split.
    const nl = bytes.lastIndexOf(0x0a);
    if (nl > 0) bytes = bytes.subarray(0, nl + 1);
    cut = true;
  }
  let decoded: Buffer;
  if (cte === 'quoted-printable') decoded = decodeQuotedPrintable(bytes, scratchFor(bytes.length));
  else if (cte === 'base64') decoded = decodeBase64(bytes);
  else decoded = bytes;
  let text = decodeBytes(decoded, charset);
  if (text.indexOf('\r\n') >= 0) text = text.replace(/\r\n/g, '\n');
  const fitted = cutUtf8(text, maxBytes);
  return { body: fitted, truncated: cut || fitted.length !== text.length };
}

/** The longest prefix of `s` whose UTF-8 encoding has at most `maxBytes` bytes, cut on a character boundary. */
export function cutUtf8(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes) return s;
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = Math.max(0, maxBytes);
  // Back up over UTF-8 continuation bytes to the start of the cut character.
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}
