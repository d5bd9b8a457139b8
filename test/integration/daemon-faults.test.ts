/**
 * The daemon under faults: the broker or the IMAP server going away and
 * coming back, a half-open IMAP connection, stopping in the middle of a
 * batch. The invariant everywhere: a mail is marked only after every one of
 * its events reached the broker, and no mail is lost.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Bridge } from '../../src/bridge.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { makeBugMail, type GeneratedBugMail } from '../helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';
import { startProxy } from '../helpers/tcpproxy.js';
import { recordingLogger, resetMailbox, testConfig, until } from './daemon-fixture.js';

let cyrus: Cyrus;
let broker: Mosquitto;

before(async () => {
  [cyrus, broker] = await Promise.all([startCyrus(), startMosquitto()]);
});
after(async () => {
  await Promise.all([cyrus?.stop(), broker?.stop()]);
});

const topicsOf = (m: GeneratedBugMail): string[] => m.targets.map((t) => `launchpad/${t}/bug/${m.bug}`);

/**
 * Every mail marked \Seen had all its events received. Mails were delivered
 * in order into an emptied INBOX, so the n-th message is mails[n].
 */
async function assertMarkedOnlyIfAcked(mails: GeneratedBugMail[], sub: Subscriber): Promise<{ seen: number }> {
  const listed = await cyrus.listMessages();
  assert.equal(listed.length, mails.length);
  const got = new Set(sub.messages.map((m) => m.topic));
  let seen = 0;
  listed.forEach((msg, i) => {
    if (!msg.flags.has('\\Seen')) return;
    seen += 1;
    for (const topic of topicsOf(mails[i]!)) assert.ok(got.has(topic), `UID ${msg.uid} marked but ${topic} never arrived`);
  });
  return { seen };
}

test('broker down while mail arrives: the mail waits unseen; when the broker is back every event arrives and only then is it marked', async (t) => {
  await resetMailbox(cyrus);
  // The bridge reaches the broker through a proxy that can keep it out while
  // the test's subscriber (direct) gets ready on the restarted broker.
  const proxy = await startProxy(broker.port);
  t.after(() => proxy.close());
  const bridge = new Bridge({
    config: testConfig(cyrus, broker, { mqtt: { url: `mqtt://127.0.0.1:${proxy.port}` } }),
    log: recordingLogger().log,
  });
  const mqttUp: boolean[] = [];
  bridge.on('connection', (c) => c.side === 'mqtt' && mqttUp.push(c.up));
  let idles = 0;
  bridge.on('idle', () => (idles += 1));
  t.after(() => bridge.stop());
  await bridge.start();
  await until('first IDLE', () => idles > 0);

  proxy.refuse(true);
  await broker.stop();
  await until('bridge sees the broker gone', () => mqttUp.at(-1) === false);
  const mails = Array.from({ length: 6 }, (_, i) => makeBugMail(300 + i));
  const before = idles;
  await cyrus.deliverMany(mails.map((m) => m.raw));
  // The EXISTS woke the watcher; it went back to IDLE without touching the mail.
  await until('bridge back in IDLE after the new mail', () => idles > before);
  const waiting = await cyrus.listMessages();
  assert.equal(waiting.length, 6);
  assert.ok(waiting.every((m) => !m.flags.has('\\Seen')), 'nothing marked while the broker is down');

  await broker.start();
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  proxy.refuse(false);
  const expected = mails.flatMap(topicsOf);
  await sub.waitFor(expected.length, 20_000);
  assert.deepEqual(new Set(sub.messages.map((m) => m.topic)), new Set(expected));
  await until('all seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
  await assertMarkedOnlyIfAcked(mails, sub);
});

test('Cyrus restarted under the daemon: it reconnects and catches up mail delivered right after the restart', async (t) => {
  await resetMailbox(cyrus);
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const bridge = new Bridge({ config: testConfig(cyrus, broker), log: recordingLogger().log });
  const imapUp: boolean[] = [];
  bridge.on('connection', (c) => c.side === 'imap' && imapUp.push(c.up));
  t.after(() => bridge.stop());
  await bridge.start();
  const first = makeBugMail(400, { targets: 1 });
  await cyrus.deliver(first.raw);
  await sub.waitFor(1, 10_000);

  await cyrus.shutdown();
  await until('bridge sees IMAP gone', () => imapUp.at(-1) === false);
  await cyrus.start();
  const mails = Array.from({ length: 4 }, (_, i) => makeBugMail(401 + i, { targets: 1 }));
  await cyrus.deliverMany(mails.map((m) => m.raw));
  await sub.waitFor(5, 20_000);
  assert.deepEqual(sub.messages.slice(1).map((m) => m.topic).sort(), mails.flatMap(topicsOf).sort());
  await until('all seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
  assert.deepEqual(imapUp.slice(0, 3), [true, false, true]);
});

test('a half-open IMAP connection is caught by the NOOP watchdog and replaced', async (t) => {
  await resetMailbox(cyrus);
  const proxy = await startProxy(cyrus.imapPort);
  t.after(() => proxy.close());
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const config = testConfig(cyrus, broker, { imap: { port: proxy.port, watchdog_timeout: 1 } });
  const rec = recordingLogger();
  const bridge = new Bridge({ config, log: rec.log });
  const imapUp: boolean[] = [];
  bridge.on('connection', (c) => c.side === 'imap' && imapUp.push(c.up));
  t.after(() => bridge.stop());
  await bridge.start();
  // In IDLE with both sides up (and the catch-up round done).
  let idled = false;
  bridge.once('idle', () => (idled = true));
  await until('IDLE', () => idled);
  // Packets vanish: nothing is answered, nothing is closed.
  proxy.pause();
  await until('watchdog drops the connection', () => imapUp.at(-1) === false, 10_000);
  proxy.resume();
  await until('reconnected', () => imapUp.at(-1) === true, 10_000);
  const mail = makeBugMail(500, { targets: 1 });
  await cyrus.deliver(mail.raw);
  await sub.waitFor(1, 10_000);
  assert.equal(sub.messages[0]!.topic, topicsOf(mail)[0]);
  assert.ok(rec.lines.some((l) => /NOOP not answered/.test(JSON.stringify(l))), 'the watchdog said why');
});

test('stop() in the middle of a backlog marks nothing whose events were not all acknowledged', async (t) => {
  await resetMailbox(cyrus);
  const mails = Array.from({ length: 600 }, (_, i) => makeBugMail(1000 + i));
  await cyrus.deliverMany(mails.map((m) => m.raw));
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const bridge = new Bridge({ config: testConfig(cyrus, broker, { imap: { batch_size: 50 } }), log: recordingLogger('info').log });
  await bridge.start();
  await sub.waitFor(100, 20_000);
  const started = Date.now();
  await bridge.stop();
  const stopMs = Date.now() - started;
  assert.ok(stopMs < 10_000, `stop() took ${stopMs} ms`);
  // Give stragglers in flight a moment to arrive at the subscriber before comparing.
  await until('subscriber caught up', async () => {
    const n = sub.messages.length;
    await new Promise((r) => setTimeout(r, 100));
    return sub.messages.length === n;
  });
  const { seen } = await assertMarkedOnlyIfAcked(mails, sub);
  assert.ok(seen > 0, 'some mail was marked before the stop');
  assert.ok(seen < mails.length, 'the stop came before the end of the backlog');
});

/**
 * A proxy in front of Cyrus that hides IDLE (and COMPRESS, to keep the stream
 * readable) from every capability list: Cyrus has no switch that drops IDLE.
 */
async function startNoIdleProxy(port: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    let pending = '';
    upstream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      const cut = pending.lastIndexOf('\n') + 1;
      const lines = pending.slice(0, cut).replace(/^(.*CAPABILITY.*)$/gm, (line) => line.replace(/ (IDLE|COMPRESS=DEFLATE)\b/g, ''));
      pending = pending.slice(cut);
      client.write(Buffer.from(lines, 'latin1'));
    });
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    const down = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', down);
      s.on('close', down);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test('a server without IDLE is polled every poll_interval', async (t) => {
  await resetMailbox(cyrus);
  const proxy = await startNoIdleProxy(cyrus.imapPort);
  t.after(() => proxy.close());
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const rec = recordingLogger();
  const bridge = new Bridge({ config: testConfig(cyrus, broker, { imap: { port: proxy.port, poll_interval: 0.5 } }), log: rec.log });
  t.after(() => bridge.stop());
  await bridge.start();
  const connected = rec.lines.find((l) => l.msg === 'IMAP connected, folder selected');
  assert.equal(connected?.['idle'], false);
  let polls = 0;
  bridge.on('idle', () => (polls += 1));
  await until('two polls', () => polls >= 2);
  const mail = makeBugMail(600, { targets: 2 });
  await cyrus.deliver(mail.raw);
  await sub.waitFor(2, 10_000);
  await until('seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
  assert.ok(!rec.text().includes('"command":"IDLE"'), 'IDLE was never sent');
});
