/**
 * sd_notify against a real AF_UNIX datagram socket: a tiny python3 listener
 * (test/helpers/sdnotify.ts) stands in for systemd.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const UNIT = join(import.meta.dirname, '../../deploy/lpmqtt.service');

function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

test('deploy/lpmqtt.service: Type=notify under its own user, restarted on failure, hardened, and no MemoryDenyWriteExecute (V8 JIT)', async () => {
  const keys = unitKeys(await readFile(UNIT, 'utf8'));
  const one = (k: string): string | undefined => keys.get(`Service.${k}`)?.at(-1);
  assert.equal(one('Type'), 'notify');
  assert.equal(one('NotifyAccess'), 'all', 'systemd-notify sends from a child process');
  assert.equal(one('User'), 'lpmqtt');
  assert.equal(one('Restart'), 'on-failure');
  assert.match(one('ExecStart') ?? '', /^\/usr\/local\/bin\/lpmqtt run -c \/etc\/lpmqtt\/lpmqtt\.yaml$/);
  assert.match(one('WatchdogSec') ?? '', /^\d+(s|min)$/);
  for (const [k, v] of [
    ['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'], ['ProtectKernelTunables', 'yes'], ['ProtectKernelModules', 'yes'],
    ['ProtectControlGroups', 'yes'], ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ['SystemCallFilter', '~@privileged @resources'], ['CapabilityBoundingSet', ''],
  ] as const) {
    assert.equal(one(k), v, k);
  }
  assert.equal(keys.has('Service.MemoryDenyWriteExecute'), false);
  assert.deepEqual(keys.get('Service.SystemCallFilter'), ['@system-service', '~@privileged @resources']);
  assert.deepEqual(keys.get('Install.WantedBy'), ['multi-user.target']);
});

test('deploy/lpmqtt.service passes systemd-analyze verify and scores OK on systemd-analyze security', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lpmqtt-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // verify insists that ExecStart's binary exists: point it at this node and the built CLI path.
  const text = (await readFile(UNIT, 'utf8')).replace(/^ExecStart=\/usr\/local\/bin\/lpmqtt /m, `ExecStart=${process.execPath} /usr/local/lib/lpmqtt/cli.js `);
  const unit = join(dir, 'lpmqtt.service');
  await writeFile(unit, text);
  const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('systemd-analyze', args, { cwd: dir }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const verify = await run(['verify', unit]);
  // Unknown keys, bad values and missing binaries are reported on stderr.
  assert.equal(verify.stderr.trim(), '', verify.stderr);
  assert.equal(verify.code, 0);
  const security = await run(['security', '--offline=yes', '--no-pager', unit]);
  const m = /Overall exposure level for lpmqtt\.service: ([\d.]+) (\S+)/.exec(security.stdout);
  assert.ok(m, security.stdout + security.stderr);
  console.log(`systemd-analyze security: exposure ${m[1]} ${m[2]}`);
  // 0 = fully locked down, 10 = unprotected; "OK" is below 3.0 (a network daemon cannot have PrivateNetwork).
  assert.ok(Number(m[1]) < 3, `exposure ${m[1]}`);
});
