/**
 * Metrics, health and sd_notify around a real Bridge on a real Cyrus (idled)
 * and Mosquitto: what an operator's Prometheus, load balancer and systemd see.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Bridge } from '../../src/bridge.js';
import { startOps } from '../../src/ops.js';
import { startCyrus } from '../helpers/cyrus.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { startNotifyListener } from '../helpers/sdnotify.js';
import { subscribe } from '../helpers/subscriber.js';
import { recordingLogger, testConfig, until } from './daemon-fixture.js';
import { sample } from '../helpers/prometheus.js';

const SAMPLES = join(import.meta.dirname, '../../samples');

test('a running bridge: READY=1 and /healthz 200 once IDLE-ing, counters per mail result, 503 and STATUS while the broker is away', async (t) => {
  const [cyrus, broker, notify] = await Promise.all([startCyrus(), startMosquitto(), startNotifyListener()]);
  t.after(() => Promise.all([cyrus.stop(), broker.stop(), notify.close()]));
  const sub = await subscribe(broker.url, 'launchpad/#');
  t.after(() => sub.close());

  const config = testConfig(cyrus, broker, { metrics: { listen: '127.0.0.1:0' }, log: { level: 'warn' } });
  const { log } = recordingLogger('warn');
  const bridge = new Bridge({ config, log });
  const env = { ...process.env, NOTIFY_SOCKET: notify.socket, WATCHDOG_USEC: '1000000' };
  const ops = await startOps(bridge, { config, log, env });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await bridge.stop();
    await ops.close();
  });
  assert.ok(ops.metrics, 'metrics.listen set: the server runs');
  const url = ops.metrics.url;
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(url + path);
    return { status: res.status, body: await res.text() };
  };

  assert.equal((await get('/healthz')).status, 503, 'not healthy before start');
  await bridge.start();
  await notify.waitFor(/^READY=1\nSTATUS=IDLE;/);
  await until('/healthz 200', async () => (await get('/healthz')).status === 200);
  await notify.waitFor(/^WATCHDOG=1$/);

  // new-bug: 1 event; several-targets: fan-out; private: set aside; foreign: failed folder.
  const names = ['new-bug', 'several-targets', 'private', 'foreign'];
  const raws = await Promise.all(names.map((n) => readFile(join(SAMPLES, `${n}.eml`))));
  const expected = await Promise.all(['new-bug', 'several-targets'].map(async (n) => (JSON.parse(await readFile(join(SAMPLES, `${n}.json`), 'utf8')) as unknown[]).length));
  const events = expected.reduce((a, b) => a + b, 0);
  await cyrus.deliverMany(raws);
  await sub.waitFor(events, 15_000);

  let m = '';
  await until('4 mails counted', async () => {
    m = (await get('/metrics')).body;
    return ['published', 'private', 'foreign'].reduce((n, r) => n + (sample(m, `lpmqtt_mails_total{result="${r}"}`) ?? 0), 0) === 4;
  });
  assert.equal(sample(m, 'lpmqtt_mails_total{result="published"}'), 2);
  assert.equal(sample(m, 'lpmqtt_mails_total{result="private"}'), 1);
  assert.equal(sample(m, 'lpmqtt_mails_total{result="foreign"}'), 1);
  assert.equal(sample(m, 'lpmqtt_mails_total{result="failed"}'), 0);
  assert.equal(sample(m, 'lpmqtt_events_published_total'), events);
  assert.equal(sample(m, 'lpmqtt_publish_latency_seconds_count'), 2);
  assert.equal(sample(m, 'lpmqtt_connection_up{side="imap"}'), 1);
  assert.equal(sample(m, 'lpmqtt_connection_up{side="mqtt"}'), 1);
  assert.ok((sample(m, 'lpmqtt_last_idle_timestamp_seconds') ?? 0) > Date.now() / 1000 - 60);
  assert.equal(sample(m, 'lpmqtt_backlog_mails'), 0);
  await notify.waitFor(/^STATUS=IDLE; 2 mails published \(\d+ events\), 1 set aside, backlog 0$/);

  // The broker goes away: health says so, systemd's STATUS too, the gauge drops.
  const before = notify.messages.length;
  await broker.stop();
  await until('/healthz 503', async () => (await get('/healthz')).status === 503);
  const h = JSON.parse((await get('/healthz')).body) as { mqtt: string; imap: string; problems: string[] };
  assert.equal(h.mqtt, 'down');
  assert.equal(h.imap, 'up');
  assert.deepEqual(h.problems, ['mqtt down']);
  assert.equal(sample((await get('/metrics')).body, 'lpmqtt_connection_up{side="mqtt"}'), 0);
  await notify.waitFor(/^STATUS=degraded: mqtt down;/, before);

  await broker.start();
  await until('/healthz 200 again', async () => (await get('/healthz')).status === 200, 20_000);
  await notify.waitFor(/^STATUS=IDLE;/, before);

  await ops.stopping('SIGTERM');
  await bridge.stop();
  stopped = true;
  assert.ok(notify.messages.includes('STOPPING=1\nSTATUS=SIGTERM'));
  assert.equal(notify.messages.filter((x) => x.startsWith('READY=1')).length, 1);
});
