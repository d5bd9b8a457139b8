/**
 * Sender verification and the private-bug rule in the running bridge (issue
 * #5), against a real Cyrus and Mosquitto: verified mail is published,
 * rejected mail goes to the failed folder with its reason, a DNS hiccup leaves
 * the mail unmarked until a retry succeeds, and a private bug is marked
 * processed without a single byte published.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { Bridge, type MailEvent } from '../../src/bridge.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { createVerifier, type Resolver } from '../../src/verify.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { dkimKey, dkimSignMail, dnsError } from '../helpers/dkim.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';

const MAILS = join(import.meta.dirname, '../../../shared/launchpad-mails');
const MX = 'mx.lpmqtt.test';
const key = dkimKey();

let cyrus: Cyrus;
let broker: Mosquitto;
let sub: Subscriber;
let n = 0;

before(async () => {
  [cyrus, broker] = await Promise.all([startCyrus(), startMosquitto()]);
  await cyrus.createFolder('INBOX.failed');
  sub = await subscribe(broker.url, 'launchpad/#');
});

after(async () => {
  await sub?.close();
  await Promise.all([cyrus?.stop(), broker?.stop()]);
});

beforeEach(async () => {
  // every test starts with an empty mailbox and no messages seen
  await cyrus.withImap(async (c) => {
    for (const folder of ['INBOX', 'INBOX.failed']) {
      const lock = await c.getMailboxLock(folder);
      try {
        if ((c.mailbox && typeof c.mailbox === 'object' ? c.mailbox.exists : 0) > 0) await c.messageDelete('1:*');
      } finally {
        lock.release();
      }
    }
  });
  sub.clear();
});

function capture(): { log: pino.Logger; lines(): Array<Record<string, unknown>> } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      out += chunk.toString('utf8');
      cb();
    },
  });
  return {
    log: pino({ level: 'debug' }, stream),
    lines: () => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Runs a bridge until `done(events)` holds (or 20 s pass); returns what it reported. */
async function runBridge(
  verify: ConfigInput['verify'],
  opts: { resolver?: Resolver; done: (mails: MailEvent[]) => boolean },
): Promise<{ mails: MailEvent[]; log: Array<Record<string, unknown>> }> {
  const cap = capture();
  const config = configSchema.parse({
    imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: cyrus.password, failed_folder: 'INBOX.failed' },
    mqtt: { url: broker.url, client_id: `verify-${++n}`, publish_timeout: 5, status_topic: null },
    verify,
  });
  const verifier = createVerifier(config.verify, { log: cap.log, ...(opts.resolver ? { resolver: opts.resolver } : {}) });
  const bridge = new Bridge({ config, log: cap.log, verifier });
  const mails: MailEvent[] = [];
  bridge.on('mail', (m) => mails.push(m));
  try {
    await bridge.start();
    const deadline = Date.now() + 20_000;
    while (!opts.done(mails)) {
      if (Date.now() > deadline) assert.fail(`bridge did not finish; mails so far: ${JSON.stringify(mails)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await bridge.stop();
  }
  return { mails, log: cap.lines() };
}

const final = (m: MailEvent): boolean => m.result !== 'deferred';

function syntheticBugMail(subject: string, product = 'qemu'): string {
  return [
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset="utf-8"',
    'Date: Tue, 14 Jan 2020 21:19:46 -0000',
    'From: Jane Doe <1859713@bugs.launchpad.net>',
    'To: lpmqtt@example.org',
    'Reply-To: Bug 1859713 <1859713@bugs.launchpad.net>',
    `Message-Id: <${Math.random().toString(36).slice(2)}@launchpad.test>`,
    `Subject: ${subject}`,
    'X-Launchpad-Notification-Type: bug',
    `X-Launchpad-Bug: product=${product}; status=New; importance=Undecided; assignee=None;`,
    'X-Launchpad-Bug-Private: no',
    'X-Generated-By: Launchpad (canonical.com); Revision="1234"',
    '',
    'Status changed to Confirmed',
    '',
  ].join('\r\n');
}

describe('verify.authserv_id in the bridge', () => {
  test("publishes mail our MTA vouched for; rejects a forged or missing Authentication-Results into the failed folder", async () => {
    const raw = (await readFile(join(MAILS, '001.eml'))).toString('latin1');
    const vouched = `Authentication-Results: ${MX}; dkim=pass header.d=launchpad.net\r\n${raw}`;
    const forged = `Authentication-Results: ${MX}; dkim=fail header.d=launchpad.net\r\nAuthentication-Results: ${MX}; dkim=pass header.d=launchpad.net\r\n${raw}`;
    await cyrus.deliverMany([Buffer.from(vouched, 'latin1'), Buffer.from(forged, 'latin1'), Buffer.from(raw, 'latin1')]);
    const { mails, log } = await runBridge({ authserv_id: MX }, { done: (m) => m.filter(final).length >= 3 });
    assert.deepEqual(mails.filter(final).map((m) => m.result).sort(), ['published', 'rejected', 'rejected']);
    await sub.waitFor(2, 10_000);
    assert.deepEqual(sub.messages.map((m) => m.topic).sort(), ['launchpad/qemu/bug/2072564', 'launchpad/ubuntu/bug/2072564']);
    assert.equal((await cyrus.listMessages('INBOX.failed')).length, 2, 'rejected mail is set aside, never lost');
    const reasons = log.filter((l) => l.msg === 'mail not published').map((l) => String(l.reason));
    assert.ok(reasons.some((r) => /no dkim=pass for launchpad\.net/.test(r)), reasons.join(' | '));
    assert.ok(reasons.some((r) => r === `no Authentication-Results from ${MX}`), reasons.join(' | '));
  });
});

describe('verify.dkim in the bridge', () => {
  const launchpadKey = { 'test._domainkey.launchpad.net': key.txt };
  /** Answers from `records`; the first `failures` lookups time out. */
  function flakyDns(records: Record<string, string>, failures: number): Resolver & { calls: () => number } {
    let calls = 0;
    const resolver = async (name: string, rrtype: string): Promise<string[][]> => {
      calls++;
      if (calls <= failures) throw dnsError('ETIMEOUT', name);
      const txt = rrtype === 'TXT' ? records[name] : undefined;
      if (txt === undefined) throw dnsError('ENOTFOUND', name);
      return [[txt]];
    };
    return Object.assign(resolver, { calls: () => calls });
  }

  test('publishes signed mail, rejects an unsigned one and one whose signed Subject was changed', async () => {
    const good = await dkimSignMail(syntheticBugMail('[Bug 1859713] signed and intact'), { domain: 'launchpad.net', key });
    const tampered = (await dkimSignMail(syntheticBugMail('[Bug 1859713] signed'), { domain: 'launchpad.net', key })).replace(
      '[Bug 1859713] signed',
      '[Bug 1859714] signed',
    );
    const unsigned = syntheticBugMail('[Bug 1859713] not signed');
    await cyrus.deliverMany([good, tampered, unsigned]);
    const { mails, log } = await runBridge({ dkim: true }, { resolver: flakyDns(launchpadKey, 0), done: (m) => m.filter(final).length >= 3 });
    assert.deepEqual(mails.filter(final).map((m) => m.result).sort(), ['published', 'rejected', 'rejected']);
    await sub.waitFor(1, 10_000);
    assert.deepEqual(sub.messages.map((m) => m.topic), ['launchpad/qemu/bug/1859713']);
    assert.equal((sub.messages[0]?.json() as { title?: string }).title, 'signed and intact');
    assert.equal((await cyrus.listMessages('INBOX.failed')).length, 2);
    const reasons = log.filter((l) => l.msg === 'mail not published').map((l) => String(l.reason));
    assert.ok(reasons.some((r) => /bad signature/.test(r)), reasons.join(' | '));
    assert.ok(reasons.some((r) => /no DKIM signature/.test(r)), reasons.join(' | '));
  });

  test('a temporary DNS failure leaves the mail unmarked; a later try publishes it (never dropped)', async () => {
    const good = await dkimSignMail(syntheticBugMail('[Bug 1859713] after DNS trouble'), { domain: 'launchpad.net', key });
    await cyrus.deliver(good);
    const dns = flakyDns(launchpadKey, 2);
    const { mails } = await runBridge({ dkim: true }, { resolver: dns, done: (m) => m.some(final) });
    assert.deepEqual(mails.map((m) => m.result), ['deferred', 'deferred', 'published']);
    assert.match(String(mails[0]?.reason), /ETIMEOUT/);
    assert.equal(dns.calls(), 3);
    // The broker acknowledges a publish before it has delivered it to the subscriber.
    await sub.waitFor(1, 10_000);
    assert.equal(sub.messages.length, 1);
    assert.equal((await cyrus.listMessages('INBOX.failed')).length, 0, 'never set aside as failed');
  });
});

describe('private bugs (parse.private_bugs: skip, the default)', () => {
  test('a private bug is marked processed, publishes nothing, and is logged at info with the bug number only', async () => {
    const raw = await readFile(join(MAILS, '014.eml'));
    assert.match(raw.toString('latin1'), /^X-Launchpad-Bug-Private: yes/m);
    await cyrus.deliver(raw);
    const { mails, log } = await runBridge({}, { done: (m) => m.some(final) });
    assert.deepEqual(mails.map((m) => m.result), ['private']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sub.messages.length, 0, 'nothing published');
    const msgs = await cyrus.listMessages('INBOX');
    assert.equal(msgs.length, 1);
    assert.ok(msgs[0]?.flags.has('\\Seen'), 'marked processed');
    assert.equal((await cyrus.listMessages('INBOX.failed')).length, 0, 'not treated as failed');
    const lines = log.filter((l) => JSON.stringify(l).includes('2025030'));
    assert.ok(lines.length >= 1, 'logged with the bug number');
    for (const l of lines) assert.equal(l.level, 30, `info level: ${JSON.stringify(l)}`);
    // nothing of the private content in any log line
    const all = JSON.stringify(log);
    for (const secret of ['apparmor_parser', 'no-expr-simplify', 'snapd']) assert.equal(all.includes(secret), false, `log mentions ${secret}`);
  });
});

describe('lpmqtt run applies the configured verification', () => {
  const CLI = join(import.meta.dirname, '../../dist/cli.js');

  test('with verify.authserv_id the daemon sets unvouched mail aside and publishes the vouched one', async () => {
    assert.ok(existsSync(CLI), `${CLI} missing: run \`npm run build\` first`);
    const dir = await mkdtemp(join(tmpdir(), 'lpmqtt-verify-run-'));
    try {
      const cfg = join(dir, 'lpmqtt.yaml');
      await writeFile(cfg, stringify({
        imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: cyrus.password, failed_folder: 'INBOX.failed' },
        mqtt: { url: broker.url, client_id: 'verify-run', status_topic: null },
        verify: { authserv_id: MX },
      }));
      const raw = (await readFile(join(MAILS, '001.eml'))).toString('latin1');
      await cyrus.deliverMany([
        Buffer.from(raw, 'latin1'),
        Buffer.from(`Authentication-Results: ${MX}; dkim=pass header.d=launchpad.net\r\n${raw}`, 'latin1'),
      ]);
      const child = spawn(process.execPath, [CLI, 'run', '-c', cfg], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const deadline = Date.now() + 20_000;
        while ((await cyrus.listMessages('INBOX.failed')).length < 1 || sub.messages.length < 2) {
          if (Date.now() > deadline) assert.fail(`daemon did not handle both mails; output:\n${out.slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        child.kill('SIGTERM');
        assert.equal(await exited, 0, out.slice(-2000));
      }
      assert.equal((await cyrus.listMessages('INBOX.failed')).length, 1);
      assert.deepEqual(sub.messages.map((m) => m.topic).sort(), ['launchpad/qemu/bug/2072564', 'launchpad/ubuntu/bug/2072564']);
      assert.match(out, /no Authentication-Results from mx\.lpmqtt\.test/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
