/**
 * Whole-process replay benchmark: `lpmqtt replay --dry-run` over a generated
 * corpus of realistic Launchpad bug mail (test/helpers/mailgen.ts: ~5.5 KB,
 * quoted-printable, 1–3 targets), once as a folder of .eml files and once as
 * one large mbox, timing the process from spawn to exit and taking its peak
 * RSS. Run `npm run build` first. Prints numbers; asserts nothing.
 *
 *   node --import tsx bench/replay.ts [count]
 */
import { mkdtempSync, mkdirSync, writeFileSync, createWriteStream, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeBugMail } from '../test/helpers/mailgen.js';
import { fmt, runMeasured } from './lib.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function writeEmlCorpus(dir: string, count: number): number {
  let bytes = 0;
  // 100 mails a folder, as a maildir-like archive would be laid out.
  for (let i = 0; i < count; i++) {
    const sub = join(dir, String(Math.floor(i / 100)).padStart(4, '0'));
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    const { raw } = makeBugMail(i);
    bytes += raw.length;
    writeFileSync(join(sub, `${String(i).padStart(6, '0')}.eml`), raw);
  }
  return bytes;
}

async function writeMbox(file: string, count: number): Promise<number> {
  const out = createWriteStream(file);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const { raw } = makeBugMail(i);
    // mboxrd: quote body lines that look like separators.
    const body = raw.toString('latin1').replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1');
    const chunk = `From noreply@launchpad.net Thu Jan  1 00:00:00 2026\n${body}${body.endsWith('\n') ? '' : '\n'}\n`;
    bytes += chunk.length;
    if (!out.write(chunk, 'latin1')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return bytes;
}

/** Runs the replay `runs` times (the machine is shared and noisy): the median rate, the highest peak RSS. */
async function replay(path: string, count: number, label: string, runs: number): Promise<Record<string, number>> {
  const rates: number[] = [];
  let peak = 0;
  for (let i = 0; i < runs; i++) {
    const r = await runMeasured(process.execPath, [CLI, 'replay', '--dry-run', path], { keepStdout: false });
    if (r.code !== 0) throw new Error(`replay ${label} exited ${r.code}: ${r.stderr.slice(-2000)}`);
    rates.push((count / r.ms) * 1000);
    peak = Math.max(peak, r.peakRssMB);
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  console.log(
    `  ${label.padEnd(6)} ${count} mails: median ${fmt(median, 0)} mails/s over ${runs} runs [${rates.map((x) => fmt(x, 0)).join(', ')}], peak RSS ${fmt(peak)} MB`,
  );
  return { [`${label}MailsPerSec`]: Math.round(median), [`${label}PeakRssMB`]: Math.round(peak * 10) / 10 };
}

/** Run the benchmark; returns the numbers it printed. */
export async function benchReplay(count = 10_000, mboxCount = 50_000): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'lpmqtt-bench-replay-'));
  try {
    const emlDir = join(dir, 'eml');
    const bytes = writeEmlCorpus(emlDir, count);
    console.log(`replay --dry-run (whole process; corpus avg ${fmt(bytes / count / 1024, 2)} KB/mail)`);
    const eml = await replay(emlDir, count, 'eml', 5);
    const mbox = join(dir, 'archive.mbox');
    const mboxBytes = await writeMbox(mbox, mboxCount);
    console.log(`  (mbox of ${fmt(mboxBytes / 1048576, 0)} MB, to show memory does not grow with the corpus)`);
    const mb = await replay(mbox, mboxCount, 'mbox', 1);
    return { ...eml, ...mb };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 10_000);
  await benchReplay(n, n * 5);
}
