/**
 * The header block of a raw mail as a list of fields, top first (RFC 5322
 * §2.2). Values are unfolded and trimmed, bytes kept as latin1 so nothing is
 * lost before RFC 2047 decoding (which verification never needs).
 */

export interface HeaderField {
  /** Lower-cased field name. */
  name: string;
  /** Unfolded (CRLF + WSP → WSP), trimmed value, latin1. */
  value: string;
}

/** Offset of the empty line that ends the header block (or the buffer length). */
function headerEnd(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf < 0) return lf < 0 ? raw.length : lf;
  if (lf < 0) return crlf;
  return Math.min(crlf, lf);
}

// ftext (RFC 5322 §3.6.8): printable US-ASCII except colon.
const FIELD = /^([!-9;-~]+)[ \t]*:(.*)$/s;

/** Header fields of `raw`, in order; lines that are not `name: value` (e.g. an mbox `From ` line) are skipped. */
export function headerFields(raw: Buffer): HeaderField[] {
  const text = raw.subarray(0, headerEnd(raw)).toString('latin1');
  const fields: HeaderField[] = [];
  let current: string | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const m = FIELD.exec(current);
    if (m?.[1] !== undefined && m[2] !== undefined) {
      fields.push({ name: m[1].toLowerCase(), value: m[2].replace(/\r?\n/g, '').trim() });
    }
    current = undefined;
  };
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && current !== undefined) {
      current += `\n${line}`;
    } else {
      flush();
      current = line;
    }
  }
  flush();
  return fields;
}
