/**
 * Proves the test harness itself: a real Cyrus (LMTP in, IMAP/IMAPS out, IDLE
 * push via idled) and a real Mosquitto (users, ACL, websockets, TLS), plus the
 * mail generator, the subscriber and the fault proxy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import mqtt from 'mqtt';
import { createTestCa, type IssuedCert, type TestCa } from '../helpers/testca.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { encodeData } from '../helpers/lmtp.js';
import { makeBugMail, makeForeignMail } from '../helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe } from '../helpers/subscriber.js';
import { startProxy } from '../helpers/tcpproxy.js';

let ca: TestCa;
let wrongCa: TestCa;
/** The CA, a server certificate it signed for localhost, and an unrelated CA for "wrong CA" checks. */
let pki: IssuedCert & { caFile: string; wrongCaFile: string };

before(async () => {
  [ca, wrongCa] = await Promise.all([createTestCa('lpmqtt test CA'), createTestCa('lpmqtt unrelated CA')]);
  pki = { ...(await ca.issue('server', ['DNS:localhost', 'IP:127.0.0.1'])), caFile: ca.caFile, wrongCaFile: wrongCa.caFile };
});
after(async () => {
  await Promise.all([ca.remove(), wrongCa.remove()]);
});

async function fetchSource(cyrus: Cyrus, folder: string, uid: number): Promise<string> {
  return cyrus.withImap(async (client) => {
    const lock = await client.getMailboxLock(folder, { readOnly: true });
    try {
      const msg = await client.fetchOne(String(uid), { source: true }, { uid: true });
      if (msg === false || msg.source === undefined) throw new Error(`no message with UID ${uid} in ${folder}`);
      return msg.source.toString('latin1');
    } finally {
      lock.release();
    }
  });
}

describe('Cyrus harness', () => {
  let cyrus: Cyrus;
  before(async () => {
    cyrus = await startCyrus({ tls: { certFile: pki.certFile, keyFile: pki.keyFile } });
  });
  after(async () => {
    await cyrus.stop();
  });

  it('makes user.lpmqtt the INBOX of lpmqtt, with INBOX.failed as its subfolder', async () => {
    await cyrus.createFolder('failed');
    const asUser = await cyrus.withImap(async (c) => (await c.list()).map((m) => m.path).sort());
    assert.deepEqual(asUser, ['INBOX', 'INBOX.failed']);
    const asAdmin = await cyrus.adminCommand('LIST "" "user.lpmqtt*"');
    assert.ok(asAdmin.some((l) => / user\.lpmqtt$/.test(l)), asAdmin.join('\n'));
    assert.ok(asAdmin.some((l) => / user\.lpmqtt\.failed$/.test(l)), asAdmin.join('\n'));
    await cyrus.deleteFolder('INBOX.failed');
    const after = await cyrus.withImap(async (c) => (await c.list()).map((m) => m.path));
    assert.deepEqual(after, ['INBOX']);
  });

  it('delivers over LMTP into INBOX with the bytes intact (CRLF, dot lines)', async () => {
    const before = (await cyrus.listMessages()).length;
    const raw = 'From: a@example.org\nSubject: dots\nMessage-Id: <dots@x>\n\n.leading dot\n..two dots\nend\n';
    await cyrus.deliver(raw);
    const msgs = await cyrus.listMessages('INBOX');
    assert.equal(msgs.length, before + 1);
    const last = msgs.at(-1)!;
    const source = await fetchSource(cyrus, 'INBOX', last.uid);
    assert.ok(source.includes('\r\n.leading dot\r\n..two dots\r\nend\r\n'), JSON.stringify(source));
    assert.ok(source.includes('Message-Id: <dots@x>'));
    assert.ok(!last.flags.has('\\Seen'));
  });

  it('delivers the same Message-Id twice (duplicate suppression is off)', async () => {
    const before = (await cyrus.listMessages()).length;
    const mail = makeBugMail(1, { messageId: 'same@test' });
    await cyrus.deliverMany([mail.raw, mail.raw, makeBugMail(2).raw]);
    assert.equal((await cyrus.listMessages()).length, before + 3);
  });

  it('pushes EXISTS to an IDLE client soon after a delivery (idled)', async () => {
    const client = await cyrus.imap();
    try {
      await client.mailboxOpen('INBOX');
      const count = client.mailbox === false ? 0 : client.mailbox.exists;
      const seen = new Promise<number>((resolve) => {
        client.on('exists', (info: { count: number }) => {
          if (info.count > count) resolve(info.count);
        });
      });
      // ImapFlow enters IDLE by itself once idle; make sure it is idling before delivering.
      const idling = client.idle();
      await new Promise((r) => setTimeout(r, 200));
      await cyrus.deliver(makeBugMail(3).raw);
      // Without idled Cyrus would poll every imapidlepoll (60 s) seconds: 10 s proves push.
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no EXISTS within 10 s')), 10_000).unref());
      assert.equal(await Promise.race([seen, timeout]), count + 1);
      void idling;
    } finally {
      await client.logout();
    }
  });

  it('keeps data and ports across restart, and across kill + start', async () => {
    const beforeMsgs = await cyrus.listMessages();
    const { imapPort, lmtpPort } = cyrus;
    const pid = cyrus.pid;
    await cyrus.restart();
    assert.notEqual(cyrus.pid, pid);
    assert.deepEqual((await cyrus.listMessages()).map((m) => m.uid), beforeMsgs.map((m) => m.uid));
    await cyrus.kill();
    assert.equal(cyrus.pid, undefined);
    await assert.rejects(cyrus.listMessages());
    await cyrus.start();
    assert.equal(cyrus.imapPort, imapPort);
    assert.equal(cyrus.lmtpPort, lmtpPort);
    await cyrus.deliver(makeBugMail(4).raw);
    assert.equal((await cyrus.listMessages()).length, beforeMsgs.length + 1);
  });

  it('serves IMAPS with a certificate the test CA vouches for, and not another CA', async () => {
    const ca = await readFile(pki.caFile);
    const n = await cyrus.withImap(async (c) => {
      assert.equal(c.secureConnection, true);
      const status = await c.status('INBOX', { messages: true });
      return status === false ? undefined : status.messages;
    }, { tls: { ca } });
    assert.ok(typeof n === 'number' && n > 0);
    const wrong = await readFile(pki.wrongCaFile);
    await assert.rejects(cyrus.withImap(async () => undefined, { tls: { ca: wrong } }), /certificate|self[- ]signed|verify/i);
  });

  it('rejects an unknown user and reports LMTP refusals', async () => {
    await assert.rejects(cyrus.withImap(async () => undefined, { user: 'lpmqtt-nobody' }));
    await assert.rejects(cyrus.deliver('Subject: x\n\nx\n', { rcpt: 'nosuchuser' }), /LMTP/);
  });
});

describe('Cyrus harness: lifecycle', () => {
  it('fails fast with what Cyrus printed when it cannot start', async () => {
    await assert.rejects(startCyrus({ imapdConf: { configdirectory: '/nonexistent/lpmqtt' } }), /fatal error: can't read mailboxes file/);
  });

  it('removes its directory on stop and serves extra users', async () => {
    const cyrus = await startCyrus({ users: { other: 'other-pw' }, idled: false });
    try {
      await cyrus.deliver(makeBugMail(5).raw, { rcpt: 'other' });
      const n = await cyrus.withImap(async (c) => {
        const status = await c.status('INBOX', { messages: true });
        return status === false ? undefined : status.messages;
      }, { user: 'other' });
      assert.equal(n, 1);
      assert.equal((await cyrus.listMessages()).length, 0);
    } finally {
      await cyrus.stop();
    }
    await assert.rejects(readFile(join(cyrus.dir, 'imapd.conf')), { code: 'ENOENT' });
    await assert.rejects(cyrus.start(), /stopped/);
  });
});

/** Live (non-zombie) processes in process group `pgid`, from /proc. */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid pgrp ...; comm may contain spaces, so split after ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(name));
  }
  return members;
}

describe('cleanup when the test process dies', () => {
  const helpers = fileURLToPath(new URL('../helpers/', import.meta.url));
  for (const how of ['uncaught exception', 'SIGTERM'] as const) {
    it(`kills Cyrus and Mosquitto and removes their directories on ${how}`, async () => {
      const script = `
        import { startCyrus } from ${JSON.stringify(pathToFileURL(join(helpers, 'cyrus.ts')).href)};
        import { startMosquitto } from ${JSON.stringify(pathToFileURL(join(helpers, 'mosquitto.ts')).href)};
        const c = await startCyrus();
        const m = await startMosquitto();
        console.log(JSON.stringify({ pgids: [c.pid, m.pid], dirs: [c.dir, m.dir] }));
        // Stays alive on open stdin; a line on stdin makes it crash.
        process.stdin.once('data', () => { throw new Error('crash'); });
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        void exited.then(() => reject(new Error(`child exited early: ${err}`)));
      });
      const info = JSON.parse(line) as { pgids: number[]; dirs: string[] };
      assert.equal(info.pgids.length, 2);
      for (const pgid of info.pgids) assert.ok((await groupMembers(pgid)).length > 0, 'servers were running');
      if (how === 'SIGTERM') child.kill('SIGTERM');
      else child.stdin.write('crash now\n');
      await exited;
      for (let i = 0; i < 100; i++) {
        if ((await Promise.all(info.pgids.map(groupMembers))).every((m) => m.length === 0)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const pgid of info.pgids) assert.deepEqual(await groupMembers(pgid), [], `process group ${pgid} is gone`);
      for (const dir of info.dirs) await assert.rejects(readdir(dir), { code: 'ENOENT' });
    });
  }
});

describe('Mosquitto harness', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto({
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      allowAnonymous: false,
      acl: 'user alice\ntopic readwrite launchpad/#\nuser bob\ntopic read launchpad/#\n',
      websockets: true,
      tls: { caFile: pki.caFile, certFile: pki.certFile, keyFile: pki.keyFile },
    });
  });
  after(async () => {
    await broker.stop();
  });

  it('enforces users and the ACL', async () => {
    const sub = await subscribe(broker.url, 'launchpad/#', { username: 'bob', password: 'bob-pw' });
    try {
      await assert.rejects(mqtt.connectAsync(broker.url, { reconnectPeriod: 0 }), /Not authorized|Bad user/i);
      await assert.rejects(mqtt.connectAsync(broker.url, { username: 'alice', password: 'nope', reconnectPeriod: 0 }), /Not authorized|Bad user/i);
      const bob = await mqtt.connectAsync(broker.url, { username: 'bob', password: 'bob-pw' });
      await bob.publishAsync('launchpad/forbidden', 'x', { qos: 1 }); // dropped by the ACL
      await bob.endAsync();
      const alice = await mqtt.connectAsync(broker.url, { username: 'alice', password: 'alice-pw' });
      await alice.publishAsync('launchpad/qemu/bug', JSON.stringify({ n: 1 }), { qos: 1 });
      await alice.endAsync();
      await sub.waitFor(1, 5000);
      assert.deepEqual(sub.messages.map((m) => m.topic), ['launchpad/qemu/bug']);
      assert.deepEqual(sub.messages[0]?.json(), { n: 1 });
      assert.equal(typeof sub.messages[0]?.receivedAt, 'bigint');
    } finally {
      await sub.close();
    }
  });

  it('serves websockets on 127.0.0.1 and TLS with the test CA only', async () => {
    assert.ok(broker.wsUrl && broker.tlsUrl);
    const sub = await subscribe(broker.wsUrl, 'launchpad/#', { username: 'bob', password: 'bob-pw' });
    try {
      const ca = await readFile(pki.caFile);
      const alice = await mqtt.connectAsync(broker.tlsUrl, { username: 'alice', password: 'alice-pw', ca, servername: 'localhost', reconnectPeriod: 0 });
      await alice.publishAsync('launchpad/ws', 'hi', { qos: 1 });
      await alice.endAsync();
      await sub.waitFor(1, 5000);
      assert.equal(sub.messages[0]?.payload.toString(), 'hi');
      const wrong = await readFile(pki.wrongCaFile);
      await assert.rejects(mqtt.connectAsync(broker.tlsUrl, { username: 'alice', password: 'alice-pw', ca: wrong, servername: 'localhost', reconnectPeriod: 0 }));
    } finally {
      await sub.close();
    }
  });

  it('restarts on the same ports', async () => {
    const pid = broker.pid;
    await broker.restart();
    assert.notEqual(broker.pid, pid);
    const c = await mqtt.connectAsync(broker.url, { username: 'alice', password: 'alice-pw', reconnectPeriod: 0 });
    await c.endAsync();
    await broker.kill();
    await assert.rejects(mqtt.connectAsync(broker.url, { username: 'alice', password: 'alice-pw', reconnectPeriod: 0, connectTimeout: 2000 }));
    await broker.start();
    const d = await mqtt.connectAsync(broker.wsUrl!, { username: 'alice', password: 'alice-pw', reconnectPeriod: 0 });
    await d.endAsync();
  });

  it("fails with mosquitto's own message on a bad config", async () => {
    await assert.rejects(startMosquitto({ configText: ({ port }) => `listener ${port} 127.0.0.1\nno_such_option yes\n` }), /no_such_option/);
  });

  it('runs a caller-supplied config with its ports substituted', async () => {
    const custom = await startMosquitto({
      configText: ({ port }) => `per_listener_settings false\nallow_anonymous true\nlistener ${port} 127.0.0.1\nmax_packet_size 200\n`,
    });
    try {
      const sub = await subscribe(custom.url, 't/#');
      const c = await mqtt.connectAsync(custom.url, { reconnectPeriod: 0 });
      await c.publishAsync('t/small', 'x'.repeat(10), { qos: 1 });
      await sub.waitFor(1, 5000);
      await sub.close();
      // A packet above max_packet_size makes the broker drop the connection.
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish('t/big', 'x'.repeat(500), { qos: 0 });
      await closed;
      await c.endAsync(true);
    } finally {
      await custom.stop();
    }
  });
});

describe('TCP proxy', () => {
  it('forwards, stalls, drops and refuses connections', async () => {
    const broker = await startMosquitto();
    const proxy = await startProxy(broker.port);
    try {
      const sub = await subscribe(`mqtt://127.0.0.1:${proxy.port}`, 'p/#');
      const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
      await pub.publishAsync('p/1', 'a', { qos: 1 });
      await sub.waitFor(1, 5000);
      assert.equal(proxy.connections, 1);

      proxy.pause();
      await pub.publishAsync('p/2', 'b', { qos: 1 });
      await assert.rejects(sub.waitFor(2, 500), /got 1/);
      proxy.resume();
      await sub.waitFor(2, 5000);

      const closed = new Promise<void>((resolve) => sub.client.once('close', () => resolve()));
      proxy.dropAll();
      await closed;
      assert.equal(proxy.connections, 0);

      proxy.refuse(true);
      await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${proxy.port}`, { reconnectPeriod: 0, connectTimeout: 2000 }));
      proxy.refuse(false);
      const again = await mqtt.connectAsync(`mqtt://127.0.0.1:${proxy.port}`, { reconnectPeriod: 0 });
      await again.endAsync();
      await pub.endAsync();
      await sub.close();
    } finally {
      await proxy.close();
      await broker.stop();
    }
  });
});

describe('mail generator', () => {
  it('is deterministic and gives unique Message-Ids', () => {
    assert.deepEqual(makeBugMail(42).raw, makeBugMail(42).raw);
    assert.notDeepEqual(makeBugMail(42).raw, makeBugMail(43).raw);
    const ids = new Set(Array.from({ length: 500 }, (_, i) => makeBugMail(i).messageId));
    assert.equal(ids.size, 500);
  });

  it('writes X-Launchpad-Bug headers that mailparser reads back to the stated targets', async () => {
    let total = 0;
    const targetCounts = new Set<number>();
    let sawDistro = false;
    let sawSeries = false;
    for (let i = 0; i < 60; i++) {
      const m = makeBugMail(i);
      total += m.raw.length;
      const parsed = await simpleParser(m.raw);
      const bugHeaders = parsed.headerLines.filter((h) => h.key === 'x-launchpad-bug').map((h) => h.line.replace(/^[^:]*:\s*/, '').replace(/\r?\n[ \t]+/g, ' ').trim());
      assert.deepEqual(bugHeaders, m.tasks, `mail ${i}`);
      const targets = [...new Set(bugHeaders.map((v) => /(?:^|; )product=([^;]+);/.exec(v)?.[1] ?? /distribution=([^;]+);/.exec(v)?.[1]))];
      assert.deepEqual(targets, m.targets, `mail ${i}`);
      assert.equal(parsed.messageId, m.messageId);
      assert.equal(parsed.subject, m.subject);
      assert.match(parsed.subject ?? '', new RegExp(`^\\[Bug ${m.bug}\\] `));
      assert.equal(parsed.headers.get('x-launchpad-bug-private'), 'no');
      assert.ok((parsed.text ?? '').includes(`https://bugs.launchpad.net/bugs/${m.bug}`));
      targetCounts.add(m.targets.length);
      sawDistro ||= m.tasks.some((t) => t.startsWith('distribution=ubuntu; sourcepackage='));
      sawSeries ||= m.tasks.some((t) => t.includes('distroseries=') || t.includes('productseries='));
    }
    assert.deepEqual([...targetCounts].sort(), [1, 2, 3]);
    assert.ok(sawDistro && sawSeries);
    const avg = total / 60;
    assert.ok(avg > 4500 && avg < 6500, `average size ${avg}`);
    const priv = await simpleParser(makeBugMail(7, { private: true, targets: 5, bug: 123 }).raw);
    assert.equal(priv.headers.get('x-launchpad-bug-private'), 'yes');
    assert.equal(priv.headerLines.filter((h) => h.key === 'x-launchpad-bug').length >= 5, true);
  });

  it('decodes non-ASCII text from the quoted-printable body', async () => {
    const texts = await Promise.all(Array.from({ length: 30 }, async (_, i) => (await simpleParser(makeBugMail(i, { bodyBytes: 4000 }).raw)).text ?? ''));
    assert.ok(texts.some((t) => /[äöüßéèàÅØ—…ë]/.test(t)));
    assert.ok(texts.every((t) => !t.includes('=C3')));
  });

  it('makes foreign mails without Launchpad headers', async () => {
    const kinds = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const f = makeForeignMail(i);
      const parsed = await simpleParser(f.raw);
      kinds.add(f.kind);
      assert.equal(parsed.headerLines.some((h) => h.key.startsWith('x-launchpad')), false);
      assert.equal(parsed.subject, f.subject);
    }
    assert.equal(kinds.size, 3);
  });
});

describe('LMTP data encoding', () => {
  it('normalises line ends to CRLF, dot-stuffs and terminates', () => {
    assert.equal(encodeData('.a\nb\r\n.c\rd').toString('latin1'), '..a\r\nb\r\n..c\r\nd\r\n.\r\n');
    assert.deepEqual(encodeData(Buffer.from([0xc3, 0xa4, 0x0a])), Buffer.from([0xc3, 0xa4, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a]));
  });
});
