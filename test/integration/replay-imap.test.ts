/**
 * `lpmqtt replay --imap-folder NAME` as an operator runs it after a fix:
 * the failed folder's mail re-published through the real CLI, marked only
 * once acknowledged, mail that fails again left flagged where it is.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { makeBugMail } from '../helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe } from '../helpers/subscriber.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const SAMPLES = join(import.meta.dirname, '../../samples');

let cyrus: Cyrus;
let broker: Mosquitto;
let work: string;

before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first`);
  [cyrus, broker] = await Promise.all([startCyrus(), startMosquitto()]);
  work = await mkdtemp(join(tmpdir(), 'lpmqtt-replay-imap-'));
});
after(async () => {
  await Promise.all([cyrus?.stop(), broker?.stop(), work ? rm(work, { recursive: true, force: true }) : undefined]);
});

function lpmqtt(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('replay --imap-folder re-publishes the failed folder, marks what was acknowledged and leaves what fails again flagged there', async (t) => {
  await cyrus.createFolder('INBOX.failed');
  const mails = Array.from({ length: 25 }, (_, i) => makeBugMail(7000 + i));
  // IMAP APPEND takes CRLF lines only (Cyrus refuses bare newlines).
  const foreign = Buffer.from(readFileSync(join(SAMPLES, 'foreign.eml'), 'latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  await cyrus.withImap(async (client) => {
    for (const m of mails) await client.append('INBOX.failed', m.raw);
    await client.append('INBOX.failed', foreign);
  });
  // A mail already handled (\Seen) is not published again.
  const old = makeBugMail(7999);
  await cyrus.withImap(async (client) => {
    await client.append('INBOX.failed', old.raw, ['\\Seen']);
  });

  const sub = await subscribe(broker.url, ['launchpad/#', 'lpmqtt/#']);
  t.after(() => sub.close());
  const cfg = join(work, 'lpmqtt.yaml');
  await writeFile(
    cfg,
    stringify({
      imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: cyrus.password, batch_size: 10 },
      mqtt: { url: broker.url, client_id: 'lpmqtt-replay-imap-test' },
    }),
  );

  const r = await lpmqtt(['replay', '-c', cfg, '--imap-folder', 'INBOX.failed']);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  assert.match(r.stderr, /replay of IMAP folder INBOX\.failed: 26 mails found, 25 published, 0 private \(skipped\), 1 set aside \(1 foreign, 0 rejected\), 0 failed, 0 deferred, 0 left/);

  const expected = mails.reduce((n, m) => n + m.targets.length, 0);
  await sub.waitFor(expected, 10_000);
  const events = sub.messages.filter((m) => m.topic.startsWith('launchpad/'));
  assert.equal(new Set(events.map((m) => (m.json() as { 'event-id': string })['event-id'])).size, expected);
  assert.ok(!events.some((m) => (m.json() as { 'bug-number'?: string })['bug-number'] === old.bug), 'a \\Seen mail was published again');
  // A one-shot run publishes no online/offline status of its own.
  assert.deepEqual(sub.messages.filter((m) => m.topic.startsWith('lpmqtt/')), []);

  const listed = await cyrus.listMessages('INBOX.failed');
  assert.equal(listed.length, 27, 'mail was moved out of or into the folder');
  const seen = listed.filter((m) => m.flags.has('\\Seen')).length;
  const flagged = listed.filter((m) => m.flags.has('$LpmqttFailed'));
  assert.equal(seen, 26, 'every published mail (and the old one) is \\Seen');
  assert.equal(flagged.length, 1, 'the foreign mail is flagged in place');
  assert.ok(!flagged[0]?.flags.has('\\Seen'));

  // Run again: nothing left to do, nothing published twice.
  const before = sub.messages.length;
  const again = await lpmqtt(['replay', '-c', cfg, '--imap-folder', 'INBOX.failed']);
  assert.equal(again.code, 0, again.stderr.slice(-3000));
  assert.match(again.stderr, /0 mails found/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(sub.messages.length, before);
});

test('replay --imap-folder names a missing folder and exits 1; PATH and --imap-folder together is a usage error', async () => {
  const cfg = join(work, 'missing.yaml');
  await writeFile(
    cfg,
    stringify({
      imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: cyrus.password },
      mqtt: { url: broker.url },
    }),
  );
  const r = await lpmqtt(['replay', '-c', cfg, '--imap-folder', 'INBOX.nosuch']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /INBOX\.nosuch/);
  const both = await lpmqtt(['replay', '-c', cfg, '--imap-folder', 'INBOX.failed', 'x.eml']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /either PATH\.\.\. or --imap-folder/);
  const none = await lpmqtt(['replay', '-c', cfg]);
  assert.equal(none.code, 2);
});
