/**
 * The network and the servers misbehave while mail keeps coming: TCP
 * connections cut mid-FETCH, mid-IDLE and mid-PUBLISH (a fault proxy of the
 * test's own sits between the daemon and each server), connections stalled
 * then resumed, the broker and Cyrus restarted, the broker refusing the
 * daemon for a while (stopped, resetting connections, wrong password). After
 * each: every event arrived, every mail marked, the daemon never exited.
 *
 * CI scale keeps refusals at 6 s and stalls at 8–12 s; LPMQTT_CHAOS_SCALE=full makes them a minute.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBrokerPassword } from './lib/brokerauth.js';
import { sized, sleep, until } from './lib/env.js';
import { bugMailSource } from './lib/feeder.js';
import { runScenario } from './lib/scenario.js';

const BATCH = 20;
/** Batches the bridge keeps in flight at once (src/bridge.ts PIPELINE_DEPTH): what one fault can cost at most. */
const IN_FLIGHT_BATCHES = 3;
const perFault = BATCH * IN_FLIGHT_BATCHES;
const config = { imap: { batch_size: BATCH } };

/** MQTT fixed header: a PUBLISH (type 3) at the start of a chunk. */
const isPublish = (chunk: Buffer): boolean => chunk.length > 0 && ((chunk[0] as number) & 0xf0) === 0x30;
/** MQTT PUBACK (type 4). */
const isPuback = (chunk: Buffer): boolean => chunk.length > 0 && ((chunk[0] as number) & 0xf0) === 0x40;

async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${what} did not happen within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test('IMAP connection cut in the middle of a FETCH response, three times', async (t) => {
  const cuts: string[] = [];
  await runScenario(
    t,
    {
      name: 'cut-mid-fetch',
      config,
      backlog: 120,
      source: bugMailSource('cut-mid-fetch', { bodyBytes: 20_000 }),
      maxDuplicateMails: 3 * perFault,
      early: true, // the first cut must catch the very first FETCH
    },
    async (s, feeder) => {
      for (let k = 0; k < 3; k++) {
        // imapflow turns on COMPRESS=DEFLATE, so the stream cannot be read; but once the session is
        // set up, the only big chunks the server sends are FETCH responses (bodies are ~20 KB).
        const cut = s.imapProxy.cutWhen('down', (_t, chunk, seen) => seen > 8000 && chunk.length >= 1000);
        if (k > 0) await feeder.backlog(60);
        const at = await within(`FETCH cut #${k + 1}`, cut, 60_000);
        cuts.push(`${at.bytesSinceArm} bytes in`);
      }
    },
  ).then(({ report, stack }) => {
    console.log(`# cut-mid-fetch: cut at ${cuts.join(', ')}`);
    assert.ok(stack.imapProxy.accepted >= 4, `the daemon reconnected only ${stack.imapProxy.accepted - 1} times`);
    assert.ok(report.mails >= 120);
  });
});

test('IMAP connection cut while idle, and the notification of new mail cut away', async (t) => {
  // A long watchdog period keeps NOOPs out of the way of the EXISTS cut below.
  const idleConfig = { imap: { batch_size: BATCH, watchdog_timeout: 5 } };
  await runScenario(t, { name: 'cut-idle', config: idleConfig, rate: 0, maxDuplicateMails: 0 }, async (s, feeder) => {
    await feeder.backlog(10);
    await until('first mails published', () => s.recorder.byEventId.size > 0 && s.imapProxy.quietMs() > 400, 30_000);
    // Mid-IDLE: nothing on the wire, connection up.
    assert.ok(s.imapProxy.connections >= 1);
    s.imapProxy.dropAll();
    await feeder.backlog(10);
    await until('caught up after the IDLE cut', () => feeder.accepted.size === 20 && s.imapProxy.quietMs() > 400 && s.recorder.byMessageId.size >= 20, 30_000);
    // The untagged EXISTS that tells an idling client about new mail never arrives: the stream is
    // compressed, so cut the first thing the server sends after a quiet spell once a mail comes in.
    await until('a quiet IDLE', () => s.imapProxy.quietMs() > 300, 30_000);
    const cut = s.imapProxy.cutWhen('down', () => true);
    await feeder.backlog(1);
    await within('cut of the EXISTS notification', cut, 30_000);
    await feeder.backlog(5);
  });
});

test('MQTT connection cut in the middle of PUBLISH packets and of PUBACKs', async (t) => {
  await runScenario(
    t,
    { name: 'cut-mid-publish', config, backlog: 300, rate: 20, maxDuplicateMails: 3 * perFault, early: true },
    async (s) => {
      const pub = s.mqttProxy.cutWhen('up', (_t, chunk, seen) => seen > 20_000 && isPublish(chunk));
      await within('cut of a PUBLISH', pub, 60_000);
      const ack = s.mqttProxy.cutWhen('down', (_t, chunk, seen) => seen > 200 && isPuback(chunk));
      await within('cut of a PUBACK', ack, 60_000);
      await sleep(1000);
      const pub2 = s.mqttProxy.cutWhen('up', (_t, chunk) => isPublish(chunk) && chunk.includes('launchpad/'));
      await within('second cut of a PUBLISH', pub2, 60_000);
      await sleep(2000);
    },
  ).then(({ stack }) => {
    assert.ok(stack.mqttProxy.accepted >= 4, `only ${stack.mqttProxy.accepted} MQTT connections: the cuts did not force reconnects`);
  });
});

test('connections stalled (no byte either way) and then resumed: IMAP, then MQTT', async (t) => {
  // Longer than imapflow's socket timeout in the daemon (max(2 × watchdog_timeout, 10 s)): a command
  // that is in flight when the stall begins has no shorter deadline than that.
  const imapStallMs = sized(12_000, 60_000);
  // MQTT has no such floor: publish_timeout (5 s here) fails the publishes in flight.
  const mqttStallMs = sized(8_000, 60_000);
  await runScenario(t, { name: 'stall', config, backlog: 100, rate: 20, maxDuplicateMails: 2 * perFault }, async (s) => {
    await sleep(1500);
    const imapBefore = s.imapProxy.accepted;
    s.imapProxy.pause();
    await sleep(imapStallMs);
    s.imapProxy.resume();
    // A stalled connection answers no NOOP: the watchdog must have given up on it.
    assert.ok(s.imapProxy.accepted > imapBefore, 'the daemon never noticed the stalled IMAP connection (no new connection)');
    await sleep(3000);
    s.mqttProxy.pause();
    await sleep(mqttStallMs);
    s.mqttProxy.resume();
    await sleep(3000);
  });
});

test('broker restarted and Cyrus restarted while mail flows, twice each', async (t) => {
  await runScenario(t, { name: 'restarts', config, backlog: 100, rate: 20, maxDuplicateMails: 4 * perFault }, async (s) => {
    for (let k = 0; k < 2; k++) {
      await sleep(2500);
      await s.restartBroker(500);
      await sleep(2500);
      await s.restartCyrus(500);
    }
    await sleep(2000);
  });
});

test('the broker refuses the daemon for a while: stopped, resetting connections, wrong password; then it is fixed', async (t) => {
  const downMs = sized(6_000, 60_000);
  const users = { lpmqtt: 'mqtt-secret', recorder: 'recorder-secret' };
  await runScenario(
    t,
    {
      name: 'refused',
      config,
      backlog: 50,
      rate: 10,
      maxDuplicateMails: 3 * perFault,
      broker: { users, allowAnonymous: false },
      mqttAuth: { username: 'lpmqtt', password: users.lpmqtt },
      recorderAuth: { username: 'recorder', password: users.recorder },
      drainMs: 120_000,
    },
    async (s) => {
      await sleep(2000);
      // 1. The broker is stopped.
      await s.restartBroker(downMs);
      await sleep(3000);
      // 2. Connections are reset as soon as they are made.
      s.mqttProxy.refuse(true);
      s.mqttProxy.dropAll();
      await sleep(downMs);
      s.mqttProxy.refuse(false);
      await sleep(3000);
      // 3. The broker refuses the password (CONNACK "bad user name or password").
      const from = s.daemon.lines.length;
      await setBrokerPassword(s.broker, 'lpmqtt', 'not-the-daemons-password');
      s.mqttProxy.dropAll();
      await s.daemon.waitForLine((l) => /MQTT error/.test(l.msg ?? '') && /[Bb]ad [Uu]ser|[Nn]ot authorized|refused/i.test(l.raw), 20_000, from);
      await sleep(downMs);
      await setBrokerPassword(s.broker, 'lpmqtt', users.lpmqtt);
    },
  );
});
