/**
 * The MQTT adapter against a real Mosquitto: acknowledged publishes, the
 * retained status with its last will, payloads cut to the broker's packet
 * limit, deadlines while the broker is gone, reconnects, refused credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { mqttSchema, type Config } from '../../src/config/schema.js';
import type { LpEvent } from '../../src/core/types.js';
import { publishPacketSize } from '../../src/mqtt/packet.js';
import { MqttConnectError, PublishError, Publisher } from '../../src/mqtt/publisher.js';
import { startMosquitto } from '../helpers/mosquitto.js';

const log = pino({ level: 'silent' });

function mqttConfig(over: Partial<Config['mqtt']> & { url: string }): Config['mqtt'] {
  return { ...mqttSchema.parse({}), client_id: `pub-test-${process.pid}`, ...over };
}

interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

async function subscribe(url: string, topic: string, opts: { username?: string; password?: string } = {}): Promise<{ client: MqttClient; got: Received[] }> {
  const client = await connectAsync(url, { ...opts, clientId: `sub-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 200 });
  const got: Received[] = [];
  client.on('message', (t, payload, packet) => got.push({ topic: t, payload, retain: packet.retain }));
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, got };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function bugEvent(n: number, body = 'hello'): LpEvent {
  return { topic: `launchpad/nova/bug/${n}`, payload: { 'event-type': 'bug', project: 'nova', 'bug-number': String(n), body } };
}

test('publishes every event, resolves after the acks, and keeps a retained online/offline status', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscribe(broker.url, '#');
  t.after(() => sub.client.endAsync());
  const pub = new Publisher({ config: mqttConfig({ url: broker.url }), log });
  const events: string[] = [];
  pub.on('connect', () => events.push('connect'));
  await pub.connect();
  assert.equal(pub.connected, true);
  await pub.publish(Array.from({ length: 500 }, (_, i) => bugEvent(i + 1)));
  await until('500 events and the status', () => sub.got.filter((m) => m.topic.startsWith('launchpad/')).length === 500);
  const first = sub.got.find((m) => m.topic === 'launchpad/nova/bug/1');
  assert.deepEqual(JSON.parse(first!.payload.toString()), bugEvent(1).payload);
  await until('online status', () => sub.got.some((m) => m.topic === 'lpmqtt/status' && m.payload.toString() === 'online'));
  await pub.close();
  assert.equal(pub.connected, false);
  await until('offline status', () => sub.got.some((m) => m.topic === 'lpmqtt/status' && m.payload.toString() === 'offline'));
  // Retained: a late subscriber still sees it.
  const late = await subscribe(broker.url, 'lpmqtt/status');
  t.after(() => late.client.endAsync());
  await until('retained offline', () => late.got.length === 1);
  assert.equal(late.got[0]!.payload.toString(), 'offline');
  assert.equal(late.got[0]!.retain, true);
  assert.deepEqual(events, ['connect']);
});

test('the last will says offline when the connection dies without a goodbye', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscribe(broker.url, 'lpmqtt/status');
  t.after(() => sub.client.endAsync());
  // A second publisher with the same client id takes the session over: the
  // broker drops the first connection and publishes its will.
  const pub = new Publisher({ config: mqttConfig({ url: broker.url, keepalive: 1 }), log });
  await pub.connect();
  await until('online', () => sub.got.some((m) => m.payload.toString() === 'online'));
  const raw = await connectAsync(broker.url, { clientId: mqttConfig({ url: broker.url }).client_id, reconnectPeriod: 0 });
  await until('will offline', () => sub.got.some((m) => m.payload.toString() === 'offline'));
  await raw.endAsync();
  await pub.close();
});

test('a payload larger than the broker accepts is cut to fit, marked body-truncated, without a disconnect', async (t) => {
  const broker = await startMosquitto({ maxPacketSize: 2048 });
  t.after(() => broker.stop());
  const sub = await subscribe(broker.url, 'launchpad/#');
  t.after(() => sub.client.endAsync());
  const pub = new Publisher({ config: mqttConfig({ url: broker.url }), log });
  let offline = 0;
  pub.on('offline', () => (offline += 1));
  await pub.connect();
  assert.equal(pub.maxPacketSize, 2048, 'limit read from CONNACK');
  await pub.publish([bugEvent(1, 'x'.repeat(10_000)), bugEvent(2, 'small')]);
  await until('both events', () => sub.got.length === 2);
  const big = JSON.parse(sub.got.find((m) => m.topic.endsWith('/1'))!.payload.toString());
  assert.equal(big['body-truncated'], true);
  assert.ok(big.body.length > 1000 && big.body.length < 2048, `body cut to ${big.body.length}`);
  const small = JSON.parse(sub.got.find((m) => m.topic.endsWith('/2'))!.payload.toString());
  assert.equal(small['body-truncated'], undefined);
  assert.equal(offline, 0);
  assert.equal(pub.connected, true);
  await pub.close();
});

test('the configured max_packet_size applies when the broker announces none', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const sub = await subscribe(broker.url, 'launchpad/#');
  t.after(() => sub.client.endAsync());
  const pub = new Publisher({ config: mqttConfig({ url: broker.url, max_packet_size: 1500 }), log });
  await pub.connect();
  await pub.publish([bugEvent(7, 'y'.repeat(5000))]);
  await until('event', () => sub.got.length === 1);
  const size = publishPacketSize(sub.got[0]!.topic, sub.got[0]!.payload.length, 1, 5);
  assert.ok(size <= 1500 && size > 1400, `packet of ${size} bytes`);
  assert.equal(JSON.parse(sub.got[0]!.payload.toString())['body-truncated'], true);
  await pub.close();
});

test('an event that cannot fit even without its body fails permanently', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const pub = new Publisher({ config: mqttConfig({ url: broker.url, max_packet_size: 1024 }), log });
  await pub.connect();
  const huge: LpEvent = { topic: 'launchpad/x/bug/1', payload: { 'event-type': 'bug', tags: ['t'.repeat(3000)], body: '' } };
  await assert.rejects(pub.publish([huge]), (err: unknown) => err instanceof PublishError && err.permanent);
  assert.equal(pub.connected, true);
  await pub.close();
});

test('while the broker is down a publish fails after publish_timeout; after a restart publishing works again', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const pub = new Publisher({ config: mqttConfig({ url: broker.url, publish_timeout: 0.5 }), log });
  const seen: string[] = [];
  pub.on('connect', () => seen.push('connect'));
  pub.on('offline', () => seen.push('offline'));
  await pub.connect();
  await broker.stop();
  await until('offline', () => !pub.connected);
  await assert.rejects(pub.publish([bugEvent(1)]), (err: unknown) => err instanceof PublishError && !err.permanent && /within 0.5 s/.test(err.message));
  await broker.start();
  await until('reconnected', () => pub.connected, 15_000);
  const sub = await subscribe(broker.url, 'launchpad/#');
  t.after(() => sub.client.endAsync());
  await pub.publish([bugEvent(2)]);
  await until('event after restart', () => sub.got.some((m) => m.topic.endsWith('/2')));
  // The timed-out message was dropped from mqtt.js's store, not replayed.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(sub.got.filter((m) => m.topic.endsWith('/1')).length, 0);
  assert.deepEqual(seen, ['connect', 'offline', 'connect']);
  await pub.close();
});

test('credentials: the configured user gets in; a wrong password is refused at connect', async (t) => {
  const broker = await startMosquitto({ users: { infra: 's3cret' }, allowAnonymous: false });
  t.after(() => broker.stop());
  const good = new Publisher({ config: mqttConfig({ url: broker.url, username: 'infra', password: 's3cret' }), log });
  await good.connect();
  await good.publish([bugEvent(1)]);
  await good.close();
  const bad = new Publisher({ config: mqttConfig({ url: broker.url, username: 'infra', password: 'wrong', client_id: 'bad' }), log });
  await assert.rejects(bad.connect(), (err: unknown) => err instanceof MqttConnectError && /broker/.test(err.message));
  await bad.close();
});
