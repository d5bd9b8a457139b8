/**
 * Leak check: the daemon as a process (`node dist/cli.js run`, the chaos
 * suite's stack with its fault proxies), `rate` mails per second for
 * `minutes` minutes, and an IMAP or MQTT connection dropped every
 * `dropEvery` seconds in turn. Every 30 s the live heap is read through the
 * daemon's inspector (a full GC, then V8's heap in use). Prints numbers;
 * asserts nothing.
 *
 * The soak's 10 minutes at 20 mails/s cannot tell a slow leak from the
 * daemon warming up (optimised code, inline caches and feedback are heap
 * too; they grow for the first minutes). Here many more mails and
 * reconnects go through, and the growth is taken over the second half of the
 * run only, as bytes per mail and per reconnect: a leak keeps growing with
 * the work done, warm-up does not.
 *
 *   node --import tsx bench/leak.ts [--minutes 8] [--rate 80] [--drop-every 4]
 */
import { pathToFileURL } from 'node:url';
import { formatReport } from '../test/chaos/lib/audit.js';
import { sleep } from '../test/chaos/lib/env.js';
import { startStack } from '../test/chaos/lib/stack.js';
import { freePort } from '../test/helpers/ports.js';
import { fmt, liveHeapMB, positiveArgs, slope } from './lib.js';

export async function benchLeak(opts: { minutes?: number; rate?: number; dropEvery?: number } = {}): Promise<Record<string, number>> {
  const minutes = opts.minutes ?? 8;
  const rate = opts.rate ?? 80;
  const dropEvery = opts.dropEvery ?? 4;
  const undo: (() => unknown)[] = [];
  const teardown = { after: (fn: () => unknown) => void undo.push(fn) };
  console.log(`leak: ${minutes} min at ${rate} mails/s, an IMAP or MQTT connection dropped every ${dropEvery} s (daemon as a child process)`);
  try {
    const inspectPort = await freePort();
    const s = await startStack(teardown, { config: { imap: { batch_size: 50 } }, daemonNodeArgs: [`--inspect=127.0.0.1:${inspectPort}`] });
    const feeder = s.feeder(`leak-${process.pid}`);
    const t0 = Date.now();
    let drops = 0;
    const dropper = setInterval(() => {
      if (drops++ % 2 === 0) s.imapProxy.dropAll();
      else s.mqttProxy.dropAll();
    }, dropEvery * 1000);
    // [minutes since start, live heap MB, mails accepted by then, drops by then]
    const points: Array<[number, number, number, number]> = [];
    feeder.start(rate);
    try {
      while (Date.now() - t0 < minutes * 60_000) {
        await sleep(Math.min(30_000, Math.max(0, t0 + minutes * 60_000 - Date.now())));
        const mb = await liveHeapMB(inspectPort);
        if (mb !== undefined) points.push([(Date.now() - t0) / 60_000, mb, feeder.accepted.size, drops]);
      }
    } finally {
      clearInterval(dropper);
      await feeder.stop();
    }
    const report = await s.drainAndAudit(feeder, 5 * 60_000);
    const late = points.filter(([t]) => t >= minutes / 2);
    const first = late[0];
    const last = late.at(-1);
    const perMin = slope(late.map(([t, mb]) => [t, mb]));
    const span = first && last ? last[0] - first[0] : NaN;
    const mailsPerMin = first && last ? (last[2] - first[2]) / span : NaN;
    const dropsPerMin = first && last ? (last[3] - first[3]) / span : NaN;
    const bytesPerMail = (perMin * 2 ** 20) / mailsPerMin;
    const bytesPerDrop = (perMin * 2 ** 20) / dropsPerMin;
    console.log(`  ${formatReport(report)}`);
    console.log(`  ${report.mails} mails, ${drops} connections dropped, daemon runs ${s.daemon.run}`);
    console.log(`  live heap (MB) every 30 s: ${points.map(([, mb]) => fmt(mb, 1)).join(' ')}`);
    console.log(`  second half: ${fmt(perMin, 3)} MB/min, i.e. at most ${fmt(bytesPerMail, 1)} B per mail or ${fmt(bytesPerDrop, 0)} B per dropped connection (either alone would account for it)`);
    console.log(`  peak RSS ${fmt(s.daemon.peakRssAllRunsKB() / 1024, 1)} MB`);
    return {
      leakMails: report.mails,
      leakMissingEvents: report.missingCount,
      leakDrops: drops,
      leakFirstHeapMB: Math.round((points[0]?.[1] ?? NaN) * 10) / 10,
      leakLastHeapMB: Math.round((points.at(-1)?.[1] ?? NaN) * 10) / 10,
      leakHeapSlopeMBPerMin: Math.round(perMin * 1000) / 1000,
      leakBytesPerMail: Math.round(bytesPerMail * 10) / 10,
      leakBytesPerDrop: Math.round(bytesPerDrop),
      leakPeakRssMB: Math.round((s.daemon.peakRssAllRunsKB() / 1024) * 10) / 10,
    };
  } finally {
    for (const fn of undo.reverse()) await fn();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchLeak(positiveArgs({ minutes: 'minutes', rate: 'rate', dropEvery: 'drop-every' }));
  process.exit(0);
}
