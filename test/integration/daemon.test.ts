/**
 * `lpmqtt run` end to end: a real Cyrus (with idled) and a real Mosquitto,
 * mail delivered over LMTP, events read by a subscriber, flags read back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Bridge, type MailEvent } from '../../src/bridge.js';
import type { Verifier } from '../../src/verify.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { makeBugMail, makeForeignMail } from '../helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe } from '../helpers/subscriber.js';
import { recordingLogger, resetMailbox, testConfig, until } from './daemon-fixture.js';

let cyrus: Cyrus;
let broker: Mosquitto;

before(async () => {
  [cyrus, broker] = await Promise.all([startCyrus(), startMosquitto()]);
});
after(async () => {
  await Promise.all([cyrus?.stop(), broker?.stop()]);
});

test('drains the backlog, then publishes live mail during IDLE, marking each mail seen after its acks', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const mails = Array.from({ length: 25 }, (_, i) => makeBugMail(i));
  await cyrus.deliverMany(mails.map((m) => m.raw));
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const { log } = recordingLogger();
  const bridge = new Bridge({ config: testConfig(cyrus, broker, { imap: { batch_size: 10 } }), log });
  const results: MailEvent[] = [];
  bridge.on('mail', (m) => results.push(m));
  t.after(() => bridge.stop());
  await bridge.start();
  const expected = mails.reduce((n, m) => n + m.targets.length, 0);
  await sub.waitFor(expected, 15_000);
  await until('25 mails seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
  assert.equal(results.filter((r) => r.result === 'published').length, 25);
  // One event per target, on the target's topic.
  for (const m of mails) {
    for (const target of m.targets) {
      assert.ok(sub.messages.some((x) => x.topic === `launchpad/${target}/bug/${m.bug}`), `${target} ${m.bug}`);
    }
  }

  // Live mail while idling.
  const live = makeBugMail(100, { targets: 3 });
  sub.clear();
  await cyrus.deliver(live.raw);
  await sub.waitFor(3, 10_000);
  assert.deepEqual(sub.messages.map((m) => m.topic).sort(), live.targets.map((x) => `launchpad/${x}/bug/${live.bug}`).sort());
  const payload = sub.messages[0]!.json() as Record<string, unknown>;
  assert.equal(payload['message-id'], live.messageId.slice(1, -1));
  await until('live mail seen', async () => (await cyrus.listMessages()).length === 26 && (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
});

test('foreign mail goes to INBOX.failed with the reason logged; Launchpad mail around it is published', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const a = makeBugMail(200, { targets: 1 });
  const foreign = makeForeignMail(1);
  const b = makeBugMail(201, { targets: 1 });
  await cyrus.deliverMany([a.raw, foreign.raw, b.raw]);
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const rec = recordingLogger();
  const bridge = new Bridge({ config: testConfig(cyrus, broker), log: rec.log });
  t.after(() => bridge.stop());
  await bridge.start();
  await sub.waitFor(2, 10_000);
  await until('foreign mail moved', async () => (await cyrus.listMessages('INBOX.failed').catch(() => [])).length === 1);
  await until('inbox: 2 seen', async () => {
    const inbox = await cyrus.listMessages();
    return inbox.length === 2 && inbox.every((m) => m.flags.has('\\Seen'));
  });
  const line = rec.lines.find((l) => l.msg === 'mail not published');
  assert.ok(line, 'a log line for the foreign mail');
  assert.equal(line['result'], 'foreign');
  assert.match(String(line['reason']), /X-Generated-By|Launchpad/i);
  assert.equal(line['messageId'], foreign.messageId.slice(1, -1));
});

test('with failed_folder null, foreign mail is flagged $LpmqttFailed in place and never fetched again', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const foreign = makeForeignMail(2);
  const ok = makeBugMail(210, { targets: 1 });
  await cyrus.deliverMany([foreign.raw, ok.raw]);
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const config = testConfig(cyrus, broker, { imap: { failed_folder: null } });
  for (let round = 0; round < 2; round++) {
    const rec = recordingLogger();
    const bridge = new Bridge({ config, log: rec.log });
    const results: MailEvent[] = [];
    bridge.on('mail', (m) => results.push(m));
    // The first IDLE comes after the first full round of work.
    let idled = false;
    bridge.once('idle', () => (idled = true));
    await bridge.start();
    if (round === 0) {
      await until('foreign flagged', async () => (await cyrus.listMessages()).some((m) => m.flags.has('$LpmqttFailed')));
      await until('bug mail seen', async () => (await cyrus.listMessages()).filter((m) => m.flags.has('\\Seen')).length === 1);
      assert.deepEqual(results.map((r) => r.result).sort(), ['foreign', 'published']);
      const line = rec.lines.find((l) => l.msg === 'mail not published');
      assert.equal(line?.['where'], 'flagged $LpmqttFailed');
    } else {
      // A second daemon finds nothing to do: the flagged mail stays where it is, unseen.
      await until('first IDLE', () => idled);
      assert.deepEqual(results, []);
    }
    await bridge.stop();
  }
  const inbox = await cyrus.listMessages();
  assert.equal(inbox.length, 2);
  const flagged = inbox.filter((m) => m.flags.has('$LpmqttFailed'));
  assert.equal(flagged.length, 1);
  assert.equal(flagged[0]!.flags.has('\\Seen'), false);
  // The broker acknowledges a publish before it has delivered it to the subscriber.
  await sub.waitFor(1, 10_000);
  assert.equal(sub.messages.length, 1);
});

test('when the failed folder cannot be moved into, the mail is flagged in place with an error log and the mail behind it still goes out', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  // A folder lpmqtt may see but not insert into.
  await cyrus.adminCommand('CREATE user.lpmqtt.locked').catch(() => undefined);
  await cyrus.adminCommand('SETACL user.lpmqtt.locked lpmqtt lrs');
  const foreign = makeForeignMail(3);
  const ok = makeBugMail(220, { targets: 1 });
  await cyrus.deliverMany([foreign.raw, ok.raw]);
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const rec = recordingLogger();
  const bridge = new Bridge({ config: testConfig(cyrus, broker, { imap: { failed_folder: 'INBOX.locked' } }), log: rec.log });
  t.after(() => bridge.stop());
  await bridge.start();
  await sub.waitFor(1, 10_000);
  await until('foreign flagged', async () => (await cyrus.listMessages()).some((m) => m.flags.has('$LpmqttFailed')));
  const err = rec.lines.find((l) => l.level === 50 && /failed_folder/.test(l.msg));
  assert.ok(err, 'an error line naming imap.failed_folder');
  await until('bug mail seen', async () => (await cyrus.listMessages()).some((m) => m.flags.has('\\Seen')));
});

test('a private bug is not published but is marked processed, logged with its bug number only', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const priv = makeBugMail(230, { private: true });
  const pub = makeBugMail(231, { targets: 1 });
  await cyrus.deliverMany([priv.raw, pub.raw]);
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const rec = recordingLogger();
  const bridge = new Bridge({ config: testConfig(cyrus, broker), log: rec.log });
  const results: MailEvent[] = [];
  bridge.on('mail', (m) => results.push(m));
  t.after(() => bridge.stop());
  await bridge.start();
  await until('both handled', () => results.length === 2);
  await until('both seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
  assert.deepEqual(results.map((r) => r.result).sort(), ['private', 'published']);
  // The broker acknowledges a publish before it has delivered it to the subscriber.
  await sub.waitFor(1, 10_000);
  assert.equal(sub.messages.length, 1);
  assert.ok(sub.messages[0]!.topic.endsWith(`/bug/${pub.bug}`));
  const line = rec.lines.find((l) => l.msg === 'private bug: not published');
  assert.equal(line?.['bug'], priv.bug);
  assert.ok(!rec.text().includes(priv.subject.slice(20)), 'the private subject is not logged');
});

test('after_publish: delete expunges the published mail', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const mails = [makeBugMail(240), makeBugMail(241), makeBugMail(242)];
  await cyrus.deliverMany(mails.map((m) => m.raw));
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const bridge = new Bridge({ config: testConfig(cyrus, broker, { imap: { after_publish: 'delete' } }), log: recordingLogger().log });
  t.after(() => bridge.stop());
  await bridge.start();
  await sub.waitFor(mails.reduce((n, m) => n + m.targets.length, 0), 10_000);
  await until('inbox empty', async () => (await cyrus.listMessages()).length === 0);
});

test('after_publish: move puts the published mail into move_to, creating it', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const mails = [makeBugMail(250), makeBugMail(251)];
  await cyrus.deliverMany(mails.map((m) => m.raw));
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  const bridge = new Bridge({ config: testConfig(cyrus, broker, { imap: { after_publish: 'move', move_to: 'INBOX.done' } }), log: recordingLogger().log });
  t.after(() => bridge.stop());
  await bridge.start();
  await sub.waitFor(mails.reduce((n, m) => n + m.targets.length, 0), 10_000);
  await until('moved', async () => (await cyrus.listMessages('INBOX.done').catch(() => [])).length === 2);
  assert.equal((await cyrus.listMessages()).length, 0);
});

test('verifier: fail sets the mail aside as rejected; temperror leaves it unseen and it is retried until it passes', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const good = makeBugMail(260, { targets: 1 });
  const forged = makeBugMail(261, { targets: 1 });
  const flaky = makeBugMail(262, { targets: 1 });
  await cyrus.deliverMany([good.raw, forged.raw, flaky.raw]);
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  let flakyCalls = 0;
  let releaseFlaky = false;
  const verifier: Verifier = async (raw) => {
    const s = raw.toString('latin1');
    if (s.includes(forged.messageId)) return { verdict: 'fail' as const, reason: 'no valid DKIM signature for launchpad.net' };
    if (s.includes(flaky.messageId)) {
      flakyCalls += 1;
      if (!releaseFlaky) return { verdict: 'temperror' as const, reason: 'DNS timeout' };
    }
    return { verdict: 'pass', via: 'dkim' };
  };
  const results: MailEvent[] = [];
  const bridge = new Bridge({ config: testConfig(cyrus, broker), log: recordingLogger().log, verifier });
  bridge.on('mail', (m) => results.push(m));
  t.after(() => bridge.stop());
  await bridge.start();
  await until('good published', () => sub.messages.length === 1);
  await until('forged set aside', async () => (await cyrus.listMessages('INBOX.failed').catch(() => [])).length === 1);
  assert.equal(results.find((r) => r.messageId === forged.messageId.slice(1, -1))?.result, 'rejected');
  // The flaky one was tried more than once, and is still unseen meanwhile.
  await until('flaky retried', () => flakyCalls >= 2, 10_000);
  const flakyMsg = (await cyrus.listMessages()).filter((m) => !m.flags.has('\\Seen'));
  assert.equal(flakyMsg.length, 1);
  releaseFlaky = true;
  await until('flaky published', () => sub.messages.some((m) => m.topic.endsWith(`/bug/${flaky.bug}`)), 15_000);
  await until('all seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
  assert.ok(results.some((r) => r.result === 'deferred' && r.reason === 'DNS timeout'));
});

test('a payload larger than the broker max_packet_size is published cut with body-truncated, without a reconnect loop', async (t) => {
  await resetMailbox(cyrus, ['INBOX.failed', 'INBOX.done']);
  const small = await startMosquitto({ maxPacketSize: 3000 });
  t.after(() => small.stop());
  const mail = makeBugMail(270, { targets: 1, bodyBytes: 20_000 });
  const next = makeBugMail(271, { targets: 1 });
  await cyrus.deliverMany([mail.raw, next.raw]);
  const sub = await subscribe(small.url);
  t.after(() => sub.close());
  const bridge = new Bridge({ config: testConfig(cyrus, small), log: recordingLogger().log });
  const conn: boolean[] = [];
  bridge.on('connection', (c) => {
    if (c.side === 'mqtt') conn.push(c.up);
  });
  t.after(() => bridge.stop());
  await bridge.start();
  await sub.waitFor(2, 10_000);
  const big = sub.messages.find((m) => m.topic.endsWith(`/bug/${mail.bug}`))!.json() as Record<string, unknown>;
  assert.equal(big['body-truncated'], true);
  assert.ok(sub.messages.every((m) => m.payload.length < 3000));
  await until('both seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
  assert.deepEqual(conn, [true], 'connected once, never dropped');
});
