/**
 * Hostile mail (test/chaos/lib/hostile.ts): hand-made cases for each kind the
 * issue names plus seeded fast-check mutations of the real Launchpad mails.
 *
 * 1. Parser level: parseMail never throws and always gives a well-formed
 *    outcome (valid topics, JSON payloads, bounded bodies).
 * 2. Daemon level: each mail goes in over LMTP; what Cyrus refuses (NUL
 *    bytes, …) is recorded as the MTA's rejection. The daemon stays up, every
 *    accepted mail ends published, in the failed folder, or flagged, each with
 *    a log line (with the reason when not published), and the daemon's peak
 *    RSS stays under 200 MB.
 * 3. Every case, refused ones included, also goes through `replay --dry-run`
 *    on files: it ends normally, prints only §5 lines on stdout, and names
 *    every file that printed nothing on stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../../src/core/index.js';
import type { ParseOutcome } from '../../src/core/types.js';
import { LmtpClient, LmtpError } from '../helpers/lmtp.js';
import { FAILED_FLAG, mailboxState } from './lib/audit.js';
import { CLI, ensureBuilt, type LogLine } from './lib/daemon.js';
import { chaosSeed, dumpOnFailure, sized, until } from './lib/env.js';
import { hostileCases, mutatedMails, type HostileMail } from './lib/hostile.js';
import { startStack } from './lib/stack.js';

const RSS_LIMIT_MB = 200;

/** The checks every outcome must pass, whatever went in. */
function checkOutcome(name: string, o: ParseOutcome): void {
  assert.ok(['events', 'private', 'foreign', 'invalid'].includes(o.kind), `${name}: outcome kind ${o.kind}`);
  if (o.kind === 'foreign' || o.kind === 'invalid') assert.ok(o.reason.length > 0, `${name}: ${o.kind} without a reason`);
  if (o.kind !== 'events') return;
  assert.ok(o.events.length > 0, `${name}: events outcome with no event`);
  assert.ok(o.events.length <= 1000, `${name}: ${o.events.length} events from one mail`);
  for (const e of o.events) {
    const levels = e.topic.split('/');
    assert.equal(levels[0], 'launchpad', `${name}: topic ${e.topic}`);
    assert.ok(levels.length >= 1 && levels.length <= 4, `${name}: topic ${e.topic} has ${levels.length} levels`); // SPEC §4: cut at the first missing field
    assert.ok(levels.every((l) => l.length > 0), `${name}: empty topic level in ${JSON.stringify(e.topic)}`);
    assert.doesNotMatch(e.topic, /[+#\u0000-\u001f\u007f]/, `${name}: wildcard or control character in ${JSON.stringify(e.topic)}`);
    const json = JSON.stringify(e.payload);
    assert.deepEqual(JSON.parse(json), e.payload, `${name}: payload does not survive JSON`);
    assert.match(String(e.payload['event-id']), /^[0-9a-f]{32}$/, `${name}: event-id`);
    const body = e.payload['body'];
    assert.equal(typeof body, 'string', `${name}: body is not a string`);
    assert.ok(Buffer.byteLength(body as string) <= DEFAULT_PARSE_OPTIONS.maxBodyBytes, `${name}: body of ${Buffer.byteLength(body as string)} bytes`);
  }
}

test('parser: every hostile case and every mutation of the real mails gives a well-formed outcome, never an exception', () => {
  const seed = chaosSeed('hostile parser');
  const cases = [...hostileCases(), ...mutatedMails(seed, sized(400, 4000))];
  let slowest = { name: '', ms: 0 };
  const kinds: Record<string, number> = {};
  for (const m of cases) {
    const t0 = performance.now();
    const o = parseMail(m.raw, DEFAULT_PARSE_OPTIONS);
    const ms = performance.now() - t0;
    if (ms > slowest.ms) slowest = { name: m.name, ms };
    kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
    checkOutcome(m.name, o);
  }
  const big = parseMail(cases.find((c) => c.name === 'body-50mb-text')?.raw ?? Buffer.alloc(0), DEFAULT_PARSE_OPTIONS);
  assert.equal(big.kind, 'events');
  if (big.kind === 'events') assert.equal(big.events[0]?.payload['body-truncated'], true, 'the 50 MB body is cut and says so');
  // Random bytes after real Launchpad headers.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), fc.constantFrom(...cases.slice(0, 10)), (bytes, base) => {
      const headEnd = base.raw.indexOf('\r\n\r\n');
      const raw = Buffer.concat([base.raw.subarray(0, headEnd < 0 ? 200 : headEnd + 4), bytes]);
      checkOutcome(`${base.name}+random`, parseMail(raw, DEFAULT_PARSE_OPTIONS));
    }),
    { seed, numRuns: sized(300, 3000) },
  );
  console.log(`# hostile parser: ${cases.length} mails → ${JSON.stringify(kinds)}; slowest ${slowest.name} ${slowest.ms.toFixed(1)} ms`);
});

interface Delivered {
  mail: HostileMail;
  /** UID in INBOX (LMTP delivers in order into a fresh mailbox), or the LMTP refusal. */
  uid?: number;
  refused?: string;
}

/** One LMTP transaction per mail, in order; a refusal is recorded, not retried. */
async function deliverAll(host: string, port: number, mails: HostileMail[]): Promise<Delivered[]> {
  const out: Delivered[] = [];
  let uid = 0;
  let client = await LmtpClient.connect(host, port);
  try {
    for (const mail of mails) {
      try {
        await client.send(mail.raw, 'noreply@launchpad.net', ['lpmqtt']);
        out.push({ mail, uid: ++uid });
      } catch (err) {
        if (!(err instanceof LmtpError)) throw new Error(`LMTP connection failed on ${mail.name}`, { cause: err });
        out.push({ mail, refused: err.reply.replace(/\s+/g, ' ') });
        // Cyrus may close after some refusals; start clean either way.
        await client.quit();
        client = await LmtpClient.connect(host, port);
      }
    }
  } finally {
    await client.quit();
  }
  return out;
}

const terminal = (l: LogLine): boolean =>
  typeof l['uid'] === 'number' && (l.msg === 'published' || l.msg === 'mail not published' || /private bug/.test(l.msg ?? ''));

test('daemon: hostile mail over LMTP is published, set aside or flagged with a reason; the daemon stays up under 200 MB', async (t) => {
  const seed = chaosSeed('hostile daemon');
  const mails = [...hostileCases(), ...mutatedMails(seed, sized(60, 400), { nul: false })];
  const s = await startStack(t, { noDaemon: true, config: { imap: { batch_size: 20 } } });
  await dumpOnFailure(s.daemon, 'hostile', async () => {
    await s.daemon.start();
    await s.daemon.waitConnected();
    const delivered = await deliverAll(s.cyrus.host, s.cyrus.lmtpPort, mails);
    const accepted = delivered.filter((d) => d.uid !== undefined);
    const refused = delivered.filter((d) => d.refused !== undefined);
    for (const d of refused) console.log(`# hostile: Cyrus refused ${d.mail.name}: ${d.refused}`);

    const byUid = new Map<number, LogLine>();
    await until(
      'a final log line for every accepted mail',
      () => {
        for (const l of s.daemon.lines) if (terminal(l)) byUid.set(l['uid'] as number, l);
        return accepted.every((d) => byUid.has(d.uid as number)) || !s.daemon.running;
      },
      sized(180_000, 600_000),
      () => `missing: ${accepted.filter((d) => !byUid.has(d.uid as number)).map((d) => `${d.uid} ${d.mail.name}`).join(', ')}\n${s.daemon.tail(10)}`,
      200,
    );
    const peakMB = s.daemon.peakRssAllRunsKB() / 1024;
    assert.deepEqual(s.daemon.exits, [], `the daemon exited:\n${s.daemon.tail()}`);

    const received = new Set<string>();
    for (const rs of s.recorder.byEventId.values()) for (const r of rs) received.add(r.topic);
    await s.recorder.settle(1000);
    for (const rs of s.recorder.byEventId.values()) for (const r of rs) received.add(r.topic);
    const outcomes: Record<string, number> = {};
    for (const d of accepted) {
      const l = byUid.get(d.uid as number) as LogLine;
      const what = l.msg === 'published' ? 'published' : l.msg === 'mail not published' ? `set aside (${String(l['where'])})` : 'private';
      outcomes[what] = (outcomes[what] ?? 0) + 1;
      if (l.msg === 'published') {
        const topics = l['topics'] as string[];
        assert.ok(Array.isArray(topics) && topics.length > 0, `${d.mail.name}: published without topics`);
        for (const topic of topics) assert.ok(received.has(topic), `${d.mail.name}: logged as published on ${topic} but nothing arrived there`);
      } else if (l.msg === 'mail not published') {
        assert.ok(typeof l['reason'] === 'string' && l['reason'].length > 0, `${d.mail.name}: set aside without a reason`);
      }
      if (d.mail.name.startsWith('mut-') === false) console.log(`# hostile: ${d.mail.name} → ${what}${l['reason'] ? `: ${String(l['reason']).slice(0, 100)}` : ''}`);
    }
    // The mailbox agrees: nothing unhandled, nothing lost.
    const inbox = await mailboxState(s.cyrus);
    const failed = await mailboxState(s.cyrus, 'INBOX.failed');
    assert.deepEqual(inbox.filter((m) => !m.flags.has('\\Seen') && !m.flags.has(FAILED_FLAG)).map((m) => m.uid), [], 'mails left unhandled in INBOX');
    assert.equal(inbox.length + failed.length, accepted.length, 'INBOX + failed folder hold every accepted mail');
    console.log(`# hostile: ${mails.length} mails, ${refused.length} refused by Cyrus, outcomes ${JSON.stringify(outcomes)}; daemon peak RSS ${peakMB.toFixed(0)} MB`);
    assert.ok(peakMB < RSS_LIMIT_MB, `daemon peak RSS ${peakMB.toFixed(0)} MB ≥ ${RSS_LIMIT_MB} MB`);
  });
});

test('replay --dry-run on files: every hostile case (the ones Cyrus refuses too) ends normally, JSON lines only, each silent file named on stderr', async (t) => {
  ensureBuilt();
  const seed = chaosSeed('hostile replay');
  const mails = [...hostileCases(), ...mutatedMails(seed, sized(60, 400))];
  const dir = mkdtempSync(join(tmpdir(), 'lpmqtt-hostile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = mails.map((m, k) => {
    const f = join(dir, `${String(k).padStart(4, '0')}-${m.name.replace(/[^A-Za-z0-9.+-]/g, '_').slice(0, 80)}.eml`);
    writeFileSync(f, m.raw);
    return f;
  });
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, 'replay', '--dry-run', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, sg) => res([c, sg])));
  assert.equal(signal, null, `replay died of ${signal}`);
  assert.ok(code === 0 || code === 1, `replay exit code ${code}: ${stderr.slice(-2000)}`);
  const sources = new Set<string>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const o = JSON.parse(line) as { topic?: unknown; payload?: unknown; source?: unknown };
    assert.equal(typeof o.topic, 'string');
    assert.equal(typeof o.payload, 'object');
    assert.equal(typeof o.source, 'string');
    sources.add(o.source as string);
  }
  const silentUnnamed = files.filter((f) => !sources.has(f) && !stderr.includes(f));
  assert.deepEqual(silentUnnamed, [], 'files that printed nothing and were not named on stderr');
  console.log(`# hostile replay: ${files.length} files in ${Date.now() - t0} ms, exit ${code}, ${sources.size} with events, ${stdout.split('\n').filter(Boolean).length} lines`);
});
