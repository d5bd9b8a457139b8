/**
 * The shipped firehose deployment (deploy/mosquitto) keeps the firehose's
 * contract: anyone may subscribe, nobody anonymous may publish, the bridge's
 * user may publish only under launchpad/# (and its status topic), on plain
 * MQTT, TLS and websockets alike.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { escapeTopicLevel } from '../../src/core/index.js';
import { BRIDGE_USER, startFirehose, type Firehose } from '../helpers/firehose.js';
import { createTestCa, type TestCa } from '../helpers/testca.js';

const BRIDGE_PASSWORD = 'firehose-bridge-pw-7Q2x';

let ca: TestCa;
let fh: Firehose;
let caPem: Buffer;
const clients: MqttClient[] = [];

before(async () => {
  ca = await createTestCa();
  const server = await ca.issue('server', ['DNS:localhost', 'IP:127.0.0.1']);
  caPem = await readFile(ca.caFile);
  fh = await startFirehose({ users: { [BRIDGE_USER]: BRIDGE_PASSWORD }, server: { caFile: ca.caFile, ...server } });
});

after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await fh?.stop();
  await ca?.remove();
});

async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  clients.push(client);
  return client;
}

const asBridge = (url = fh.url, opts: IClientOptions = {}): Promise<MqttClient> =>
  connect(url, { username: BRIDGE_USER, password: BRIDGE_PASSWORD, ...opts });

interface Received {
  topic: string;
  payload: string;
}

/** A subscriber (the bridge's user, which may read everything) recording what arrives. */
async function listen(client: MqttClient, filter: string): Promise<{ got: Received[]; waitFor(topic: string): Promise<void> }> {
  const got: Received[] = [];
  const waiters: Array<{ topic: string; resolve: () => void }> = [];
  client.on('message', (topic, payload) => {
    got.push({ topic, payload: payload.toString('utf8') });
    for (const w of waiters.filter((x) => x.topic === topic)) w.resolve();
  });
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  assert.equal(granted[0]?.qos, 1, `subscription to ${filter} granted`);
  return {
    got,
    waitFor: (topic) =>
      got.some((m) => m.topic === topic)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no message on ${topic} within 5 s`)), 5000);
            waiters.push({ topic, resolve: () => { clearTimeout(timer); resolve(); } });
          }),
  };
}

/**
 * Publish `topic` at QoS 1 from `from` (its PUBACK means the broker has routed
 * or dropped it), then a sentinel from the bridge; once the sentinel is in,
 * anything routed before it would be too.
 */
async function publishThenSentinel(from: MqttClient, topic: string, sink: { got: Received[]; waitFor(t: string): Promise<void> }, bridge: MqttClient): Promise<Error | undefined> {
  let error: Error | undefined;
  try {
    await from.publishAsync(topic, 'forged', { qos: 1 });
  } catch (err) {
    error = err as Error;
  }
  const sentinel = `launchpad/sentinel/${Math.random().toString(36).slice(2)}`;
  await bridge.publishAsync(sentinel, 'ok', { qos: 1 });
  await sink.waitFor(sentinel);
  return error;
}

describe('firehose deployment (deploy/mosquitto/firehose.conf + firehose.acl)', () => {
  test('an anonymous client can subscribe to launchpad/# and receives what the bridge publishes', async () => {
    const anon = await connect(fh.url);
    const sink = await listen(anon, 'launchpad/#');
    const bridge = await asBridge();
    await bridge.publishAsync('launchpad/qemu/bug/1859713', '{"bug-number":"1859713"}', { qos: 1 });
    await sink.waitFor('launchpad/qemu/bug/1859713');
    assert.deepEqual(sink.got.find((m) => m.topic === 'launchpad/qemu/bug/1859713')?.payload, '{"bug-number":"1859713"}');
  });

  test('an anonymous publish is refused (MQTT 5: PUBACK 0x87) and never reaches subscribers', async () => {
    const bridge = await asBridge();
    const sink = await listen(await asBridge(), '#');
    const anon = await connect(fh.url);
    for (const topic of ['launchpad/qemu/bug/1', 'lpmqtt/status', 'other/topic']) {
      const err = await publishThenSentinel(anon, topic, sink, bridge);
      assert.ok(err, `anonymous publish to ${topic} must fail`);
      assert.equal((err as Error & { code?: number }).code, 0x87, `${topic}: ${err.message}`);
      assert.equal(sink.got.filter((m) => m.topic === topic).length, 0, `${topic} must not arrive`);
    }
  });

  test('an anonymous MQTT 3.1.1 publish (no reason codes) never reaches subscribers either', async () => {
    const bridge = await asBridge();
    const sink = await listen(await asBridge(), '#');
    const anon = await connect(fh.url, { protocolVersion: 4 });
    for (const topic of ['launchpad/qemu/bug/2', 'lpmqtt/status']) {
      const err = await publishThenSentinel(anon, topic, sink, bridge);
      assert.equal(err, undefined, 'MQTT 3.1.1 acknowledges and drops silently');
      assert.equal(sink.got.filter((m) => m.topic === topic).length, 0, `${topic} must not arrive`);
    }
    // and the retained status was not overwritten by the anonymous client
    const retained = await listen(await asBridge(), 'lpmqtt/status');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(retained.got.filter((m) => m.payload === 'forged').length, 0);
  });

  test("the bridge's user can publish under launchpad/# and its retained status, and nowhere else", async () => {
    const bridge = await asBridge();
    const sink = await listen(await asBridge(), '#');
    for (const topic of ['launchpad/libstdc%2B%2B/bug/42', 'launchpad/unknown', 'launchpad']) {
      await bridge.publishAsync(topic, 'event', { qos: 1 });
      await sink.waitFor(topic);
    }
    await bridge.publishAsync('lpmqtt/status', 'online', { qos: 1, retain: true });
    await sink.waitFor('lpmqtt/status');
    for (const topic of ['other/topic', 'launchpadx/qemu', 'gerrit/change', 'lpmqtt/other', 'Launchpad/qemu']) {
      const err = await publishThenSentinel(bridge, topic, sink, bridge);
      assert.equal((err as Error & { code?: number } | undefined)?.code, 0x87, `bridge publish to ${topic} must be refused`);
      assert.equal(sink.got.filter((m) => m.topic === topic).length, 0, `${topic} must not arrive`);
    }
    await bridge.publishAsync('lpmqtt/status', '', { qos: 1, retain: true }); // clear the retained message
  });

  test('a wrong password is refused, not downgraded to anonymous', async () => {
    await assert.rejects(
      connect(fh.url, { username: BRIDGE_USER, password: 'wrong' }),
      (err: Error & { code?: number }) => err.code === 0x86 || err.code === 0x87 || /bad user name or password|not authorized/i.test(err.message),
    );
    await assert.rejects(connect(fh.url, { username: 'nobody', password: 'x' }));
  });

  test('TLS listener: anonymous subscribe works with the test CA; an untrusted CA is refused', async () => {
    const anon = await connect(fh.tlsUrl, { ca: caPem, servername: 'localhost', rejectUnauthorized: true });
    const sink = await listen(anon, 'launchpad/#');
    const bridge = await asBridge(fh.tlsUrl, { ca: caPem, servername: 'localhost', rejectUnauthorized: true });
    await bridge.publishAsync('launchpad/tls/bug/3', 'x', { qos: 1 });
    await sink.waitFor('launchpad/tls/bug/3');
    await assert.rejects(connect(fh.tlsUrl, { rejectUnauthorized: true }), /self[- ]signed|unable to verify|certificate/i);
  });

  test('websockets (ws and wss): a browser-style client subscribes anonymously and receives events', async () => {
    const ws = await connect(fh.wsUrl);
    const wss = await connect(fh.wssUrl, { ca: caPem, servername: 'localhost', rejectUnauthorized: true });
    const sinkWs = await listen(ws, 'launchpad/#');
    const sinkWss = await listen(wss, 'launchpad/#');
    const bridge = await asBridge();
    await bridge.publishAsync('launchpad/ws/bug/4', 'x', { qos: 1 });
    await sinkWs.waitFor('launchpad/ws/bug/4');
    await sinkWss.waitFor('launchpad/ws/bug/4');
    await assert.rejects(ws.publishAsync('launchpad/ws/bug/5', 'forged', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87);
  });

  test('escaped hostile names are valid topics for Mosquitto and reach exactly their subscribers', async () => {
    const names = ['libstdc++', 'a#b', 'a/b', '$SYS', 'a\u0000b', 'x\r\ny', '%2F', '+'.repeat(2000)];
    const bridge = await asBridge();
    const subs = await Promise.all(names.map(async (name) => listen(await connect(fh.url), `launchpad/${escapeTopicLevel(name)}/#`)));
    for (const name of names) await bridge.publishAsync(`launchpad/${escapeTopicLevel(name)}/bug/1`, name, { qos: 1 });
    const sentinels = await Promise.all(subs.map(async (sub, i) => {
      const topic = `launchpad/${escapeTopicLevel(names[i] as string)}/bug/1`;
      await sub.waitFor(topic);
      return sub;
    }));
    // the broker kept the connection (it disconnects on an invalid topic) and routed each to its own subscriber only
    assert.equal(bridge.connected, true);
    sentinels.forEach((sub, i) => assert.deepEqual(sub.got.map((m) => m.payload), [names[i]], `subscriber of ${JSON.stringify(names[i]?.slice(0, 20))}`));
  });
});
