/**
 * The local stack of the quickstart (scripts/quickstart.sh runs this): a real
 * Cyrus IMAP with idled and a Mosquitto on free loopback ports (the test
 * harness's own helpers), `lpmqtt run` bridging them, `lpmqtt watch` showing
 * what a subscriber sees, and the samples/ mails delivered over LMTP. Runs
 * until SIGINT/SIGTERM, then stops everything and removes every temp dir.
 *
 * Events go to stdout exactly as `lpmqtt watch` prints them; everything else
 * to stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { startCyrus, type Cyrus } from '../../test/helpers/cyrus.js';
import { startMosquitto, type Mosquitto } from '../../test/helpers/mosquitto.js';
import { freePort } from '../../test/helpers/ports.js';

// The harness SIGKILLs its servers at once on a signal (right for tests). Here
// the bridge must stop first, cleanly, so take over the signals; the harness's
// exit hook stays as the safety net.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  for (const listener of process.listeners(signal)) process.off(signal, listener);
}

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const SAMPLES = join(ROOT, 'samples');
const tty = process.stderr.isTTY === true;
const bold = (s: string): string => (tty ? `\u001b[1m${s}\u001b[22m` : s);
const dim = (s: string): string => (tty ? `\u001b[2m${s}\u001b[22m` : s);
const say = (s = ''): void => void process.stderr.write(s + '\n');

const children = new Set<ChildProcess>();
let cyrus: Cyrus | undefined;
let broker: Mosquitto | undefined;
let workDir: string | undefined;

// Whatever happens, no child outlives us (the harness hook does the same for the servers).
process.on('exit', () => {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

function lpmqtt(args: string[], logFile?: string): ChildProcess {
  // Own process group: a Ctrl-C reaches only us, and we stop the children in order.
  const child = spawn(process.execPath, [CLI, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (logFile !== undefined) {
    const lines: string[] = [];
    const keep = (chunk: Buffer): void => void lines.push(chunk.toString());
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const flush = setInterval(() => {
      if (lines.length > 0) void writeFile(logFile, lines.splice(0).join(''), { flag: 'a' });
    }, 200);
    flush.unref();
    child.once('exit', () => {
      clearInterval(flush);
      void writeFile(logFile, lines.splice(0).join(''), { flag: 'a' });
    });
  }
  return child;
}

async function stopChild(child: ChildProcess, ms = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => 'ok'), sleep(ms).then(() => 'timeout')])) === 'timeout') {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    await exited;
  }
}

let stopping = false;
async function shutdown(code: number, why: string): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say();
  say(`${bold('Stopping')} (${why}): bridge, subscriber, Mosquitto, Cyrus; removing temp dirs ...`);
  await Promise.all([...children].map((c) => stopChild(c)));
  await Promise.allSettled([cyrus?.stop(), broker?.stop()]);
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  say('Stopped; nothing left behind.');
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) {
      say(`${signal} again: exiting now`);
      process.exit(130);
    }
    void shutdown(0, signal);
  });
}

/** The retained `lpmqtt/status` says `online` once the bridge has connected to the broker. */
async function waitForBridge(url: string, bridge: ChildProcess, logFile: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `quickstart-${process.pid}`, reconnectPeriod: 0 });
  try {
    const online = new Promise<void>((resolve) => {
      client.on('message', (_topic, payload) => {
        if (payload.toString() === 'online') resolve();
      });
    });
    const died = new Promise<never>((_resolve, reject) => {
      bridge.once('exit', (code) => reject(new Error(`lpmqtt run exited (${code}) before connecting; see ${logFile}`)));
    });
    await client.subscribeAsync('lpmqtt/status', { qos: 1 });
    await Promise.race([online, died, sleep(60_000).then(() => Promise.reject(new Error(`lpmqtt run did not connect within 60 s; see ${logFile}`)))]);
  } finally {
    await client.endAsync();
  }
}

async function main(): Promise<void> {
  say(bold('lpmqtt quickstart: a local Cyrus IMAP and Mosquitto, the bridge between them, and a subscriber'));
  say();
  workDir = await mkdtemp(join(tmpdir(), 'lpmqtt-quickstart-'));
  const [c, b] = await Promise.all([startCyrus(), startMosquitto()]);
  cyrus = c;
  broker = b;
  const metricsPort = await freePort();
  const config = join(workDir, 'lpmqtt.yaml');
  const logFile = join(workDir, 'bridge.log');
  await writeFile(
    config,
    [
      '# Written by scripts/quickstart.sh: the servers it started on free ports.',
      'imap:',
      `  host: ${c.host}`,
      `  port: ${c.imapPort}`,
      `  username: ${c.user}`,
      `  password: ${c.password}`,
      '  folder: INBOX',
      '  failed_folder: INBOX.failed',
      'mqtt:',
      `  url: ${b.url}`,
      '  client_id: lpmqtt-quickstart',
      'metrics:',
      `  listen: 127.0.0.1:${metricsPort}`,
      'log:',
      '  level: info',
      '',
    ].join('\n'),
  );
  const row = (name: string, text: string): void => say(`  ${name.padEnd(12)}${text}`);
  row('Cyrus IMAP', `imap://127.0.0.1:${c.imapPort}, LMTP 127.0.0.1:${c.lmtpPort}; user ${c.user} (mailbox user.${c.user}), idled`);
  row('Mosquitto', b.url);
  row('config', config);

  const bridge = lpmqtt(['run', '-c', config], logFile);
  row('bridge', `lpmqtt run -c ${config}`);
  row('', dim(`log: ${logFile}`));
  await waitForBridge(b.url, bridge, logFile);
  bridge.once('exit', (code) => {
    if (!stopping) {
      say(`lpmqtt run exited unexpectedly (${code}); see ${logFile}`);
      void shutdown(1, 'bridge exited');
    }
  });
  const metrics = await fetch(`http://127.0.0.1:${metricsPort}/healthz`, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
  if (metrics) row('metrics', `http://127.0.0.1:${metricsPort}/metrics and /healthz`);

  // The subscriber: what anyone subscribed to launchpad/# sees.
  const watcher = lpmqtt(['watch', '--url', b.url]);
  let shown = 0;
  const subscribed = new Promise<void>((resolve, reject) => {
    createInterface({ input: watcher.stderr! }).on('line', (line) => {
      if (line.includes('watching ')) resolve();
      else say(dim(line));
    });
    watcher.once('exit', (code) => {
      if (!stopping) {
        reject(new Error(`lpmqtt watch exited (${code})`));
        void shutdown(1, 'subscriber exited');
      }
    });
  });
  createInterface({ input: watcher.stdout! }).on('line', (line) => {
    shown += 1;
    process.stdout.write(line + '\n');
  });
  await subscribed;
  row('subscriber', `lpmqtt watch --url ${b.url}`);
  say();

  const names = (await readdir(SAMPLES)).filter((n) => n.endsWith('.eml')).sort();
  let expected = 0;
  for (const name of names) {
    const golden = JSON.parse(await readFile(join(SAMPLES, name.replace(/\.eml$/, '.json')), 'utf8')) as unknown[];
    expected += golden.length;
  }
  say(`${bold(`Delivering the ${names.length} mails of ${relative(process.cwd(), SAMPLES) || 'samples'}/ through LMTP`)}; the events, as the subscriber prints them:`);
  say();
  await c.deliverMany(await Promise.all(names.map((n) => readFile(join(SAMPLES, n)))));

  const deadline = Date.now() + 60_000;
  while (shown < expected && Date.now() < deadline) await sleep(100);
  say();
  if (shown < expected) {
    say(`Only ${shown} of ${expected} expected events arrived within 60 s; see ${logFile}`);
  } else {
    const failed = await c.listMessages('INBOX.failed').catch(() => []);
    say(`${bold(`All ${expected} events of ${names.length} mails arrived.`)} Mails without events: the private bug (never published)`);
    say(`and the foreign mail (not from Launchpad: moved to INBOX.failed, which holds ${failed.length} mail${failed.length === 1 ? '' : 's'}).`);
  }
  say();
  say('The bridge keeps running. In another terminal, try:');
  say(`  mosquitto_sub -h 127.0.0.1 -p ${b.port} -t 'launchpad/#' -v`);
  if (metrics) say(`  curl -s http://127.0.0.1:${metricsPort}/healthz`);
  say(`  node ${relative(process.cwd(), CLI) || CLI} replay -c ${config} samples/new-bug.eml   # publish one again`);
  say();
  say(bold('Press Ctrl-C to stop and clean up.'));
}

main().catch(async (err: unknown) => {
  say(`quickstart failed: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown(1, 'error');
});
