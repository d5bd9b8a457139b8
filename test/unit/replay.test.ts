/**
 * `lpmqtt replay`: sources (files, folders, mbox, stdin), the §5 dry-run
 * output, bad input that must not stop a run, publishing through a sink, and
 * the CLI's exit codes and summary line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { configFromObject } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../../src/core/index.js';
import type { LpEvent } from '../../src/core/types.js';
import { dryRunLine, replay, type ReplayOptions, type ReplaySummary } from '../../src/replay.js';
import { MboxSplitter, isOversize } from '../../src/replay/mbox.js';
import { defaultWorkerCount } from '../../src/replay/pool.js';
import type { Verifier } from '../../src/verify.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { makeBugMail, makeForeignMail } from '../helpers/mailgen.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SAMPLES = path.join(ROOT, 'samples');
const REAL = path.join(ROOT, '..', 'shared', 'launchpad-mails');

interface LogLine {
  level: number;
  msg: string;
  source?: string;
  reason?: string;
  summary?: ReplaySummary;
}

function captureLog(level = 'info'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) };
  return { log: pino({ level }, stream), lines };
}

class Collect extends Writable {
  chunks: Buffer[] = [];
  constructor(opts: { highWaterMark?: number; delayMs?: number } = {}) {
    super({ highWaterMark: opts.highWaterMark ?? 16384 });
    this.delayMs = opts.delayMs ?? 0;
  }
  readonly delayMs: number;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.delayMs > 0) setTimeout(cb, this.delayMs);
    else cb();
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  get lines(): Array<{ topic: string; payload: Record<string, unknown>; source: string }> {
    return this.text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { topic: string; payload: Record<string, unknown>; source: string });
  }
}

let defaults: Config | undefined;
async function config(): Promise<Config> {
  defaults ??= await configFromObject({});
  return defaults;
}

async function dryRun(
  paths: string[],
  extra: Partial<ReplayOptions> = {},
): Promise<{ summary: ReplaySummary; out: Collect; lines: LogLine[] }> {
  const { log, lines } = captureLog();
  const out = new Collect();
  const summary = await replay({ paths, config: await config(), log, out, ...extra });
  return { summary, out, lines };
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lpmqtt-replay-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** What parseMail makes of each file, as §5 lines: the reference replay must match. */
async function expectedLines(files: string[]): Promise<string[]> {
  const lines: string[] = [];
  for (const f of files) {
    const outcome = parseMail(await readFile(f), DEFAULT_PARSE_OPTIONS);
    if (outcome.kind === 'events') for (const e of outcome.events) lines.push(dryRunLine(e, f));
  }
  return lines;
}

/** mboxrd: a postmark line, every `>*From ` body line gets one more `>`, an empty line after each message. */
function toMbox(mails: Buffer[]): Buffer {
  const parts: string[] = [];
  mails.forEach((m, i) => {
    const text = m.toString('latin1').replace(/^(>*From )/gm, '>$1');
    parts.push(`From lpmqtt-test@example.org Mon Jan  6 12:00:${String(i % 60).padStart(2, '0')} 2025\n`, text);
    if (!text.endsWith('\n')) parts.push('\n');
    parts.push('\n');
  });
  return Buffer.from(parts.join(''), 'latin1');
}

/** A Launchpad bug mail written here, with a chosen body. */
function lpMail(n: number, body: string, extraHeaders: string[] = []): Buffer {
  return Buffer.from(
    [
      'From: Ada Fenwick <9900001@bugs.launchpad.net>',
      `Subject: [Bug ${n}] Re: replay test mail ${n}`,
      'To: someone@example.org',
      `Message-Id: <replay-test-${n}@launchpad.test>`,
      'Date: Mon, 06 Jan 2025 12:00:00 -0000',
      'X-Generated-By: Launchpad (canonical.com); Revision="test"',
      'X-Launchpad-Notification-Type: bug',
      'X-Launchpad-Bug: product=widgetd; status=New; importance=Undecided; assignee=None;',
      ...extraHeaders,
      'Content-Type: text/plain; charset="utf-8"',
      'Content-Transfer-Encoding: 8bit',
      '',
      body,
    ].join('\n'),
    'utf8',
  );
}

async function emlFiles(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => path.join(dir, f));
}

test('dry run over samples/: one §5 line per golden event, in file order, goldens matched', async () => {
  const { summary, out, lines } = await dryRun([SAMPLES]);
  const files = await emlFiles(SAMPLES);
  assert.ok(files.length >= 15, 'samples/ should hold the golden mails');
  const got = out.lines;
  for (const f of files) {
    const golden = JSON.parse(await readFile(f.replace(/\.eml$/, '.json'), 'utf8')) as LpEvent[];
    const mine = got.filter((l) => l.source === f).map((l) => ({ topic: l.topic, payload: l.payload }));
    assert.equal(JSON.stringify(mine), JSON.stringify(golden), `replay of ${path.basename(f)} differs from its golden`);
  }
  // Every line belongs to a sample, in sorted file order; no README/regenerate.ts/golden was read as mail.
  const order = got.map((l) => files.indexOf(l.source));
  assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i >= order[k - 1]!)), 'lines out of file order');
  assert.equal(summary.mails, files.length);
  assert.equal(summary.files, files.length);
  assert.equal(summary.events, got.length);
  assert.equal(summary.foreign, 1);
  assert.equal(summary.private, 1);
  assert.equal(summary.failed, 0);
  // Foreign and private mail are logged by name, not printed.
  assert.ok(lines.some((l) => l.source === path.join(SAMPLES, 'foreign.eml') && /not a Launchpad mail/.test(l.msg)));
  assert.ok(lines.some((l) => l.source === path.join(SAMPLES, 'private.eml') && /private bug mail/.test(l.msg)));
});

test('the §5 line is exactly {"topic","payload","source"} with the serialized payload', async () => {
  const { out } = await dryRun([path.join(REAL, '001.eml')]);
  const text = out.text.split('\n')[0]!;
  const parsed = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), ['topic', 'payload', 'source']);
  assert.equal(parsed['topic'], 'launchpad/qemu/bug/2072564');
  assert.equal(parsed['source'], path.join(REAL, '001.eml'));
  assert.ok(out.text.endsWith('\n'));
});

test('dry run over the real Launchpad mails equals parseMail on each file', async () => {
  const files = await emlFiles(REAL);
  const { summary, out } = await dryRun([REAL]);
  assert.deepEqual(out.text.split('\n').filter(Boolean), await expectedLines(files));
  assert.equal(summary.mails, files.length);
  assert.ok(summary.foreign >= 3, 'the real set has non-Launchpad mails');
  assert.equal(summary.failed, 0);
});

test('parse workers give byte-identical output to parsing on the main thread', async (t) => {
  const dir = await tempDir(t);
  for (let i = 0; i < 150; i++) {
    await writeFile(path.join(dir, `m${String(i).padStart(3, '0')}.eml`), i % 10 === 9 ? makeForeignMail(i).raw : makeBugMail(i).raw);
  }
  await writeFile(path.join(dir, 'm075.eml'), ''); // an error in the middle keeps its place
  const inline = await dryRun([dir, SAMPLES, REAL], { workers: 0 });
  const pooled = await dryRun([dir, SAMPLES, REAL], { workers: 2 });
  assert.ok(inline.out.text.length > 100_000);
  assert.equal(pooled.out.text, inline.out.text);
  assert.deepEqual(pooled.summary, inline.summary);
  assert.equal(inline.summary.failed, 1);
  assert.deepEqual(
    pooled.lines.map((l) => l.msg),
    inline.lines.map((l) => l.msg),
  );
});

test('worker count: none on one or two cores, then cores - 1 up to 4', () => {
  assert.equal(defaultWorkerCount(1), 0);
  assert.equal(defaultWorkerCount(2), 0);
  assert.equal(defaultWorkerCount(3), 2);
  assert.equal(defaultWorkerCount(16), 4);
});

test('mbox: split on postmarks, >From unquoted (mboxrd), sources PATH#N, same events as the single files', async (t) => {
  const dir = await tempDir(t);
  const files = await emlFiles(REAL);
  const quoted = lpMail(4242, 'first line\n\nFrom here on it is quoted in the mbox\n>From once quoted\n>>From twice\nFrom\n');
  const mails = [...(await Promise.all(files.map((f) => readFile(f)))), quoted];
  const mbox = path.join(dir, 'archive.mbox');
  await writeFile(mbox, toMbox(mails));
  assert.match((await readFile(mbox, 'latin1')).split('\n').find((l) => l.includes('here on'))!, /^>From here on/);

  const { summary, out } = await dryRun([mbox]);
  const got = out.lines;
  assert.equal(summary.mails, mails.length);
  // Each real mail gives the events it gives as a file, named PATH#N.
  for (let i = 0; i < files.length; i++) {
    const outcome = parseMail(mails[i]!, DEFAULT_PARSE_OPTIONS);
    const want = outcome.kind === 'events' ? outcome.events : [];
    const mine = got.filter((l) => l.source === `${mbox}#${i + 1}`);
    assert.equal(JSON.stringify(mine.map((l) => ({ topic: l.topic, payload: l.payload }))), JSON.stringify(want), `${files[i]}`);
  }
  const last = got.filter((l) => l.source === `${mbox}#${mails.length}`);
  assert.equal(last.length, 1);
  assert.equal(last[0]!.payload['body'], 'first line\n\nFrom here on it is quoted in the mbox\n>From once quoted\n>>From twice\nFrom\n');
});

test('a big mbox (over 8 MiB) is streamed and gives the same result as a small one split in memory', async (t) => {
  const dir = await tempDir(t);
  const mails: Buffer[] = [];
  let size = 0;
  for (let i = 0; size < 9 * 1024 * 1024; i++) {
    const m = makeBugMail(i).raw;
    mails.push(m);
    size += m.length;
  }
  const big = path.join(dir, 'big.mbox');
  await writeFile(big, toMbox(mails));
  const { summary, out } = await dryRun([big]);
  assert.equal(summary.mails, mails.length);
  assert.equal(summary.failed, 0);
  // Reference: the same mails one by one.
  const want: string[] = [];
  mails.forEach((m, i) => {
    const o = parseMail(m, DEFAULT_PARSE_OPTIONS);
    if (o.kind === 'events') for (const e of o.events) want.push(dryRunLine(e, `${big}#${i + 1}`));
  });
  assert.deepEqual(out.text.split('\n').filter(Boolean), want);
});

test('MboxSplitter: any chunking gives the same messages; CRLF kept; text before the first postmark ignored', () => {
  const mbox = Buffer.from(
    'From a Mon Jan  6 12:00:00 2025\r\nSubject: one\r\n\r\nbody\r\n>From x\r\n\r\nFrom b Mon Jan  6 12:00:01 2025\r\nSubject: two\r\n\r\nFrom in body after a blank line? no: quoted\r\n',
    'latin1',
  );
  const whole = new MboxSplitter();
  const ref = whole.end(whole.push(mbox));
  assert.equal(ref.length, 3);
  const texts = ref.map((m) => (isOversize(m) ? '' : m.raw.toString('latin1')));
  assert.deepEqual(texts, [
    'Subject: one\r\n\r\nbody\r\nFrom x\r\n',
    'Subject: two\r\n',
    '',
  ]);
  for (const size of [1, 2, 3, 7, 64]) {
    const s = new MboxSplitter();
    const got: ReturnType<MboxSplitter['end']> = [];
    for (let i = 0; i < mbox.length; i += size) s.push(mbox.subarray(i, i + size), got);
    s.end(got);
    assert.deepEqual(
      got.map((m) => (isOversize(m) ? '' : m.raw.toString('latin1'))),
      texts,
      `chunk size ${size}`,
    );
  }
  const pre = new MboxSplitter();
  const msgs = pre.end(pre.push(Buffer.from('garbage\n\nFrom a x\nX: 1\n')));
  assert.equal(msgs.length, 1);
  assert.equal(isOversize(msgs[0]!) ? '' : msgs[0]!.raw.toString(), 'X: 1\n');
});

test('MboxSplitter: a message over the limit is reported, not buffered, and the next one is fine', () => {
  const s = new MboxSplitter({ maxBytes: 100 });
  const msgs = s.end(s.push(Buffer.from(`From a\n${'x'.repeat(300)}\n\nFrom b\nSubject: ok\n`)));
  assert.equal(msgs.length, 2);
  assert.ok(isOversize(msgs[0]!));
  assert.equal(msgs[0]!.index, 1);
  const second = msgs[1]!;
  assert.ok(!isOversize(second));
  assert.equal(second.raw.toString(), 'Subject: ok\n');
});

test('stdin (-): one mail, or an mbox when it starts with "From "', async () => {
  const mail = await readFile(path.join(REAL, '001.eml'));
  const single = await dryRun(['-'], { stdin: Readable.from([mail.subarray(0, 3), mail.subarray(3)]) });
  assert.deepEqual(
    single.out.lines.map((l) => l.source),
    ['<stdin>', '<stdin>'],
  );
  assert.equal(single.out.lines[0]!.topic, 'launchpad/qemu/bug/2072564');

  const mbox = toMbox([mail, await readFile(path.join(REAL, '006.eml'))]);
  const many = await dryRun(['-'], { stdin: Readable.from([mbox]) });
  assert.equal(many.summary.mails, 2);
  assert.ok(many.out.lines.every((l) => /^<stdin>#[12]$/.test(l.source)));

  const empty = await dryRun(['-'], { stdin: Readable.from([]) });
  assert.equal(empty.summary.failed, 1);
  assert.ok(empty.lines.some((l) => l.source === '<stdin>' && l.reason === 'empty input'));
});

test('bad input never stops the run: each problem is one log line naming the file', async (t) => {
  const dir = await tempDir(t);
  const good = await readFile(path.join(REAL, '001.eml'));
  await writeFile(path.join(dir, '00-good.eml'), good);
  // Unreadable even for root: a dangling symlink, and a FIFO (never opened: it would block).
  await symlink(path.join(dir, 'no-such-target'), path.join(dir, '01-dangling.eml'));
  execFileSync('mkfifo', [path.join(dir, '02-fifo.eml')]);
  await writeFile(path.join(dir, '03-empty.eml'), '');
  await writeFile(path.join(dir, '04-truncated.eml'), good.subarray(0, 700));
  await writeFile(path.join(dir, '05-garbage.eml'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
  await writeFile(path.join(dir, '06-nul-header.eml'), lpMail(77, 'body\n', ['X-Launchpad-Bug-Tags: a\u0000b']));
  await writeFile(
    path.join(dir, '07-broken-mime.eml'),
    lpMail(78, '--nope\nContent-Type: text/plain\n\nhalf a part', ['Content-Type: multipart/mixed; boundary="b"']),
  );
  // A 30 MB attachment after the text part.
  const b64 = Buffer.alloc(30 * 1024 * 1024, 0x61).toString('base64').replace(/.{76}/g, '$&\n');
  const multipart = lpMail(79, '', ['MIME-Version: 1.0'])
    .toString()
    .replace('Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit', 'Content-Type: multipart/mixed; boundary="XX"');
  await writeFile(
    path.join(dir, '08-huge.eml'),
    Buffer.concat([
      Buffer.from(multipart),
      Buffer.from('--XX\nContent-Type: text/plain; charset="utf-8"\n\nthe comment\n--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'),
      Buffer.from(b64),
      Buffer.from('\n--XX--\n'),
    ]),
  );
  await writeFile(path.join(dir, '09-foreign.eml'), makeForeignMail(1).raw);
  await writeFile(path.join(dir, 'README'), 'not a mail, not read');
  await mkdir(path.join(dir, '.hidden'));
  await writeFile(path.join(dir, '.hidden', 'x.eml'), 'never read');

  const { summary, out, lines } = await dryRun([dir, path.join(dir, 'missing.eml')]);
  const byFile = (name: string): LogLine[] => lines.filter((l) => l.source === path.join(dir, name));
  assert.match(byFile('01-dangling.eml')[0]?.reason ?? '', /^cannot read: ENOENT/);
  assert.equal(byFile('02-fifo.eml')[0]?.reason, 'not a regular file');
  assert.equal(byFile('03-empty.eml')[0]?.reason, 'empty file');
  assert.match(byFile('missing.eml')[0]?.reason ?? '', /^cannot read: ENOENT/);
  assert.equal(byFile('09-foreign.eml').length, 1);
  for (const l of lines) if (l.level >= 50) assert.ok(l.source !== undefined && l.msg.startsWith(l.source), `error line without file: ${l.msg}`);
  // The good mail and the big one still produce their events.
  const sources = new Set(out.lines.map((l) => l.source));
  assert.ok(sources.has(path.join(dir, '00-good.eml')));
  assert.ok(sources.has(path.join(dir, '08-huge.eml')), 'the 30 MB mail was not published');
  const huge = out.lines.find((l) => l.source === path.join(dir, '08-huge.eml'))!;
  assert.equal(huge.payload['body'], 'the comment');
  assert.ok(!sources.has(path.join(dir, 'README')));
  assert.ok(![...sources].some((s) => s.includes('.hidden')));
  // Every mail read is accounted for exactly once.
  const withEvents = new Set(out.lines.map((l) => l.source)).size;
  const invalid = lines.filter((l) => l.level >= 50 && l.reason !== undefined && l.source !== undefined && !/^(cannot read|not a regular|empty file)/.test(l.reason)).length;
  assert.equal(summary.mails, withEvents + summary.foreign + summary.private + invalid);
  assert.equal(summary.mails, 7); // 00 and 04–09 are read; 01–03 and missing.eml cannot be
  assert.ok(summary.failed >= 4, `failed ${summary.failed}`);
});

test('publishing: events go to the sink with a bounded window; failures count per mail', async () => {
  const files = [path.join(REAL, '001.eml'), path.join(REAL, '010.eml'), path.join(REAL, '016.eml'), path.join(REAL, '023.eml')];
  const refused = await expectedLines([files[2]!]);
  assert.ok(refused.length > 0);
  const refusedTopics = new Set(refused.map((l) => (JSON.parse(l) as { topic: string }).topic));
  const sent: LpEvent[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const sink = {
    async publish(events: readonly LpEvent[]): Promise<void> {
      inFlight += events.length;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= events.length;
      if (events.some((e) => refusedTopics.has(e.topic))) throw new Error('broker said no');
      sent.push(...events);
    },
  };
  const { log, lines } = captureLog();
  const summary = await replay({ paths: files, config: await config(), log, sink, maxInFlight: 3 });
  const expected = (await expectedLines(files)).length;
  assert.equal(summary.events, expected);
  assert.equal(summary.failed, 1);
  assert.equal(summary.published, sent.length);
  assert.equal(summary.published, expected - refused.length);
  assert.equal(summary.foreign, 1);
  // The window is checked before each mail, so one mail (up to 7 events here) may go past it.
  assert.ok(maxInFlight <= 3 + 7, `window overrun: ${maxInFlight}`);
  assert.ok(maxInFlight < expected, 'all events were in flight at once: no window');
  const err = lines.find((l) => /publish failed/.test(l.msg));
  assert.equal(err?.source, files[2]);
  assert.match(err?.msg ?? '', /broker said no/);
});

test('sender verification: pass publishes, fail is rejected (not a failure), errors fail', async () => {
  const files = [path.join(REAL, '001.eml'), path.join(REAL, '006.eml'), path.join(REAL, '009.eml'), path.join(REAL, '010.eml')];
  let n = 0;
  const verify: Verifier = async () => {
    n += 1;
    if (n === 2) return { verdict: 'fail', reason: 'no DKIM signature for launchpad.net' };
    if (n === 3) return { verdict: 'temperror', reason: 'DNS timeout' };
    if (n === 4) throw new Error('resolver crashed');
    return { verdict: 'pass', via: 'dkim' };
  };
  const { summary, out, lines } = await dryRun(files, { verify });
  assert.equal(summary.mails, 4);
  assert.equal(summary.rejected, 1);
  assert.equal(summary.failed, 2);
  assert.deepEqual([...new Set(out.lines.map((l) => l.source))], [files[0]]);
  assert.ok(lines.some((l) => l.source === files[1] && /rejected by sender verification: no DKIM/.test(l.msg)));
  assert.ok(lines.some((l) => l.source === files[2] && /DNS timeout/.test(l.msg)));
  assert.ok(lines.some((l) => l.source === files[3] && /resolver crashed/.test(l.msg)));
});

test('stdout backpressure is respected and stdout going away (EPIPE) stops the run quietly', async (t) => {
  const dir = await tempDir(t);
  for (let i = 0; i < 120; i++) await writeFile(path.join(dir, `${String(i).padStart(3, '0')}.eml`), makeBugMail(i).raw);
  const slow = new Collect({ highWaterMark: 1024, delayMs: 1 });
  const { log } = captureLog();
  const summary = await replay({ paths: [dir], config: await config(), log, out: slow, workers: 0 });
  assert.equal(slow.lines.length, summary.events);
  assert.equal(summary.aborted, false);

  const broken = new Writable({
    write(_c, _e, cb) {
      const err = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      cb(err);
    },
  });
  const r = await replay({ paths: [dir], config: await config(), log, out: broken, workers: 0 });
  assert.equal(r.aborted, true);
});

/** Runs the CLI (through tsx) and collects its output. */
function cli(args: string[], opts: { cwd?: string; input?: Buffer } = {}): Promise<CliRun> {
  return runCli(args, { ...opts, cwd: opts.cwd ?? ROOT });
}

test('CLI: replay --dry-run exits 0 with only §5 lines on stdout and a summary line on stderr', async (t) => {
  const cwd = await tempDir(t); // no lpmqtt.yaml here: defaults
  const r = await cli(['replay', '--dry-run', SAMPLES], { cwd });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.ok(lines.length > 15);
  for (const l of lines) assert.deepEqual(Object.keys(JSON.parse(l) as object), ['topic', 'payload', 'source']);
  const summary = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine)
    .find((l) => l.summary !== undefined);
  assert.ok(summary, r.stderr);
  assert.match(summary.msg, /^replay \(dry run\): \d+ mails read, \d+ events, 1 foreign, 1 private, 0 failed$/);
  assert.equal(summary.summary?.events, lines.length);
});

test('CLI: replay exits 1 when a mail could not be read, 0 for foreign mail alone, 2 for bad usage', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'foreign.eml'), makeForeignMail(2).raw);
  const foreign = await cli(['replay', '--dry-run', path.join(dir, 'foreign.eml')], { cwd: dir });
  assert.equal(foreign.code, 0, foreign.stderr);
  assert.equal(foreign.stdout, '');
  assert.match(foreign.stderr, /foreign\.eml: not a Launchpad mail/);

  await symlink(path.join(dir, 'gone'), path.join(dir, 'broken.eml'));
  const bad = await cli(['replay', '--dry-run', dir], { cwd: dir });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /broken\.eml: cannot read: ENOENT/);
  assert.match(bad.stderr, /1 failed/);

  const usage = await cli(['replay', '--dry-run'], { cwd: dir });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /nothing to replay/);
  const unknown = await cli(['replay', '--dry-rn', dir], { cwd: dir });
  assert.equal(unknown.code, 2);
});

test('CLI: --jobs 2 gives the same output as --jobs 0', async (t) => {
  const cwd = await tempDir(t);
  const a = await cli(['replay', '--dry-run', '--jobs', '0', SAMPLES, REAL], { cwd });
  const b = await cli(['replay', '--dry-run', '--jobs', '2', SAMPLES, REAL], { cwd });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(a.stdout.length > 10_000);
  assert.equal(b.stdout, a.stdout);
});

test('CLI: replay --dry-run - reads stdin', async (t) => {
  const cwd = await tempDir(t);
  const r = await cli(['replay', '--dry-run', '-'], { cwd, input: await readFile(path.join(REAL, '006.eml')) });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { source: string });
  assert.ok(lines.length >= 1);
  assert.ok(lines.every((l) => l.source === '<stdin>'));
});

test('folders: Maildir cur/ and new/ files are mail, tmp/ and other names are not; symlinks followed, loops cut', async (t) => {
  const dir = await tempDir(t);
  const mail = await readFile(path.join(REAL, '006.eml'));
  for (const sub of ['Maildir/cur', 'Maildir/new', 'Maildir/tmp', 'other']) await mkdir(path.join(dir, sub), { recursive: true });
  await writeFile(path.join(dir, 'Maildir/cur', '1736160000.M1P2.host,S=5000:2,S'), mail);
  await writeFile(path.join(dir, 'Maildir/new', '1736160001.M3P4.host'), mail);
  await writeFile(path.join(dir, 'Maildir/tmp', '1736160002.M5P6.host'), mail);
  await writeFile(path.join(dir, 'other', 'mail.txt'), mail);
  await symlink(path.join(REAL, '009.eml'), path.join(dir, 'other', 'linked.eml'));
  await symlink(dir, path.join(dir, 'other', 'loop'));
  const { summary, out } = await dryRun([dir]);
  assert.deepEqual(
    [...new Set(out.lines.map((l) => path.relative(dir, l.source)))],
    ['Maildir/cur/1736160000.M1P2.host,S=5000:2,S', 'Maildir/new/1736160001.M3P4.host', 'other/linked.eml'],
  );
  assert.equal(summary.mails, 3);
  assert.equal(summary.failed, 0);
});

test('progress line: throttled, rewritten in place, cleared at the end', async () => {
  const { Progress } = await import('../../src/replay/progress.js');
  const out = new Collect();
  const p = new Progress(out, { intervalMs: 100 });
  p.update('a', false, 1000);
  p.update('b', false, 1050); // too soon: dropped
  p.update('c', false, 1100);
  p.update('d', true, 1101); // forced
  p.clear();
  assert.equal(out.text, '\r\u001b[Ka\r\r\u001b[Kc\r\r\u001b[Kd\r\r\u001b[K');
});

test('the summary sentence names every count (and an early stop)', async () => {
  const { describeSummary } = await import('../../src/replay.js');
  const s: ReplaySummary = { files: 3, mails: 3, events: 5, published: 4, foreign: 1, private: 0, rejected: 2, failed: 1, aborted: false };
  assert.equal(describeSummary(s, false), 'replay: 3 mails read, 5 events (4 published), 1 foreign, 0 private, 2 rejected, 1 failed');
  assert.equal(
    describeSummary({ ...s, mails: 1, events: 1, rejected: 0, aborted: true }, true),
    'replay (dry run): 1 mail read, 1 event, 1 foreign, 0 private, 1 failed (stopped early: stdout was closed)',
  );
});
