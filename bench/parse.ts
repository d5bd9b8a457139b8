/**
 * Parse benchmark: parseMail against mailparser's simpleParser on the same
 * corpus of realistic ~5.5 KB Launchpad bug mails (test/helpers/mailgen.ts:
 * QP body, 1–3 targets). Prints numbers; asserts nothing. Rates are given
 * per wall-clock second and per CPU second (the latter is steadier on a
 * loaded machine).
 *
 *   node --import tsx bench/parse.ts [count]
 */
import { pathToFileURL } from 'node:url';
import { simpleParser } from 'mailparser';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../src/core/index.js';
import { makeBugMail } from '../test/helpers/mailgen.js';

function mb(n: number): number {
  return Math.round((n / 1048576) * 10) / 10;
}

/** Run the benchmark; returns the numbers it printed. */
export async function benchParse(count = 10_000, simpleCount = 1_000): Promise<Record<string, number>> {
  const generated = Array.from({ length: count }, (_, i) => makeBugMail(i));
  const corpus = generated.map((g) => g.raw);
  const avgBytes = corpus.reduce((a, b) => a + b.length, 0) / corpus.length;
  // Warm up the JIT on a slice of the corpus.
  for (let i = 0; i < Math.min(2000, count); i++) parseMail(corpus[i] as Buffer, DEFAULT_PARSE_OPTIONS);
  let events = 0;
  let mismatches = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const o = parseMail(corpus[i] as Buffer, DEFAULT_PARSE_OPTIONS);
    if (o.kind === 'events') events += o.events.length;
    // Cheap sanity check that the numbers are for correct work.
    if (o.kind !== 'events' || o.events.length !== generated[i]?.targets.length) mismatches++;
  }
  const parseMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const parseCpuMs = (cpu.user + cpu.system) / 1000;
  const mem = process.memoryUsage();
  const sample = corpus.slice(0, simpleCount);
  const cpu1 = process.cpuUsage();
  const t1 = process.hrtime.bigint();
  for (const raw of sample) await simpleParser(raw);
  const simpleMs = Number(process.hrtime.bigint() - t1) / 1e6;
  const simpleCpu = process.cpuUsage(cpu1);
  const simpleCpuMs = (simpleCpu.user + simpleCpu.system) / 1000;
  return {
    mails: count,
    avgMailBytes: Math.round(avgBytes),
    events,
    mismatches,
    parseMailPerSec: Math.round((count / parseMs) * 1000),
    parseMailPerCpuSec: Math.round((count / parseCpuMs) * 1000),
    parseMailUsPerMail: Math.round((parseMs / count) * 1000 * 10) / 10,
    simpleParserPerSec: Math.round((sample.length / simpleMs) * 1000),
    simpleParserPerCpuSec: Math.round((sample.length / simpleCpuMs) * 1000),
    heapUsedMB: mb(mem.heapUsed),
    rssMB: mb(mem.rss),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 10_000);
  const r = await benchParse(n);
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(20)} ${v}`);
}
