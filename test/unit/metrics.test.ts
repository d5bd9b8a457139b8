import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import { Health, idleMaxAgeMs, type BridgeSignals } from '../../src/health.js';
import { createMetrics, parseListen, startMetrics } from '../../src/metrics.js';
import { sample } from '../helpers/prometheus.js';

const log = pino({ level: 'silent' });

function fakeBridge(): EventEmitter<BridgeSignals> {
  return new EventEmitter<BridgeSignals>();
}

/** The value of one sample line (`name{labels} value`) in Prometheus text, or undefined. */
test('parseListen accepts HOST:PORT, :PORT and [v6]:PORT', () => {
  assert.deepEqual(parseListen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen(':9464'), { host: undefined, port: 9464 });
  assert.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  assert.throws(() => parseListen('9464'), /metrics\.listen: expected HOST:PORT/);
  assert.throws(() => parseListen('127.0.0.1:99999'), /metrics\.listen/);
});

test('idleMaxAgeMs allows one missed IDLE report plus a slow NOOP', () => {
  assert.equal(idleMaxAgeMs({ poll_interval: 60, watchdog_timeout: 30 }), 150_000);
  assert.equal(idleMaxAgeMs({ poll_interval: 5, watchdog_timeout: 10 }), 30_000);
});

test('counters follow the bridge events: mails by result, events, latency, backlog, connections, last IDLE', async () => {
  const bridge = fakeBridge();
  const { registry, close } = createMetrics(bridge, { defaultMetrics: false });
  try {
    let text = await registry.metrics();
    // Every result and both sides exist from the start, at 0, so rate() and alerts work before the first mail.
    for (const r of ['published', 'foreign', 'private', 'rejected', 'failed', 'deferred']) {
      assert.equal(sample(text, `lpmqtt_mails_total{result="${r}"}`), 0, r);
    }
    assert.equal(sample(text, 'lpmqtt_connection_up{side="imap"}'), 0);
    assert.equal(sample(text, 'lpmqtt_connection_up{side="mqtt"}'), 0);
    assert.equal(sample(text, 'lpmqtt_last_idle_timestamp_seconds'), 0);

    bridge.emit('connection', { side: 'imap', up: true });
    bridge.emit('connection', { side: 'mqtt', up: true });
    bridge.emit('connection', { side: 'mqtt', up: false });
    bridge.emit('mail', { uid: 1, result: 'published' });
    bridge.emit('mail', { uid: 2, result: 'published' });
    bridge.emit('mail', { uid: 3, result: 'failed', reason: 'boom' });
    bridge.emit('mail', { uid: 4, result: 'private' });
    bridge.emit('published', { events: 3, latencyMs: 20 });
    bridge.emit('published', { events: 1, latencyMs: 2000 });
    bridge.emit('backlog', 17);
    bridge.emit('idle', new Date('2024-05-01T12:00:00.500Z'));

    text = await registry.metrics();
    assert.equal(sample(text, 'lpmqtt_mails_total{result="published"}'), 2);
    assert.equal(sample(text, 'lpmqtt_mails_total{result="failed"}'), 1);
    assert.equal(sample(text, 'lpmqtt_mails_total{result="private"}'), 1);
    assert.equal(sample(text, 'lpmqtt_mails_total{result="foreign"}'), 0);
    assert.equal(sample(text, 'lpmqtt_events_published_total'), 4);
    assert.equal(sample(text, 'lpmqtt_publish_latency_seconds_count'), 2);
    assert.equal(sample(text, 'lpmqtt_publish_latency_seconds_sum'), 2.02);
    assert.equal(sample(text, 'lpmqtt_publish_latency_seconds_bucket{le="0.025"}'), 1);
    assert.equal(sample(text, 'lpmqtt_publish_latency_seconds_bucket{le="2.5"}'), 2);
    assert.equal(sample(text, 'lpmqtt_backlog_mails'), 17);
    assert.equal(sample(text, 'lpmqtt_connection_up{side="imap"}'), 1);
    assert.equal(sample(text, 'lpmqtt_connection_up{side="mqtt"}'), 0);
    assert.equal(sample(text, 'lpmqtt_last_idle_timestamp_seconds'), Date.parse('2024-05-01T12:00:00.500Z') / 1000);
  } finally {
    close();
  }
  // After close() the registry no longer follows the bridge.
  assert.equal(bridge.listenerCount('mail'), 0);
});

test('/metrics serves Prometheus text with process metrics; /healthz is 200 only while both sides are up and IDLE is fresh', async (t) => {
  const bridge = fakeBridge();
  let now = Date.parse('2024-05-01T12:00:00Z');
  const health = new Health(bridge, { idleMaxAgeMs: 60_000, now: () => now });
  t.after(() => health.close());
  const server = await startMetrics(bridge, { listen: '127.0.0.1:0', health, log });
  t.after(() => server.close());
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const get = async (path: string): Promise<{ status: number; type: string | null; body: string }> => {
    const res = await fetch(server.url + path);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };

  const m = await get('/metrics');
  assert.equal(m.status, 200);
  assert.match(m.type ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(m.body, /^# HELP lpmqtt_mails_total /m);
  assert.match(m.body, /^process_cpu_user_seconds_total /m);
  assert.match(m.body, /^nodejs_heap_size_used_bytes /m);

  let h = await get('/healthz');
  assert.equal(h.status, 503);
  let body = JSON.parse(h.body) as { status: string; imap: string; mqtt: string; problems: string[]; idle: { alive: boolean; last: string | null } };
  assert.equal(body.status, 'unavailable');
  assert.deepEqual(body.problems, ['imap down', 'mqtt down', 'no IDLE yet']);

  bridge.emit('connection', { side: 'imap', up: true });
  bridge.emit('connection', { side: 'mqtt', up: true });
  h = await get('/healthz');
  assert.equal(h.status, 503);
  assert.deepEqual(JSON.parse(h.body).problems, ['no IDLE yet']);

  bridge.emit('idle', new Date(now));
  bridge.emit('backlog', 3);
  h = await get('/healthz');
  assert.equal(h.status, 200);
  body = JSON.parse(h.body);
  assert.equal(body.status, 'ok');
  assert.equal(body.imap, 'up');
  assert.equal(body.mqtt, 'up');
  assert.deepEqual(body.idle, { alive: true, last: '2024-05-01T12:00:00.000Z' });
  assert.deepEqual(body.problems, []);

  // The last IDLE sign grows old: unhealthy without any event.
  now += 61_000;
  h = await get('/healthz');
  assert.equal(h.status, 503);
  assert.deepEqual(JSON.parse(h.body).problems, ['no IDLE for 61 s']);

  bridge.emit('idle', new Date(now));
  assert.equal((await get('/healthz')).status, 200);
  // Busy with a long backlog there is no IDLE, but each handled mail shows the bridge alive.
  now += 50_000;
  bridge.emit('mail', { uid: 9, result: 'published' });
  now += 50_000;
  h = await get('/healthz');
  assert.equal(h.status, 200);
  assert.deepEqual(JSON.parse(h.body).idle, { alive: true, last: new Date(now - 100_000).toISOString() });
  now += 11_000;
  assert.equal((await get('/healthz')).status, 503);
  bridge.emit('idle', new Date(now));
  bridge.emit('connection', { side: 'mqtt', up: false });
  h = await get('/healthz');
  assert.equal(h.status, 503);
  body = JSON.parse(h.body);
  assert.equal(body.mqtt, 'down');
  assert.deepEqual(body.problems, ['mqtt down']);

  bridge.emit('connection', { side: 'mqtt', up: true });
  assert.equal((await get('/healthz')).status, 200);
  bridge.emit('fatal', new Error('mailbox vanished'));
  h = await get('/healthz');
  assert.equal(h.status, 503);
  assert.deepEqual(JSON.parse(h.body).problems, ['fatal: mailbox vanished']);

  const nf = await get('/nope');
  assert.equal(nf.status, 404);
  const post = await fetch(server.url + '/metrics', { method: 'POST' });
  assert.equal(post.status, 405);
  await post.text();
});

test('startMetrics names the address when it cannot listen', async (t) => {
  const bridge = fakeBridge();
  const health = new Health(bridge, { idleMaxAgeMs: 1000 });
  t.after(() => health.close());
  const first = await startMetrics(bridge, { listen: '127.0.0.1:0', health, log, defaultMetrics: false });
  t.after(() => first.close());
  await assert.rejects(
    startMetrics(bridge, { listen: `127.0.0.1:${first.port}`, health, log, defaultMetrics: false }),
    (err: Error) => err.name === 'MetricsError' && err.message.includes(`metrics.listen: cannot listen on 127.0.0.1:${first.port}`) && /EADDRINUSE/.test(err.message),
  );
  // The failed attempt left no listeners behind on the bridge (only the first server's).
  assert.equal(bridge.listenerCount('mail'), 2);
});
