/**
 * Daemon benchmark against a real Cyrus (with idled) and a real Mosquitto,
 * with realistic generated bug mails (~5.5 KB, QP, 1–3 targets). Prints
 * numbers; asserts nothing.
 *
 * - floor: bare imapflow FETCH of every mail's bytes, a bare QoS 1 publish
 *   of each (raw bytes as payload, all in flight), one STORE. No parsing, no
 *   marking logic. With the bridge's transport options and with imapflow's
 *   defaults (COMPRESS=DEFLATE); the ratio is taken to the faster one.
 * - ceiling: the leanest correct drain, to tell what the target asks from
 *   what any design must pay: the floor's one FETCH and one STORE, plus each
 *   mail parsed, its events serialised and every event published at QoS 1.
 *   No marking logic, no bound on mail published and not yet marked, no
 *   logging. Once on this thread, once with parsing in a worker thread (the
 *   most a second core can add).
 * - drain: the same mails through the Bridge at QoS 1, marked after the acks
 *   (default batch_size 200, fetched in pieces of 66 so that a kill -9
 *   re-publishes at most one batch; a fifth to a half of the FETCHes, of any
 *   size, stall 40–50 ms in mid-stream, Cyrus's Nagle waiting for our
 *   delayed ACK, which the one-FETCH floor pays about once).
 * - CPU per mail of each run's best round, by process: this one (imapflow,
 *   the bridge, mqtt.js; more than one core when V8's GC and compiler
 *   threads help), Cyrus (master and its imapd) and Mosquitto. It shows what
 *   bounds the drain on this 2-core machine.
 * - live: mails delivered one at a time over LMTP while the bridge IDLEs;
 *   latency from the LMTP 250 to the subscriber receiving the event.
 * - rss: `node dist/cli.js run` in a child process draining a big backlog;
 *   peak RSS (VmHWM).
 *
 * Backlogs are seeded by writing the message files into the Cyrus spool and
 * running `reconstruct` (LMTP delivers only ~100–200 mails/s here).
 *
 *   node --import tsx bench/daemon.ts [drainCount] [liveCount] [rssCount]
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { Bridge } from '../src/bridge.js';
import { configSchema, type Config } from '../src/config/schema.js';
import { DEFAULT_PARSE_OPTIONS, parseMail, serializePayloads } from '../src/core/index.js';
import { startCyrus, type Cyrus } from '../test/helpers/cyrus.js';
import { LmtpClient } from '../test/helpers/lmtp.js';
import { makeBugMail } from '../test/helpers/mailgen.js';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.js';
import { subscribe } from '../test/helpers/subscriber.js';
import { fmt, peakRssKB, percentile, withCpu } from './lib.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli.js');

/** Finds the spool directory of lpmqtt's INBOX (the one holding message file `1.`). */
async function inboxSpool(cyrus: Cyrus): Promise<string> {
  const walk = async (dir: string): Promise<string | undefined> => {
    const entries = await readdir(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === 'cyrus.header') && entries.some((e) => e.name === '1.')) return dir;
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const found = await walk(join(dir, e.name));
      if (found) return found;
    }
    return undefined;
  };
  const dir = await walk(join(cyrus.dir, 'spool'));
  if (!dir) throw new Error('cannot find the INBOX spool directory');
  return dir;
}

/**
 * Adds `count` generated mails (seeds from `first`) to INBOX after UID
 * `lastUid`: message files into the spool, then `reconstruct`. Nobody may
 * have the mailbox selected meanwhile.
 */
export async function seed(cyrus: Cyrus, first: number, count: number, lastUid: number): Promise<number> {
  if (lastUid === 0) {
    await cyrus.deliver(makeBugMail(first).raw); // creates the spool directory and UID 1
    first += 1;
    count -= 1;
    lastUid = 1;
  }
  const dir = await inboxSpool(cyrus);
  const owner = await stat(dir);
  for (let k = 0; k < count; k += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - k) }, async (_, j) => {
        const file = join(dir, `${lastUid + 1 + k + j}.`);
        await writeFile(file, makeBugMail(first + k + j).raw);
        await chown(file, owner.uid, owner.gid);
      }),
    );
  }
  const args = ['-C', join(cyrus.dir, 'imapd.conf'), 'user.lpmqtt'];
  const reconstruct = '/usr/lib/cyrus/bin/reconstruct';
  if (process.getuid?.() === 0 && owner.uid !== 0) await run('runuser', ['-u', 'cyrus', '--', reconstruct, ...args]);
  else await run(reconstruct, args);
  return lastUid + count;
}

export async function setSeen(cyrus: Cyrus, seen: boolean): Promise<void> {
  await cyrus.withImap(async (c) => {
    await c.mailboxOpen('INBOX');
    if (seen) await c.messageFlagsAdd('1:*', ['\\Seen']);
    else await c.messageFlagsRemove('1:*', ['\\Seen']);
  });
}

/**
 * The frame that the floor and the ceiling share, so that they differ only in
 * what they do with the mails: a fresh IMAP and MQTT connection, `body`
 * (which fetches and publishes, returning how many mails it fetched), one
 * STORE of every mail. Returns mails/s from before the connects to after the
 * STORE.
 */
async function bareRun(
  cyrus: Cyrus,
  broker: Mosquitto,
  extra: Partial<ImapFlowOptions>,
  clientId: string,
  body: (imap: ImapFlow, client: mqtt.MqttClient) => Promise<number>,
): Promise<number> {
  await setSeen(cyrus, false);
  const t0 = performance.now();
  const imap = new ImapFlow({ ...cyrus.imapOptions(), logger: false, ...extra });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId });
  try {
    await imap.connect();
    await imap.mailboxOpen('INBOX');
    const mails = await body(imap, client);
    await imap.messageFlagsAdd('1:*', ['\\Seen'], { uid: true });
    const ms = performance.now() - t0;
    await client.endAsync();
    await imap.logout();
    return mails / (ms / 1000);
  } catch (err) {
    // Nothing left open to keep the bench process from exiting.
    client.end(true);
    imap.close();
    throw err;
  }
}

/** The bare minimum: fetch every mail, publish its bytes at QoS 1, one STORE. Returns mails/s. */
export function floor(cyrus: Cyrus, broker: Mosquitto, extra: Partial<ImapFlowOptions>): Promise<number> {
  return bareRun(cyrus, broker, extra, 'bench-floor', async (imap, client) => {
    const msgs = await imap.fetchAll('1:*', { uid: true, source: true }, { uid: true });
    await Promise.all(msgs.map((m) => client.publishAsync(`bench/floor/${m.uid}`, m.source ?? Buffer.alloc(0), { qos: 1 })));
    return msgs.length;
  });
}

/** What the ceiling's worker thread sends back per mail. */
interface Parsed {
  topics: string[];
  payloads: string[];
}

/** A worker thread that parses mails for ceiling(); terminate() it when done. */
export function ceilingWorker(): Worker {
  return new Worker(new URL('./ceiling-worker.mjs', import.meta.url), { workerData: { parseOptions: DEFAULT_PARSE_OPTIONS } });
}

/**
 * The leanest correct drain (see the header): the floor's frame, every mail
 * parsed (here once all have arrived, or in `worker` as they stream in, in
 * batches of what arrived in one turn of the event loop), every event
 * published at QoS 1. Returns mails/s.
 */
export function ceiling(cyrus: Cyrus, broker: Mosquitto, extra: Partial<ImapFlowOptions>, worker?: Worker): Promise<number> {
  return bareRun(cyrus, broker, extra, 'bench-ceiling', async (imap, client) => {
    const acks: Promise<unknown>[] = [];
    const publish = (topics: readonly string[], payloads: readonly string[]): void => {
      topics.forEach((topic, i) => acks.push(client.publishAsync(topic, payloads[i] ?? '', { qos: 1 })));
    };
    const query = { uid: true, source: true };
    let mails = 0;
    if (worker === undefined) {
      // The floor's own fetchAll: here it drained faster than parsing each mail as it streams in.
      for (const m of await imap.fetchAll('1:*', query, { uid: true })) {
        mails += 1;
        const outcome = parseMail(m.source ?? Buffer.alloc(0), DEFAULT_PARSE_OPTIONS);
        if (outcome.kind === 'events') publish(outcome.events.map((e) => e.topic), serializePayloads(outcome.events.map((e) => e.payload)));
      }
    } else {
      if (worker.threadId < 0) throw new Error("the ceiling's worker thread is gone");
      let parsing = 0;
      let fetched = false;
      let allParsed: () => void = () => undefined;
      let failed: (err: Error) => void = () => undefined;
      const parsed = new Promise<void>((resolve, reject) => {
        allParsed = resolve;
        failed = reject;
      });
      // Awaited after the FETCH; until then a failure must not count as unhandled.
      parsed.catch(() => undefined);
      const onParsed = (batch: Parsed[]): void => {
        for (const p of batch) publish(p.topics, p.payloads);
        parsing -= batch.length;
        if (fetched && parsing === 0) allParsed();
      };
      // A worker that cannot start or dies would otherwise leave this waiting for ever.
      const onExit = (code: number): void => failed(new Error(`the ceiling's worker thread exited (${code})`));
      worker.on('message', onParsed).on('error', failed).on('exit', onExit);
      let queue: Buffer[] = [];
      for await (const m of imap.fetch('1:*', query, { uid: true })) {
        if (queue.length === 0) {
          setImmediate(() => {
            worker.postMessage(queue);
            queue = [];
          });
        }
        queue.push(m.source ?? Buffer.alloc(0));
        mails += 1;
        parsing += 1;
      }
      fetched = true;
      if (parsing === 0) allParsed();
      try {
        await parsed;
      } finally {
        worker.off('message', onParsed).off('error', failed).off('exit', onExit);
      }
    }
    await Promise.all(acks);
    return mails;
  });
}

function bridgeConfig(cyrus: Cyrus, broker: Mosquitto): Config {
  return configSchema.parse({
    imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: cyrus.password },
    mqtt: { url: broker.url, qos: 1, client_id: 'bench-bridge' },
  });
}

/** The bridge drains `count` unseen mails; returns mails/s from start() to the last mail marked. */
export async function drain(cyrus: Cyrus, broker: Mosquitto, count: number): Promise<number> {
  await setSeen(cyrus, false);
  // The daemon's logging at its default level, to a sink.
  const log = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
  const bridge = new Bridge({ config: bridgeConfig(cyrus, broker), log });
  let done = 0;
  const finished = new Promise<void>((resolve) =>
    bridge.on('mail', () => {
      if (++done === count) resolve();
    }),
  );
  const t0 = performance.now();
  await bridge.start();
  await finished;
  const ms = performance.now() - t0;
  await bridge.stop();
  return count / (ms / 1000);
}

/** Live latency: LMTP 250 → subscriber receives the (first) event, one mail at a time. */
async function live(cyrus: Cyrus, broker: Mosquitto, count: number, first: number): Promise<number[]> {
  const log = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
  const bridge = new Bridge({ config: bridgeConfig(cyrus, broker), log });
  const sub = await subscribe(broker.url, 'launchpad/#', { clientId: 'bench-live-sub' });
  const lmtp = await LmtpClient.connect(cyrus.host, cyrus.lmtpPort);
  const latencies: number[] = [];
  try {
    let idled = false;
    bridge.once('idle', () => (idled = true));
    await bridge.start();
    while (!idled) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < count; i++) {
      const mail = makeBugMail(first + i);
      const topic = `launchpad/${mail.targets[0]}/bug/${mail.bug}`;
      if (i > 0) await lmtp.rset();
      await lmtp.send(mail.raw, 'noreply@launchpad.net', [cyrus.user]);
      const accepted = process.hrtime.bigint();
      const deadline = Date.now() + 10_000;
      let got: bigint | undefined;
      while (got === undefined) {
        got = sub.messages.find((m) => m.topic === topic)?.receivedAt;
        if (got === undefined) {
          if (Date.now() > deadline) throw new Error(`live mail ${i} (${topic}) never arrived`);
          await new Promise((r) => setImmediate(r));
        }
      }
      latencies.push(Number(got - accepted) / 1e6);
      sub.clear();
      // Let the marking STORE finish before the next mail, as with mail trickling in.
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await lmtp.quit();
    await sub.close();
    await bridge.stop();
  }
  return latencies;
}

const HEAP_WRAPPER = join(import.meta.dirname, 'daemon-heap.mjs');

/**
 * `lpmqtt run` in a child process draining `count` mails; returns peak RSS
 * (MB) and mails/s. With `tuned`, started through bench/daemon-heap.mjs,
 * which sets the V8 heap flags that run.ts should set before loading anything.
 */
async function rss(cyrus: Cyrus, broker: Mosquitto, count: number, tuned: boolean): Promise<{ peakMB: number; rate: number }> {
  if (!existsSync(CLI)) {
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')]);
  }
  const dir = await mkdtemp(join(tmpdir(), 'lpmqtt-bench-daemon-'));
  try {
    const cfg = join(dir, 'lpmqtt.yaml');
    await writeFile(
      cfg,
      stringify({
        imap: { host: '127.0.0.1', port: cyrus.imapPort, username: cyrus.user, password: cyrus.password },
        mqtt: { url: broker.url, client_id: 'bench-rss' },
        log: { level: 'info' },
      }),
    );
    const t0 = performance.now();
    const argv = tuned ? [HEAP_WRAPPER, CLI, 'run', '-c', cfg] : [CLI, 'run', '-c', cfg];
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let published = 0;
    let tail = '';
    let peakKB = 0;
    const sampler = setInterval(() => (peakKB = Math.max(peakKB, peakRssKB(child.pid ?? 0))), 50);
    const finished = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        const s = tail + c.toString('utf8');
        const lines = s.split('\n');
        tail = lines.pop() ?? '';
        for (const l of lines) if (l.includes('"msg":"published"')) published += 1;
        if (published >= count) resolve();
      });
      child.on('exit', (code) => reject(new Error(`lpmqtt run exited (${code}) after ${published} mails`)));
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await finished;
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${stderr.slice(-2000)}`, { cause: err });
    }
    const ms = performance.now() - t0;
    peakKB = Math.max(peakKB, peakRssKB(child.pid ?? 0));
    clearInterval(sampler);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    return { peakMB: peakKB / 1024, rate: count / (ms / 1000) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs every part; returns the numbers it printed. */
export async function benchDaemon(drainCount = 3_000, liveCount = 200, rssCount = 20_000): Promise<Record<string, number>> {
  const [cyrus, broker] = await Promise.all([startCyrus(), startMosquitto()]);
  try {
    let lastUid = drainCount > 0 ? await seed(cyrus, 0, drainCount, 0) : 0;
    const out: Record<string, number> = {};
    console.log(`daemon benchmark: ${drainCount} mails (avg ~5.5 KB, 1–3 targets), QoS 1, Cyrus + idled, Mosquitto`);

    // Each measured three times, alternating, best of three: the machine is shared, the JIT warms
    // up, and the first round meets Cyrus cold.
    const bridgeOpts: Partial<ImapFlowOptions> = { disableBinary: true, disableCompression: true };
    const floorBridge: number[] = [];
    const floorDefault: number[] = [];
    const ceilings: number[] = [];
    const ceilingsWorker: number[] = [];
    const drains: number[] = [];
    const worker = drainCount > 0 ? ceilingWorker() : undefined;
    const servers = { cyrus: cyrus.pid, mosquitto: broker.pid };
    type CpuRun = Awaited<ReturnType<typeof withCpu<number>>>;
    // The fastest round of each, with the CPU it took.
    type Run = 'floor' | 'ceiling' | 'ceiling, worker' | 'drain';
    const best: Partial<Record<Run, CpuRun>> = {};
    const keep = (what: Run, m: CpuRun): number => {
      if (m.value > (best[what]?.value ?? 0)) best[what] = m;
      return m.value;
    };
    try {
      for (let round = 0; round < (drainCount > 0 ? 3 : 0); round++) {
        floorBridge.push(keep('floor', await withCpu(() => floor(cyrus, broker, bridgeOpts), servers)));
        floorDefault.push(await floor(cyrus, broker, {}));
        ceilings.push(keep('ceiling', await withCpu(() => ceiling(cyrus, broker, bridgeOpts), servers)));
        ceilingsWorker.push(keep('ceiling, worker', await withCpu(() => ceiling(cyrus, broker, bridgeOpts, worker), servers)));
        drains.push(keep('drain', await withCpu(() => drain(cyrus, broker, drainCount), servers)));
      }
    } finally {
      await worker?.terminate();
    }
    if (drainCount > 0) {
      const floorRate = Math.max(...floorBridge, ...floorDefault);
      const drainRate = Math.max(...drains);
      console.log(`  floor (bare fetch + QoS 1 publish + STORE), bridge's transport options: ${fmt(Math.max(...floorBridge), 0)} mails/s  [${floorBridge.map((x) => fmt(x, 0)).join(', ')}]`);
      console.log(`  floor, imapflow defaults (COMPRESS=DEFLATE):                        ${fmt(Math.max(...floorDefault), 0)} mails/s  [${floorDefault.map((x) => fmt(x, 0)).join(', ')}]`);
      const [ceilingRate, ceilingWorkerRate] = [Math.max(...ceilings), Math.max(...ceilingsWorker)];
      const list = (xs: number[]): string => `[${xs.map((x) => fmt(x, 0)).join(', ')}]`;
      console.log(`  ceiling: floor + parse, serialise, QoS 1 publish of every event:    ${fmt(ceilingRate, 0)} mails/s  ${list(ceilings)} = ${fmt(ceilingRate / floorRate, 2)} of the floor`);
      console.log(`  ceiling, parsing in a worker thread:                                ${fmt(ceilingWorkerRate, 0)} mails/s  ${list(ceilingsWorker)} = ${fmt(ceilingWorkerRate / floorRate, 2)} of the floor`);
      console.log(`  bridge backlog drain (parse, publish, ack, mark):                   ${fmt(drainRate, 0)} mails/s  ${list(drains)} = ${fmt(drainRate / ceilingRate, 2)} of the one-thread ceiling`);
      console.log(`  ratio drain / best floor:                                           ${fmt(drainRate / floorRate, 2)} (target ≥ 0.80)`);
      const perMail = (ms: number): number => (ms * 1000) / drainCount;
      for (const what of ['floor', 'ceiling', 'ceiling, worker', 'drain'] as const) {
        const m = best[what] as CpuRun;
        // process.cpuUsage() counts every thread of this process, the ceiling's worker too.
        const [self, cy, mo, wall] = [m.selfMs, m.othersMs['cyrus'] ?? 0, m.othersMs['mosquitto'] ?? 0, m.wallMs].map(perMail) as [number, number, number, number];
        console.log(`  CPU per mail, ${what}${what === 'floor' ? ' (bridge options)' : ''}: this process ${fmt(self, 0)} µs (${fmt(self / wall, 2)} cores), Cyrus ${fmt(cy, 0)} µs, Mosquitto ${fmt(mo, 0)} µs; wall ${fmt(wall, 0)} µs`);
        const key = what === 'ceiling, worker' ? 'ceilingWorker' : what;
        out[`${key}CpuUsPerMail`] = Math.round(self);
        out[`${key}CyrusCpuUsPerMail`] = Math.round(cy);
      }
      out['floorMailsPerSec'] = Math.round(Math.max(...floorBridge));
      out['floorDefaultMailsPerSec'] = Math.round(Math.max(...floorDefault));
      out['ceilingMailsPerSec'] = Math.round(ceilingRate);
      out['ceilingWorkerMailsPerSec'] = Math.round(ceilingWorkerRate);
      out['ceilingWorkerToFloorRatio'] = Math.round((ceilingWorkerRate / floorRate) * 100) / 100;
      out['drainMailsPerSec'] = Math.round(drainRate);
      out['drainToFloorRatio'] = Math.round((drainRate / floorRate) * 100) / 100;
    }

    if (liveCount > 0) {
      const lat = (await live(cyrus, broker, liveCount, 100_000)).sort((a, b) => a - b);
      lastUid += liveCount;
      const p50 = percentile(lat, 50);
      const p99 = percentile(lat, 99);
      console.log(`  live latency, LMTP 250 → event at subscriber (${liveCount} mails): p50 ${fmt(p50, 2)} ms, p99 ${fmt(p99, 2)} ms, max ${fmt(lat.at(-1) ?? NaN, 2)} ms (targets 10 / 50)`);
      out['liveP50Ms'] = Math.round(p50 * 100) / 100;
      out['liveP99Ms'] = Math.round(p99 * 100) / 100;
    }

    if (rssCount > 0) {
      lastUid = await seed(cyrus, 200_000, rssCount, lastUid);
      // Cyrus's first read of each freshly seeded message file is slow: warm
      // them with one bare FETCH, so that both runs meet the same server.
      await floor(cyrus, broker, bridgeOpts);
      for (const tuned of [false, true]) {
        await setSeen(cyrus, false);
        const r = await rss(cyrus, broker, rssCount, tuned);
        const how = tuned ? 'with the V8 heap flags (bench/daemon-heap.mjs)' : 'node dist/cli.js run, as shipped           ';
        console.log(`  ${how}: ${rssCount} mails drained, peak RSS ${fmt(r.peakMB, 1)} MB (target ≤ 120), ${fmt(r.rate, 0)} mails/s incl. start-up`);
        out[tuned ? 'rssPeakMBTunedHeap' : 'rssPeakMB'] = Math.round(r.peakMB * 10) / 10;
        out[tuned ? 'rssDrainMailsPerSecTunedHeap' : 'rssDrainMailsPerSec'] = Math.round(r.rate);
      }
    }
    return out;
  } finally {
    await Promise.all([cyrus.stop(), broker.stop()]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // A count of 0 skips that part.
  const [a, b, c] = process.argv.slice(2).map((x) => (x === undefined ? undefined : Number(x)));
  await benchDaemon(a, b, c);
}
