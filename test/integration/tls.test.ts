/**
 * Transport security (issue #5): IMAP over implicit TLS and MQTT over TLS,
 * each verifying the server certificate against the configured CA. A wrong CA
 * or a certificate for another host fails at start with an error that names
 * the side and the reason; nothing is fetched, marked or published, and
 * nothing falls back to plain text.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Bridge } from '../../src/bridge.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { startCyrus, type Cyrus } from '../helpers/cyrus.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { subscribe, type Subscriber } from '../helpers/subscriber.js';
import { createTestCa, type IssuedCert, type TestCa } from '../helpers/testca.js';

const MAILS = join(import.meta.dirname, '../../../shared/launchpad-mails');
const START_LIMIT_MS = 20_000;

let ca: TestCa;
let otherCa: TestCa;
let good: IssuedCert;
let wrongHost: IssuedCert;
let cyrus: Cyrus;
let cyrusOtherHost: Cyrus;
let broker: Mosquitto;
let brokerOtherHost: Mosquitto;
/** Anonymous subscriber on the plain listener: sees anything published however it came in. */
let plainSub: Subscriber;
let mail: Buffer;

before(async () => {
  [ca, otherCa] = await Promise.all([createTestCa('lpmqtt test CA'), createTestCa('some other CA')]);
  good = await ca.issue('server', ['DNS:localhost', 'IP:127.0.0.1']);
  wrongHost = await ca.issue('otherhost', ['DNS:otherhost']);
  [cyrus, cyrusOtherHost, broker, brokerOtherHost] = await Promise.all([
    startCyrus({ tls: good }),
    startCyrus({ tls: wrongHost }),
    startMosquitto({ tls: { caFile: ca.caFile, ...good } }),
    startMosquitto({ tls: { caFile: ca.caFile, ...wrongHost } }),
  ]);
  plainSub = await subscribe(broker.url, '#');
  mail = await readFile(join(MAILS, '001.eml'));
});

after(async () => {
  await plainSub?.close();
  await Promise.all([cyrus?.stop(), cyrusOtherHost?.stop(), broker?.stop(), brokerOtherHost?.stop()]);
  await Promise.all([ca?.remove(), otherCa?.remove()]);
});

function captureLog(): { log: pino.Logger; text(): string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString('utf8');
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), text: () => out };
}

function config(o: { imap: { cyrus: Cyrus; ca: string }; mqtt: { broker: Mosquitto; ca: string }; clientId: string }): Config {
  const { imap, mqtt } = o;
  assert.ok(imap.cyrus.imapsPort !== undefined && mqtt.broker.tlsPort !== undefined);
  return configSchema.parse({
    imap: {
      host: '127.0.0.1',
      port: imap.cyrus.imapsPort,
      tls: true,
      ca: imap.ca,
      username: imap.cyrus.user,
      password: imap.cyrus.password,
      failed_folder: null,
      reconnect_max_delay: 1,
    },
    mqtt: { url: `mqtts://127.0.0.1:${mqtt.broker.tlsPort}`, ca: mqtt.ca, client_id: o.clientId, publish_timeout: 5, status_topic: null },
    log: { level: 'debug' },
  });
}

/** start() must reject within START_LIMIT_MS; returns the error. */
async function startMustFail(bridge: Bridge): Promise<Error> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      bridge.start().then(() => assert.fail('start() succeeded although the certificate must not verify')),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`start() neither failed nor succeeded within ${START_LIMIT_MS} ms (retrying forever?)`)), START_LIMIT_MS);
      }),
    ]);
  } catch (err) {
    if (err instanceof assert.AssertionError || /within \d+ ms/.test((err as Error).message)) throw err;
    return err as Error;
  } finally {
    clearTimeout(timer);
    await bridge.stop();
  }
  throw new Error('unreachable');
}

/** Delivers the sample mail; returns its UID. */
async function deliverOne(c: Cyrus): Promise<number> {
  const before = new Set((await c.listMessages('INBOX')).map((m) => m.uid));
  await c.deliver(mail);
  const added = (await c.listMessages('INBOX')).filter((m) => !before.has(m.uid));
  assert.equal(added.length, 1);
  return (added[0] as { uid: number }).uid;
}

async function assertMailUntouched(c: Cyrus, uid: number, what: string): Promise<void> {
  const m = (await c.listMessages('INBOX')).find((x) => x.uid === uid);
  assert.ok(m, `${what}: mail ${uid} is still in INBOX`);
  assert.equal(m.flags.has('\\Seen'), false, `${what}: mail ${uid} was not marked`);
}

describe('TLS on both sides', () => {
  test('IMAPS + MQTTS with the test CA: the mail is fetched over TLS and its events arrive', async () => {
    await cyrus.deliver(mail);
    const sub = await subscribe(`mqtts://127.0.0.1:${broker.tlsPort}`, 'launchpad/#', { ca: await ca.ca(), rejectUnauthorized: true });
    const cap = captureLog();
    const bridge = new Bridge({ config: config({ imap: { cyrus, ca: ca.caFile }, mqtt: { broker, ca: ca.caFile }, clientId: 'tls-ok' }), log: cap.log });
    try {
      await bridge.start();
      await sub.waitFor(2, 15_000);
      assert.deepEqual(sub.messages.map((m) => m.topic).sort(), ['launchpad/qemu/bug/2072564', 'launchpad/ubuntu/bug/2072564']);
      // marked after the acks
      for (let i = 0; i < 100 && !(await cyrus.listMessages('INBOX')).every((m) => m.flags.has('\\Seen')); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok((await cyrus.listMessages('INBOX')).every((m) => m.flags.has('\\Seen')), 'mail marked \\Seen');
    } finally {
      await bridge.stop();
      await sub.close();
    }
  });

  describe('a certificate that does not verify stops the bridge with a clear error', () => {
    const cases: Array<{ what: string; side: 'IMAP' | 'MQTT'; reason: RegExp; cfg: () => Config; imapServer: () => Cyrus }> = [
      {
        what: 'IMAP server signed by another CA',
        side: 'IMAP',
        reason: /self[- ]signed|unable to (get|verify)|certificate/i,
        cfg: () => config({ imap: { cyrus, ca: otherCa.caFile }, mqtt: { broker, ca: ca.caFile }, clientId: 'tls-imap-ca' }),
        imapServer: () => cyrus,
      },
      {
        what: 'IMAP certificate for another host name',
        side: 'IMAP',
        reason: /altname|host ?name|does not match/i,
        cfg: () => config({ imap: { cyrus: cyrusOtherHost, ca: ca.caFile }, mqtt: { broker, ca: ca.caFile }, clientId: 'tls-imap-host' }),
        imapServer: () => cyrusOtherHost,
      },
      {
        what: 'MQTT broker signed by another CA',
        side: 'MQTT',
        reason: /self[- ]signed|unable to (get|verify)|certificate/i,
        cfg: () => config({ imap: { cyrus, ca: ca.caFile }, mqtt: { broker, ca: otherCa.caFile }, clientId: 'tls-mqtt-ca' }),
        imapServer: () => cyrus,
      },
      {
        what: 'MQTT certificate for another host name',
        side: 'MQTT',
        reason: /altname|host ?name|does not match/i,
        cfg: () => config({ imap: { cyrus, ca: ca.caFile }, mqtt: { broker: brokerOtherHost, ca: ca.caFile }, clientId: 'tls-mqtt-host' }),
        imapServer: () => cyrus,
      },
    ];
    for (const c of cases) {
      test(`${c.what}: fails naming ${c.side} and the reason, publishes and marks nothing`, async (t) => {
        const server = c.imapServer();
        const uid = await deliverOne(server);
        plainSub.clear();
        const cap = captureLog();
        const err = await startMustFail(new Bridge({ config: c.cfg(), log: cap.log }));
        const text = `${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`;
        t.diagnostic(`error: ${err.message}`);
        assert.match(text, new RegExp(`\\b${c.side}\\b`), `names the side: ${text}`);
        assert.match(text, c.reason, `names the reason: ${text}`);
        await assertMailUntouched(server, uid, c.what);
        // Nothing reached the broker by any listener (the plain one included).
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(plainSub.messages.map((m) => m.topic).filter((t) => t.startsWith('launchpad/')), []);
      });
    }
  });
});
