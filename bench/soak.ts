/**
 * Soak: the daemon as a process (`node dist/cli.js run`) against a real Cyrus
 * and Mosquitto, fault proxies in between (the chaos suite's harness, see
 * test/chaos/lib), `rate` mails per second for `minutes` minutes, and a fault
 * every minute in rotation: kill -9 and restart of the daemon, IMAP
 * connection dropped, MQTT connection dropped, broker restarted, Cyrus
 * restarted, both connections stalled for 12 s. Prints numbers; asserts
 * nothing.
 *
 * - delivered/expected: events that arrived at least once / events the
 *   accepted mails must yield; duplicates beyond the first
 * - RSS of the daemon at the start and the end of its longest run (the kill
 *   comes first, so that run is everything after minute 1), and the peak
 * - growth over that run, as least-squares slopes in MB/min: of RSS, and of
 *   the live V8 heap, read once a minute (before the fault) through the
 *   daemon's inspector (`--inspect` on loopback): a full GC, then the heap
 *   in use. RSS wanders by a few MB as the allocator and V8 size their
 *   spaces; a leak shows as live heap that keeps rising
 * - the longest time a mail waited: LMTP 250 → its last event's first arrival
 *
 *   node --import tsx bench/soak.ts [--minutes 10] [--rate 20]
 */
import { pathToFileURL } from 'node:url';
import { formatReport } from '../test/chaos/lib/audit.js';
import { sleep } from '../test/chaos/lib/env.js';
import { startStack, type Stack } from '../test/chaos/lib/stack.js';
import { freePort } from '../test/helpers/ports.js';
import { fmt, liveHeapMB, positiveArgs, slope } from './lib.js';

interface Fault {
  name: string;
  run(s: Stack): Promise<void>;
}

const STALL_MS = 12_000;

interface Sample {
  run: number;
  at: number;
  rssKB: number;
  /** 30 s or more after the run's first log line. */
  settled: boolean;
}

interface HeapSample {
  run: number;
  at: number;
  mb: number;
}

const FAULTS: Fault[] = [
  {
    name: 'kill -9 + restart daemon',
    async run(s) {
      await s.daemon.kill9();
      await s.daemon.start();
    },
  },
  { name: 'drop IMAP connection', run: async (s) => s.imapProxy.dropAll() },
  { name: 'drop MQTT connection', run: async (s) => s.mqttProxy.dropAll() },
  { name: 'restart broker', run: (s) => s.restartBroker(1000) },
  { name: 'restart Cyrus', run: (s) => s.restartCyrus(1000) },
  {
    name: `stall both connections ${STALL_MS / 1000} s`,
    async run(s) {
      s.imapProxy.pause();
      s.mqttProxy.pause();
      await sleep(STALL_MS);
      s.imapProxy.resume();
      s.mqttProxy.resume();
    },
  },
];

export async function benchSoak(opts: { minutes?: number; rate?: number } = {}): Promise<Record<string, number>> {
  const minutes = opts.minutes ?? 10;
  const rate = opts.rate ?? 20;
  const undo: (() => unknown)[] = [];
  const teardown = { after: (fn: () => unknown) => void undo.push(fn) };
  console.log(`soak: ${minutes} min at ${rate} mails/s, a fault every minute (daemon as a child process behind fault proxies)`);
  try {
    const inspectPort = await freePort();
    const s = await startStack(teardown, { config: { imap: { batch_size: 50 } }, daemonNodeArgs: [`--inspect=127.0.0.1:${inspectPort}`] });
    const heap: HeapSample[] = [];
    const sampleHeap = async (): Promise<void> => {
      const run = s.daemon.run;
      const mb = await liveHeapMB(inspectPort);
      if (mb !== undefined && s.daemon.run === run) heap.push({ run, at: Date.now(), mb });
    };
    const feeder = s.feeder(`soak-${process.pid}`);
    const t0 = Date.now();
    feeder.start(rate);
    // RSS once a second, with the run it belongs to; a run counts from 30 s in (start-up over).
    const samples: Sample[] = [];
    const sampler = setInterval(() => {
      const kb = s.daemon.rssKB();
      if (kb === 0) return;
      const run = s.daemon.run;
      const age = Date.now() - (s.daemon.lines.find((l) => l.run === run)?.at ?? Date.now());
      samples.push({ run, at: Date.now(), rssKB: kb, settled: age >= 30_000 });
    }, 1000);
    const log: string[] = [];
    /** RSS (MB) just before each minute's fault, with the run it belongs to. */
    const trend: string[] = [];
    try {
      for (let m = 1; m < minutes; m++) {
        await sleep(Math.max(0, t0 + m * 60_000 - Date.now()));
        trend.push(`${m}:${fmt(s.daemon.rssKB() / 1024, 0)}${s.daemon.run > 1 ? `(run ${s.daemon.run})` : ''}`);
        await sampleHeap();
        const fault = FAULTS[(m - 1) % FAULTS.length] as Fault;
        const f0 = Date.now();
        await fault.run(s);
        log.push(`  min ${m}: ${fault.name} (${fmt((Date.now() - f0) / 1000, 1)} s)`);
        console.log(log.at(-1));
      }
      await sleep(Math.max(0, t0 + minutes * 60_000 - Date.now()));
    } finally {
      await feeder.stop();
    }
    const report = await s.drainAndAudit(feeder, 5 * 60_000);
    await sleep(2000);
    await sampleHeap();
    clearInterval(sampler);
    const longest = longestRun(samples);
    const rssStartMB = (longest[0]?.rssKB ?? 0) / 1024;
    const rssEndMB = (longest.at(-1)?.rssKB ?? 0) / 1024;
    const runMinutes = longest.length > 0 ? ((longest.at(-1) as Sample).at - (longest[0] as Sample).at) / 60_000 : 0;
    const peakMB = s.daemon.peakRssAllRunsKB() / 1024;
    const growth = growthOf(longest, heap);
    const selfExits = s.daemon.exits.filter((e) => e.signal !== 'SIGKILL').length;

    console.log(`  ${formatReport(report)}`);
    console.log(`  delivered/expected events: ${report.deliveredEvents}/${report.expectedEvents} (${report.mails} mails, ${feeder.rejected.length} refused by LMTP, ${report.uncertainPresent + report.uncertainAbsent} uncertain)`);
    console.log(`  duplicates: ${report.duplicateEvents} events in ${report.duplicateMails} mails`);
    console.log(`  unmarked mails at the end: ${report.unmarkedCount}; daemon runs ${s.daemon.run}, exits on its own ${selfExits}`);
    console.log(`  RSS of the longest run (${fmt(runMinutes, 1)} min): start ${fmt(rssStartMB, 1)} MB → end ${fmt(rssEndMB, 1)} MB (${fmt(rssEndMB - rssStartMB, 1)} MB); peak over all runs ${fmt(peakMB, 1)} MB`);
    console.log(`  RSS (MB) at each minute before its fault: ${trend.join(' ')} end:${fmt(s.daemon.rssKB() / 1024, 0)}`);
    if (growth) {
      console.log(`  growth over the longest run: RSS ${fmt(growth.rssSlope, 2)} MB/min; live heap ${fmt(growth.heapSlope, 2)} MB/min (after a full GC, each minute: ${growth.heapMB.map((v) => fmt(v, 1)).join(' ')} MB)`);
    }
    console.log(`  longest wait LMTP 250 → event: ${fmt(report.maxWaitMs / 1000, 1)} s (p50 ${fmt(report.p50WaitMs, 0)} ms, p99 ${fmt(report.p99WaitMs / 1000, 1)} s)`);
    return {
      soakMinutes: minutes,
      soakRate: rate,
      soakMails: report.mails,
      soakExpectedEvents: report.expectedEvents,
      soakDeliveredEvents: report.deliveredEvents,
      soakMissingEvents: report.missingCount,
      soakDuplicateEvents: report.duplicateEvents,
      soakDuplicateMails: report.duplicateMails,
      soakUnmarked: report.unmarkedCount,
      soakSelfExits: selfExits,
      soakRssStartMB: Math.round(rssStartMB * 10) / 10,
      soakRssEndMB: Math.round(rssEndMB * 10) / 10,
      soakRssPeakMB: Math.round(peakMB * 10) / 10,
      soakRssSlopeMBPerMin: growth ? Math.round(growth.rssSlope * 100) / 100 : NaN,
      soakLiveHeapSlopeMBPerMin: growth ? Math.round(growth.heapSlope * 100) / 100 : NaN,
      soakMaxWaitMs: Math.round(report.maxWaitMs),
      soakP99WaitMs: Math.round(report.p99WaitMs),
    };
  } finally {
    for (const fn of undo.reverse()) await fn();
  }
}

/** The settled RSS samples of the run that lasted longest. */
function longestRun(samples: Sample[]): Sample[] {
  const byRun = new Map<number, Sample[]>();
  for (const x of samples) {
    if (!x.settled) continue;
    const run = byRun.get(x.run);
    if (run) run.push(x);
    else byRun.set(x.run, [x]);
  }
  const span = (run: Sample[]): number => (run.at(-1) as Sample).at - (run[0] as Sample).at;
  return [...byRun.values()].sort((a, b) => span(b) - span(a))[0] ?? [];
}

/** Slopes (MB/min) of RSS and of the live heap over one run's settled samples, with its live heap samples. */
function growthOf(rss: Sample[], heap: HeapSample[]): { rssSlope: number; heapSlope: number; heapMB: number[] } | undefined {
  const from = rss[0];
  if (from === undefined || rss.length < 2) return undefined;
  const minutes = (at: number): number => (at - from.at) / 60_000;
  const live = heap.filter((h) => h.run === from.run && h.at >= from.at);
  return {
    rssSlope: slope(rss.map((x) => [minutes(x.at), x.rssKB / 1024])),
    heapSlope: slope(live.map((h) => [minutes(h.at), h.mb])),
    heapMB: live.map((h) => h.mb),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchSoak(positiveArgs({ minutes: 'minutes', rate: 'rate' }));
  process.exit(0);
}
