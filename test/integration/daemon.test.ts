/**
 * `lpmqtt run` end to end: a real Cyrus (with idled) and a real Mosquitto,
 * mail delivered over LMTP, events read by a subscriber, flags read back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Bridge, type MailEvent } from '../../src/bridge.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { makeBugMail, makeForeignMail } from '../helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe } from '../helpers/subscriber.js';
import { recordingLogger, testConfig, until } from './daemon-fixture.js';

let cyrus: Cyrus;
let broker: Mosquitto;

before(async () => {
  [cyrus, broker] = await Promise.all([startCyrus(), startMosquitto()]);
});
after(async () => {
  await Promise.all([cyrus?.stop(), broker?.stop()]);
});

/** Empties INBOX (and failed/done folders) between tests. */
async function resetMailbox(): Promise<void> {
  await cyrus.withImap(async (c) => {
    const lock = await c.getMailboxLock('INBOX');
    try {
      if ((c.mailbox && c.mailbox.exists) || 0) await c.messageDelete('1:*');
    } finally {
      lock.release();
    }
  });
}

test('drains the backlog, then publishes live mail during IDLE, marking each mail seen after its acks', async (t) => {
  await resetMailbox();
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
  await resetMailbox();
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
  await until('foreign mail moved', async () => (await cyrus.listMessages('INBOX.failed')).length === 1);
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
