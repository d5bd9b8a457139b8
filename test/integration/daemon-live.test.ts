/**
 * Live mail, one at a time, into an empty mailbox: each is noticed and
 * published in turn. (A STORE on the IDLE connection once ended its IDLE for
 * good, so only the first live mail ever arrived.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Bridge } from '../../src/bridge.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { makeBugMail } from '../helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe } from '../helpers/subscriber.js';
import { testConfig, until } from './daemon-fixture.js';

let cyrus: Cyrus;
let broker: Mosquitto;

before(async () => {
  [cyrus, broker] = await Promise.all([startCyrus(), startMosquitto()]);
});
after(async () => {
  await Promise.all([cyrus?.stop(), broker?.stop()]);
});

test('single mails delivered one after another while idle are each published and marked', async (t) => {
  // The watchdog (which also looks for mail) is a minute away: only IDLE's push can bring these in time.
  const config = testConfig(cyrus, broker, { imap: { watchdog_timeout: 60 } });
  const bridge = new Bridge({ config, log: pino({ level: 'silent' }) });
  await bridge.start();
  t.after(() => bridge.stop());
  const sub = await subscribe(broker.url);
  t.after(() => sub.close());
  for (let i = 0; i < 5; i++) {
    const mail = makeBugMail(9100 + i, { targets: 1 });
    await cyrus.deliver(mail.raw);
    await until(`live mail ${i + 1} published (pushed by IDLE, not found by the watchdog)`, () => sub.messages.length === i + 1, 8_000);
    assert.equal((sub.messages[i]?.json() as { 'bug-number': string })['bug-number'], mail.bug);
  }
  await until('all five marked \\Seen', async () => (await cyrus.listMessages()).every((m) => m.flags.has('\\Seen')));
});
