/**
 * sd_notify against a real AF_UNIX datagram socket: a tiny python3 listener
 * (test/helpers/sdnotify.ts) stands in for systemd.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import { Health, type BridgeSignals } from '../../src/health.js';
import { SdNotifier, startSystemd } from '../../src/systemd.js';
import { startNotifyListener, type NotifyListener } from '../helpers/sdnotify.js';

async function notifyListener(t: TestContext): Promise<NotifyListener> {
  const listener = await startNotifyListener();
  t.after(() => listener.close());
  return listener;
}

function capturingLog(): { log: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log: Logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, lines };
}

test('without NOTIFY_SOCKET nothing is sent and nothing is spawned', async () => {
  const { log, lines } = capturingLog();
  const sd = new SdNotifier({ log, env: {}, command: '/nonexistent/systemd-notify' });
  assert.equal(sd.enabled, false);
  assert.equal(sd.watchdogMs, undefined);
  await sd.notify({ READY: '1' });
  const bridge = new EventEmitter<BridgeSignals>();
  const health = new Health(bridge, { idleMaxAgeMs: 60_000 });
  const handle = startSystemd(health, { log, env: { WATCHDOG_USEC: '100000' }, command: '/nonexistent/systemd-notify' });
  bridge.emit('connection', { side: 'imap', up: true });
  bridge.emit('connection', { side: 'mqtt', up: true });
  bridge.emit('idle', new Date());
  await handle.stopping();
  health.close();
  assert.equal(handle.ready, false);
  assert.deepEqual(lines, []);
});

test('READY=1 once connected and IDLE-ing, WATCHDOG=1 while healthy, STATUS on changes, STOPPING=1 at the end', async (t) => {
  const listener = await notifyListener(t);
  const { log } = capturingLog();
  const bridge = new EventEmitter<BridgeSignals>();
  const health = new Health(bridge, { idleMaxAgeMs: 60_000 });
  t.after(() => health.close());
  const env = { ...process.env, NOTIFY_SOCKET: listener.socket, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) };
  const handle = startSystemd(health, { log, env, statusIntervalMs: 50 });
  t.after(() => handle.close());

  await listener.waitFor(/^STATUS=connecting$/);
  bridge.emit('connection', { side: 'imap', up: true });
  await listener.waitFor(/^STATUS=degraded: mqtt down, no IDLE yet;/);
  bridge.emit('connection', { side: 'mqtt', up: true });
  assert.equal(handle.ready, false, 'not ready before IDLE');
  bridge.emit('idle', new Date());
  assert.equal(handle.ready, true);
  const readyAt = await listener.waitFor(/^READY=1\nSTATUS=IDLE; 0 mails published/);
  assert.equal(listener.messages.filter((m) => m.includes('READY=1')).length, 1);
  assert.ok(!listener.messages.slice(0, readyAt).includes('WATCHDOG=1'), 'no watchdog ping before READY');

  // Watchdog pings (every 100 ms) while healthy.
  const firstPing = await listener.waitFor(/^WATCHDOG=1$/, readyAt);
  await listener.waitFor(/^WATCHDOG=1$/, firstPing + 1);

  // Counts refresh the STATUS line (throttled, but they arrive).
  bridge.emit('mail', { uid: 1, result: 'published' });
  bridge.emit('published', { events: 2, latencyMs: 5 });
  bridge.emit('mail', { uid: 2, result: 'failed' });
  await listener.waitFor(/^STATUS=IDLE; 1 mails published \(2 events\), 1 set aside, backlog 0$/);

  // MQTT goes down: the state change is reported and the pings stop.
  bridge.emit('connection', { side: 'mqtt', up: false });
  const downAt = await listener.waitFor(/^STATUS=degraded: mqtt down;/);
  await sleep(500);
  const afterDown = listener.messages.slice(downAt + 1);
  // A ping already on its way when the state changed may land just after; none later.
  assert.ok(afterDown.filter((m) => m === 'WATCHDOG=1').length <= 1, `pings while unhealthy: ${JSON.stringify(afterDown)}`);

  bridge.emit('connection', { side: 'mqtt', up: true });
  const upAgain = await listener.waitFor(/^STATUS=IDLE;/, downAt + 1);
  await listener.waitFor(/^WATCHDOG=1$/, upAgain);
  assert.equal(listener.messages.filter((m) => m.includes('READY=1')).length, 1, 'READY is sent once');

  await handle.stopping('shutting down on SIGTERM');
  const stopAt = listener.messages.indexOf('STOPPING=1\nSTATUS=shutting down on SIGTERM');
  assert.ok(stopAt >= 0, JSON.stringify(listener.messages));
  await sleep(300);
  assert.ok(!listener.messages.slice(stopAt + 1).includes('WATCHDOG=1'), 'no pings after STOPPING');
});

test('the watchdog is off when WATCHDOG_PID names another process', () => {
  const { log } = capturingLog();
  const env = { NOTIFY_SOCKET: '/run/nothing', WATCHDOG_USEC: '30000000' };
  assert.equal(new SdNotifier({ log, env: { ...env, WATCHDOG_PID: '1' }, pid: 4242 }).watchdogMs, undefined);
  assert.equal(new SdNotifier({ log, env: { ...env, WATCHDOG_PID: '4242' }, pid: 4242 }).watchdogMs, 30_000);
  assert.equal(new SdNotifier({ log, env, pid: 4242 }).watchdogMs, 30_000);
  assert.equal(new SdNotifier({ log, env: { NOTIFY_SOCKET: '/run/nothing' } }).watchdogMs, undefined);
});

test('values are kept on one line, so a STATUS cannot inject another variable', async (t) => {
  const listener = await notifyListener(t);
  const { log } = capturingLog();
  const sd = new SdNotifier({ log, env: { ...process.env, NOTIFY_SOCKET: listener.socket } });
  await sd.notify({ STATUS: 'mail from evil\nREADY=1' });
  await listener.waitFor(/^STATUS=/);
  assert.deepEqual(listener.messages, ['STATUS=mail from evil READY=1']);
});

test('a missing systemd-notify is reported once, and the daemon goes on', async () => {
  const { log, lines } = capturingLog();
  const sd = new SdNotifier({ log, env: { NOTIFY_SOCKET: '/run/nothing', PATH: '/nonexistent' } });
  assert.equal(sd.enabled, true);
  await sd.notify({ READY: '1' });
  await sd.notify({ WATCHDOG: '1' });
  const warnings = lines.filter((l) => l.level === 40);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]?.msg ?? '', /systemd-notify was not found/);
});
