/**
 * Streaming mbox reader (mboxrd, RFC 4155). Feed it chunks; it hands back
 * whole messages, never holding more than the current message in memory.
 *
 * - A message starts at a line beginning with `From ` that is the first line
 *   of the stream or follows an empty line (mboxrd writers quote every body
 *   line that starts with `From `, so this is unambiguous for them).
 * - The `From ` postmark line itself is not part of the message, and the one
 *   empty line that separates messages is dropped.
 * - mboxrd quoting is undone: a line `>From `, `>>From `, … loses one `>`.
 * - Line endings (LF or CRLF) are kept as they are.
 */

export interface MboxMessage {
  /** 1-based position in the mbox. */
  index: number;
  raw: Buffer;
}

/** A message larger than the limit is skipped (reported, not buffered). */
export interface MboxOversize {
  index: number;
  bytes: number;
}

const FROM = Buffer.from('From ');
const NL = 0x0a;
const GT = 0x3e;

export class MboxSplitter {
  readonly #maxBytes: number;
  /** Bytes of an unfinished line carried over between chunks. */
  #partial: Buffer[] = [];
  #partialLen = 0;
  /** Lines of the current message. */
  #lines: Buffer[] = [];
  #bytes = 0;
  #index = 0;
  #inMessage = false;
  #oversize = false;
  #prevBlank = true;
  /** Whether the last line of the current message is an empty line (held back: it may be the separator). */
  #heldBlank: Buffer | undefined;

  constructor(opts: { maxBytes?: number } = {}) {
    this.#maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  }

  /** Whether a stream starting with these bytes is an mbox (its first line is a `From ` postmark). */
  static looksLikeMbox(head: Buffer): boolean {
    return head.length >= FROM.length && head.subarray(0, FROM.length).equals(FROM);
  }

  /** Feeds a chunk; returns the messages completed by it. */
  push(chunk: Buffer, out: Array<MboxMessage | MboxOversize> = []): Array<MboxMessage | MboxOversize> {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) break;
      let line = chunk.subarray(start, nl + 1);
      if (this.#partialLen > 0) {
        this.#partial.push(line);
        line = Buffer.concat(this.#partial, this.#partialLen + line.length);
        this.#partial = [];
        this.#partialLen = 0;
      }
      this.#line(line, out);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      // Copy: the caller may reuse its buffer. Guard a single endless line.
      if (this.#partialLen + rest.length > this.#maxBytes) {
        this.#oversize = this.#inMessage || this.#oversize;
        this.#partial = [];
        this.#partialLen = 0;
      } else {
        this.#partial.push(Buffer.from(rest));
        this.#partialLen += rest.length;
      }
    }
    return out;
  }

  /** Ends the stream; returns the last message, if any. */
  end(out: Array<MboxMessage | MboxOversize> = []): Array<MboxMessage | MboxOversize> {
    if (this.#partialLen > 0) {
      this.#line(Buffer.concat(this.#partial, this.#partialLen), out);
      this.#partial = [];
      this.#partialLen = 0;
    }
    this.#finish(out);
    return out;
  }

  /** Number of messages started so far. */
  get count(): number {
    return this.#index;
  }

  #line(line: Buffer, out: Array<MboxMessage | MboxOversize>): void {
    const blank = line.length === 1 || (line.length === 2 && line[0] === 0x0d);
    if (this.#prevBlank && startsWith(line, FROM)) {
      this.#finish(out);
      this.#index += 1;
      this.#inMessage = true;
      this.#prevBlank = false;
      return;
    }
    this.#prevBlank = blank;
    if (!this.#inMessage) return; // text before the first postmark: not a message
    if (this.#heldBlank !== undefined) {
      this.#add(this.#heldBlank);
      this.#heldBlank = undefined;
    }
    if (blank) {
      this.#heldBlank = line;
      return;
    }
    this.#add(unquote(line));
  }

  #add(line: Buffer): void {
    if (this.#oversize) {
      this.#bytes += line.length;
      return;
    }
    this.#bytes += line.length;
    if (this.#bytes > this.#maxBytes) {
      this.#oversize = true;
      this.#lines = [];
      return;
    }
    this.#lines.push(line);
  }

  #finish(out: Array<MboxMessage | MboxOversize>): void {
    if (!this.#inMessage) return;
    // The held-back empty line is the separator before the next postmark (or the end).
    this.#heldBlank = undefined;
    if (this.#oversize) {
      out.push({ index: this.#index, bytes: this.#bytes });
    } else {
      out.push({ index: this.#index, raw: Buffer.concat(this.#lines, this.#bytes) });
    }
    this.#lines = [];
    this.#bytes = 0;
    this.#oversize = false;
    this.#inMessage = false;
  }
}

export function isOversize(m: MboxMessage | MboxOversize): m is MboxOversize {
  return !('raw' in m);
}

function startsWith(line: Buffer, prefix: Buffer): boolean {
  return line.length >= prefix.length && line.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** mboxrd: `>+From ` loses one `>`. */
function unquote(line: Buffer): Buffer {
  if (line[0] !== GT) return line;
  let i = 0;
  while (i < line.length && line[i] === GT) i++;
  return i + FROM.length <= line.length && line.compare(FROM, 0, FROM.length, i, i + FROM.length) === 0
    ? line.subarray(1)
    : line;
}
