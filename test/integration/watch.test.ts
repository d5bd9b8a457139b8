/**
 * `lpmqtt watch` against a real Mosquitto: the shipped firehose config on
 * mqtt, mqtts, ws and wss, and a password-only broker for the config path.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import mqtt from 'mqtt';
import { registerWatch, watch, type WatchOptions } from '../../src/commands/watch.js';
import { BRIDGE_USER, startFirehose, type Firehose } from '../helpers/firehose.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { createTestCa } from '../helpers/testca.js';

const BUG = {
  'event-type': 'bug', project: 'nova', 'bug-number': '1859713', status: 'New', importance: 'Undecided',
  title: 'ARM v8.3a pauth not working', 'bug-modifier': 'Ead Grass (grassead)',
};
const REVIEW = { 'event-type': 'code-review', project: 'apparmor', subject: '[Merge] ~x/apparmor:fix into apparmor:master' };
const BUG_LINE = 'nova #1859713 New/Undecided  ARM v8.3a pauth not working  (by grassead)';
const REVIEW_LINE = 'apparmor code-review  [Merge] ~x/apparmor:fix into apparmor:master';

class Capture extends Writable {
  text = '';
  private waiters: (() => void)[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    for (const w of this.waiters.splice(0)) w();
    cb();
  }
  async waitFor(re: RegExp, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!re.test(this.text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(this.text)}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(100)]);
    }
  }
}

/** Start watch(); resolves once it is subscribed. */
async function startWatch(opts: WatchOptions): Promise<{ out: Capture; err: Capture; code: Promise<number>; stop(): Promise<number> }> {
  const out = new Capture();
  const err = new Capture();
  const ac = new AbortController();
  const code = watch({ ...opts, stdout: out, stderr: err, signal: ac.signal });
  await Promise.race([
    err.waitFor(/watching /),
    code.then((c) => {
      throw new Error(`watch ended with ${c} before subscribing: ${err.text}`);
    }),
  ]);
  return {
    out, err, code,
    stop: async () => {
      ac.abort();
      return code;
    },
  };
}

async function publish(url: string, opts: mqtt.IClientOptions, events: [string, unknown][]): Promise<void> {
  const client = await mqtt.connectAsync(url, { ...opts, reconnectPeriod: 0 });
  try {
    for (const [topic, payload] of events) {
      await client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
    }
  } finally {
    await client.endAsync();
  }
}

async function firehose(t: TestContext): Promise<{ fh: Firehose; caFile: string; bridge: mqtt.IClientOptions }> {
  const ca = await createTestCa();
  t.after(() => ca.remove());
  const server = await ca.issue('server', ['DNS:localhost', 'IP:127.0.0.1']);
  const fh = await startFirehose({ users: { [BRIDGE_USER]: 'bridge-pw' }, server: { caFile: ca.caFile, ...server } });
  t.after(() => fh.stop());
  const caPem = await ca.ca();
  return { fh, caFile: ca.caFile, bridge: { username: BRIDGE_USER, password: 'bridge-pw', ca: caPem } };
}

test('prints one line per event for people over mqtt, mqtts, ws and wss', async (t) => {
  const { fh, caFile, bridge } = await firehose(t);
  for (const url of [fh.url, fh.tlsUrl, fh.wsUrl, fh.wssUrl]) {
    const w = await startWatch({ url, ca: caFile });
    try {
      await publish(fh.url, bridge, [['launchpad/nova/bug/1859713', BUG], ['launchpad/apparmor/code-review', REVIEW]]);
      await w.out.waitFor(/code-review/);
      assert.equal(w.out.text, `${BUG_LINE}\n${REVIEW_LINE}\n`, url);
    } finally {
      assert.equal(await w.stop(), 0, url);
    }
    assert.match(w.err.text, new RegExp(`watching launchpad/# on ${url.replace(/[/.]/g, '\\$&')}`));
  }
});

test('--json prints NDJSON {topic, payload}; filters narrow what is shown; --count ends it', async (t) => {
  const { fh, bridge } = await firehose(t);
  const out = new Capture();
  const err = new Capture();
  const code = watch({ url: fh.url, filters: ['launchpad/nova/#', 'launchpad/+/code-review'], json: true, count: 2, stdout: out, stderr: err });
  await err.waitFor(/watching launchpad\/nova\/# launchpad\/\+\/code-review /);
  await publish(fh.url, bridge, [
    ['launchpad/qemu/bug/1', { 'event-type': 'bug', project: 'qemu' }],
    ['launchpad/nova/bug/1859713', BUG],
    ['launchpad/apparmor/code-review', REVIEW],
    ['launchpad/nova/bug/2', { 'event-type': 'bug', project: 'nova', 'bug-number': '2' }],
  ]);
  assert.equal(await code, 0);
  const lines = out.text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
  assert.deepEqual(lines, [
    { topic: 'launchpad/nova/bug/1859713', payload: BUG },
    { topic: 'launchpad/apparmor/code-review', payload: REVIEW },
  ]);
});

test('with -c the broker, credentials and base topic come from the config file; --url alone sends none', async (t) => {
  const broker = await startMosquitto({ users: { watcher: 'watch-pw' }, allowAnonymous: false });
  t.after(() => broker.stop());
  const dir = await mkdtemp(join(tmpdir(), 'lpmqtt-watch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'lpmqtt.yaml');
  await writeFile(cfg, `mqtt:\n  url: ${broker.url}\n  base_topic: lp\n  username: watcher\n  password_file: ${join(dir, 'pw')}\n`);
  await writeFile(join(dir, 'pw'), 'watch-pw\n');

  const w = await startWatch({ config: cfg });
  try {
    assert.match(w.err.text, /watching lp\/# on mqtt:\/\/127\.0\.0\.1:\d+/);
    await publish(broker.url, { username: 'watcher', password: 'watch-pw' }, [['launchpad/x/bug/1', BUG], ['lp/nova/bug/1859713', BUG]]);
    await w.out.waitFor(/nova/);
    assert.equal(w.out.text, `${BUG_LINE}\n`);
  } finally {
    assert.equal(await w.stop(), 0);
  }

  // The same broker without the config: refused, exit 1, the reason on stderr.
  const err = new Capture();
  assert.equal(await watch({ url: broker.url, stdout: new Capture(), stderr: err }), 1);
  assert.match(err.text, /cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*(Not authorized|authoriz)/i);
  // Credentials in the URL work and never show in messages.
  const w2 = await startWatch({ url: `mqtt://watcher:watch-pw@127.0.0.1:${broker.port}` });
  assert.equal(await w2.stop(), 0);
  assert.doesNotMatch(w2.err.text, /watch-pw/);
  assert.match(w2.err.text, new RegExp(`on mqtt://127\\.0\\.0\\.1:${broker.port}`));
});

test('a dead broker, a bad URL, a bad filter and a missing config end with a clear message', async () => {
  const dead = await freePort();
  let err = new Capture();
  assert.equal(await watch({ url: `mqtt://127.0.0.1:${dead}`, stdout: new Capture(), stderr: err }), 1);
  assert.match(err.text, new RegExp(`cannot connect to mqtt://127\\.0\\.0\\.1:${dead}: .*ECONNREFUSED`));

  err = new Capture();
  assert.equal(await watch({ url: 'http://127.0.0.1:1', stdout: new Capture(), stderr: err }), 2);
  assert.match(err.text, /--url: expected a URL with scheme mqtt:, mqtts:, ws: or wss:/);

  err = new Capture();
  assert.equal(await watch({ url: `mqtt://127.0.0.1:${dead}`, filters: ['launchpad/#/x'], stdout: new Capture(), stderr: err }), 2);
  assert.match(err.text, /FILTER "launchpad\/#\/x": not a valid MQTT topic filter/);

  err = new Capture();
  assert.equal(await watch({ config: '/nonexistent/lpmqtt.yaml', stdout: new Capture(), stderr: err }), 2);
  assert.match(err.text, /\/nonexistent\/lpmqtt\.yaml: cannot read config file/);
});

test('keeps watching across a broker restart', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const w = await startWatch({ url: broker.url });
  try {
    await broker.restart();
    await w.err.waitFor(/reconnected to /);
    // mqtt.js resubscribes after the reconnect; publish until the event shows (the SUBSCRIBE may still be in flight).
    for (let i = 0; i < 50 && !w.out.text.includes('nova'); i++) {
      await publish(broker.url, {}, [['launchpad/nova/bug/1859713', BUG]]);
      await sleep(100);
    }
    assert.match(w.out.text, /^nova #1859713 New\/Undecided {2}ARM v8\.3a pauth not working {2}\(by grassead\)$/m);
    assert.match(w.err.text, /connection to mqtt:\/\/127\.0\.0\.1:\d+ lost; reconnecting/);
  } finally {
    assert.equal(await w.stop(), 0);
  }
});

test('the registered command: SIGINT ends `lpmqtt watch` with exit code 0', async (t) => {
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  // A child process, so the signal is real: a tiny program that only registers watch.
  const dir = await mkdtemp(join(import.meta.dirname, '../../.tmp-watch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'cli.ts');
  await writeFile(script, [
    `import { Command } from 'commander';`,
    `import { registerWatch } from '${join(import.meta.dirname, '../../src/commands/watch.js')}';`,
    `const program = new Command('lpmqtt');`,
    `registerWatch(program);`,
    `await program.parseAsync();`,
  ].join('\n'));
  const child = spawn(process.execPath, ['--import', 'tsx', script, 'watch', '--url', broker.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const out = new Capture();
  const err = new Capture();
  child.stdout.pipe(out);
  child.stderr.pipe(err);
  await err.waitFor(/watching launchpad\/#/);
  await publish(broker.url, {}, [['launchpad/nova/bug/1859713', BUG]]);
  await out.waitFor(/nova/);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.equal(out.text, `${BUG_LINE}\n`);
  // Parsing the command line alone does not connect anywhere.
  const program = new Command('lpmqtt').exitOverride().configureOutput({ writeErr: () => undefined });
  registerWatch(program);
  assert.throws(() => program.parse(['watch', '--count', '0'], { from: 'user' }), /--count <n>' argument '0' is invalid/);
});
