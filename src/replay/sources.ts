/**
 * Where replayed mail comes from: `.eml` files, folders of them, mbox files and
 * stdin. Everything is turned into an ordered stream of SourceItems: a mail
 * (bytes + a source name for logs and §5 output) or an error naming what could
 * not be read. Nothing here throws for bad input.
 *
 * Rules (also in `lpmqtt replay --help`):
 * - A path given on the command line is always read, whatever its name.
 * - A folder is walked recursively, entries sorted by name (code-unit order)
 *   so the output is deterministic. Hidden entries (name starting with `.`)
 *   are skipped. Inside folders only `*.eml` and `*.mbox` files are taken, plus
 *   every file of a Maildir `cur/` or `new/` folder; other files (goldens,
 *   READMEs) are ignored. Symlinks are followed (directory loops are cut).
 * - A file whose first bytes are `From ` is an mbox; its mails are named
 *   `PATH#N` (N counts from 1). Other files are one mail named by their path.
 * - `-` is stdin: one mail, or an mbox when it starts with `From `; named
 *   `<stdin>` (`<stdin>#N` for an mbox).
 */
import { createReadStream, type Dirent, type Stats } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errorReason } from '../errors.js';
import { isOversize, MboxSplitter, type MboxMessage, type MboxOversize } from './mbox.js';
import { orderedMap } from './ordered.js';

export type SourceItem =
  | { kind: 'mail'; source: string; raw: Buffer }
  | { kind: 'error'; source: string; reason: string; err?: unknown };

/** One thing to read, in output order. */
export type Entry =
  | { kind: 'file'; path: string; regular: boolean }
  | { kind: 'stdin' }
  | { kind: 'error'; source: string; reason: string; err?: unknown };

export interface ReadOptions {
  stdin?: Readable;
  /** Files read at the same time (default 32). */
  concurrency?: number;
  /** A single mail larger than this is an error, not a crash (default 256 MiB). */
  maxMailBytes?: number;
  /** Called after each entry has been read (progress). */
  onEntryDone?: () => void;
}

export const DEFAULT_MAX_MAIL_BYTES = 256 * 1024 * 1024;
/** Files up to this size are read whole; larger ones are peeked first so that a big mbox is streamed. */
const WHOLE_READ_BYTES = 8 * 1024 * 1024;
const STDIN = '<stdin>';

/** Expands command-line paths into the ordered list of entries to read. */
export async function planSources(paths: readonly string[]): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (const p of paths) {
    if (p === '-') {
      entries.push({ kind: 'stdin' });
      continue;
    }
    let st: Stats;
    try {
      st = await stat(p);
    } catch (err) {
      entries.push({ kind: 'error', source: p, reason: `cannot read: ${errorReason(err)}`, err });
      continue;
    }
    if (st.isDirectory()) {
      const seen = new Set<string>();
      await walk(p, entries, seen);
    } else {
      entries.push({ kind: 'file', path: p, regular: st.isFile() });
    }
  }
  return entries;
}

const MAIL_EXT = /\.(eml|mbox)$/i;

async function walk(dir: string, entries: Entry[], seen: Set<string>): Promise<void> {
  let real: string;
  let dirents: Dirent[];
  try {
    real = await realpath(dir);
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    entries.push({ kind: 'error', source: dir, reason: `cannot read folder: ${errorReason(err)}`, err });
    return;
  }
  if (seen.has(real)) return; // a symlink loop
  seen.add(real);
  const maildir = /^(cur|new)$/.test(path.basename(dir));
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of dirents) {
    if (d.name.startsWith('.')) continue;
    const full = path.join(dir, d.name);
    let isDir = d.isDirectory();
    let isFile = d.isFile();
    if (d.isSymbolicLink()) {
      try {
        const st = await stat(full);
        isDir = st.isDirectory();
        isFile = st.isFile();
      } catch (err) {
        // A dangling link that looks like mail is a mail we cannot read.
        if (maildir || MAIL_EXT.test(d.name)) {
          entries.push({ kind: 'error', source: full, reason: `cannot read: ${errorReason(err)}`, err });
        }
        continue;
      }
    }
    if (isDir) {
      await walk(full, entries, seen);
    } else if (maildir || MAIL_EXT.test(d.name)) {
      if (isFile) entries.push({ kind: 'file', path: full, regular: true });
      else entries.push({ kind: 'error', source: full, reason: 'not a regular file' });
    }
  }
}

/** Reads every entry, yielding mails and errors in entry order, with bounded parallel reads. */
export async function* readSources(entries: readonly Entry[], opts: ReadOptions = {}): AsyncGenerator<SourceItem> {
  const max = opts.maxMailBytes ?? DEFAULT_MAX_MAIL_BYTES;
  const concurrency = opts.concurrency ?? 32;
  const stdin = opts.stdin ?? process.stdin;
  const results = orderedMap(entries, concurrency, (e) => readEntry(e, max, stdin));
  for await (const r of results) {
    if (Array.isArray(r)) {
      yield* r;
    } else {
      // A big mbox (or stdin, or a FIFO): streamed in place, in order.
      yield* streamMails(r.source, r.open(), max);
    }
    opts.onEntryDone?.();
  }
}

interface StreamLater {
  source: string;
  open: () => Readable;
}

async function readEntry(e: Entry, max: number, stdin: Readable): Promise<SourceItem[] | StreamLater> {
  switch (e.kind) {
    case 'error':
      return [e.err === undefined ? { kind: 'error', source: e.source, reason: e.reason } : { ...e }];
    case 'stdin':
      return { source: STDIN, open: () => stdin };
    case 'file':
      if (!e.regular) {
        // A FIFO or device named on the command line (`<(zcat x.mbox.gz)`): stream it.
        return { source: e.path, open: () => createReadStream(e.path, { highWaterMark: 1 << 20 }) };
      }
      return readFileEntry(e.path, max);
  }
}

async function readFileEntry(file: string, max: number): Promise<SourceItem[] | StreamLater> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    return [{ kind: 'error', source: file, reason: `cannot read: ${errorReason(err)}`, err }];
  }
  try {
    const { size } = await fh.stat();
    if (size > WHOLE_READ_BYTES) {
      const head = Buffer.alloc(5);
      await fh.read(head, 0, 5, 0);
      if (MboxSplitter.looksLikeMbox(head)) {
        return { source: file, open: () => createReadStream(file, { highWaterMark: 1 << 20 }) };
      }
      if (size > max) return [{ kind: 'error', source: file, reason: `too large for one mail (${size} bytes, limit ${max})` }];
    }
    const raw = await readAll(fh, size);
    if (MboxSplitter.looksLikeMbox(raw)) return splitWhole(file, raw, max);
    if (raw.length === 0) return [{ kind: 'error', source: file, reason: 'empty file' }];
    return [{ kind: 'mail', source: file, raw }];
  } catch (err) {
    return [{ kind: 'error', source: file, reason: `cannot read: ${errorReason(err)}`, err }];
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Reads a file of known size in one go (fewer round trips than FileHandle.readFile for small files). */
async function readAll(fh: import('node:fs/promises').FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) break; // the file shrank while we read it
    off += bytesRead;
  }
  if (off < size) return buf.subarray(0, off);
  // The file may have grown since stat: take the rest too.
  const more: Buffer[] = [];
  for (;;) {
    const chunk = Buffer.allocUnsafe(65536);
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) break;
    more.push(chunk.subarray(0, bytesRead));
  }
  return more.length === 0 ? buf : Buffer.concat([buf, ...more]);
}

function toItem(source: string, m: MboxMessage | MboxOversize, max: number): SourceItem {
  const name = `${source}#${m.index}`;
  if (isOversize(m)) return { kind: 'error', source: name, reason: `too large for one mail (over ${max} bytes)` };
  if (m.raw.length === 0) return { kind: 'error', source: name, reason: 'empty message in mbox' };
  return { kind: 'mail', source: name, raw: m.raw };
}

function splitWhole(source: string, raw: Buffer, max: number): SourceItem[] {
  const splitter = new MboxSplitter({ maxBytes: max });
  const msgs = splitter.push(raw);
  splitter.end(msgs);
  return msgs.map((m) => toItem(source, m, max));
}

/**
 * Streams a readable: an mbox when it starts with `From `, else one mail.
 * Memory stays bounded by the largest single mail.
 */
async function* streamMails(source: string, stream: Readable, max: number): AsyncGenerator<SourceItem> {
  let splitter: MboxSplitter | undefined;
  let single: Buffer[] | undefined;
  let singleBytes = 0;
  let tooBig = false;
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (splitter === undefined && single === undefined) {
        // Decide once 5 bytes are in.
        head = Buffer.concat([head, buf]);
        if (head.length < 5) continue;
        buf = head;
        if (MboxSplitter.looksLikeMbox(head)) splitter = new MboxSplitter({ maxBytes: max });
        else single = [];
      }
      if (splitter !== undefined) {
        for (const m of splitter.push(buf)) yield toItem(source, m, max);
      } else if (single !== undefined && !tooBig) {
        singleBytes += buf.length;
        if (singleBytes > max) {
          tooBig = true;
          single = [];
        } else {
          single.push(buf);
        }
      }
    }
  } catch (err) {
    yield { kind: 'error', source, reason: `read failed: ${errorReason(err)}`, err };
    return;
  }
  if (splitter === undefined && single === undefined) {
    // Fewer than 5 bytes in all.
    if (head.length === 0) {
      yield { kind: 'error', source, reason: 'empty input' };
      return;
    }
    single = [head];
    singleBytes = head.length;
  }
  if (splitter !== undefined) {
    for (const m of splitter.end()) yield toItem(source, m, max);
    if (splitter.count === 0) yield { kind: 'error', source, reason: 'mbox without messages' };
    return;
  }
  if (tooBig) {
    yield { kind: 'error', source, reason: `too large for one mail (over ${max} bytes)` };
    return;
  }
  yield { kind: 'mail', source, raw: Buffer.concat(single ?? [], singleBytes) };
}
