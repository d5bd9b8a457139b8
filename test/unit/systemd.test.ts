/**
 * sd_notify against a real AF_UNIX datagram socket: a tiny python3 listener
 * stands in for systemd and prints every datagram it receives as one JSON line.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import { Health, type BridgeSignals } from '../../src/health.js';
import { SdNotifier, startSystemd } from '../../src/systemd.js';

const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("listening"), flush=True)
while True:
    # recv() without ancillary space closes the BARRIER=1 fd, which releases systemd-notify.
    data = s.recv(65536)
    print(json.dumps(data.decode()), flush=True)
`;

interface Listener {
  socket: string;
  /** Every datagram so far, BARRIER=1 messages left out. */
  messages: string[];
  /** Resolves once a message matching `re` has arrived (index of it). */
  waitFor(re: RegExp, from?: number): Promise<number>;
}

async function notifyListener(t: TestContext): Promise<Listener> {
  const dir = await mkdtemp(join(tmpdir(), 'lpmqtt-sd-'));
  const socket = join(dir, 'notify');
  const child: ChildProcess = spawn('python3', ['-c', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  const messages: string[] = [];
  let wake: () => void = () => undefined;
  let buf = '';
  let listening = false;
  child.stdout?.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl)) as string;
      buf = buf.slice(nl + 1);
      if (msg === 'listening') listening = true;
      else if (msg !== 'BARRIER=1') messages.push(msg);
    }
    wake();
  });
  const waitUntil = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages)}`);
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(50)]);
    }
  };
  await waitUntil(() => listening, 'the python listener');
  return {
    socket,
    messages,
    waitFor: async (re, from = 0) => {
      let found = -1;
      await waitUntil(() => (found = messages.findIndex((m, i) => i >= from && re.test(m))) >= 0, String(re));
      return found;
    },
  };
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
