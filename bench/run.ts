/**
 * `npm run bench`: every benchmark in one run, each printing its own numbers,
 * then a summary against the targets of the issues. Nothing here asserts: a
 * number below target is printed as such, never hidden.
 *
 *   npm run bench                  all of it (the soak takes 10 minutes, the leak check 8)
 *   npm run bench -- --quick       skip the soak and the leak check
 *   npm run bench -- parse replay  only the named parts (parse, replay, daemon, soak, leak)
 */
import { benchParse } from './parse.js';
import { benchReplay } from './replay.js';
import { benchDaemon } from './daemon.js';
import { benchSoak } from './soak.js';
import { benchLeak } from './leak.js';

type Numbers = Record<string, number>;
interface Target {
  label: string;
  value: (r: Record<string, Numbers>) => number | undefined;
  ok: (v: number) => boolean;
  goal: string;
}

const parts: Record<string, () => Promise<Numbers>> = {
  parse: () => benchParse(),
  replay: () => benchReplay(),
  daemon: () => benchDaemon(),
  soak: () => benchSoak(),
  leak: () => benchLeak(),
};

const targets: Target[] = [
  { label: 'replay --dry-run, .eml folder (mails/s)', value: (r) => r.replay?.emlMailsPerSec, ok: (v) => v >= 5000, goal: '>= 5,000' },
  { label: 'replay --dry-run peak RSS, eml (MB)', value: (r) => r.replay?.emlPeakRssMB, ok: (v) => v < 150, goal: '< 150' },
  { label: 'replay --dry-run peak RSS, 5x mbox (MB)', value: (r) => r.replay?.mboxPeakRssMB, ok: (v) => v < 150, goal: '< 150' },
  { label: 'daemon backlog drain / floor', value: (r) => r.daemon?.drainToFloorRatio, ok: (v) => v >= 0.8, goal: '>= 0.80' },
  { label: 'daemon live latency p50 (ms)', value: (r) => r.daemon?.liveP50Ms, ok: (v) => v <= 10, goal: '<= 10' },
  { label: 'daemon live latency p99 (ms)', value: (r) => r.daemon?.liveP99Ms, ok: (v) => v <= 50, goal: '<= 50' },
  { label: 'daemon peak RSS, 20k backlog (MB)', value: (r) => r.daemon?.rssPeakMB, ok: (v) => v <= 120, goal: '<= 120' },
  { label: 'soak missing events', value: (r) => r.soak?.soakMissingEvents, ok: (v) => v === 0, goal: '0 (nothing lost)' },
  { label: 'soak unmarked mails at the end', value: (r) => r.soak?.soakUnmarked, ok: (v) => v === 0, goal: '0' },
  // Our own bound, not an issue's: at 10,000 mails a day, under 1 MB a day.
  { label: 'leak: live heap growth per mail (B)', value: (r) => r.leak?.leakBytesPerMail, ok: (v) => v <= 100, goal: '<= 100' },
  { label: 'leak: missing events', value: (r) => r.leak?.leakMissingEvents, ok: (v) => v === 0, goal: '0' },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const named = args.filter((a) => !a.startsWith('--'));
const chosen = named.length > 0 ? named : Object.keys(parts).filter((p) => !(quick && (p === 'soak' || p === 'leak')));
const unknown = chosen.filter((p) => !(p in parts));
if (unknown.length > 0) {
  console.error(`bench: unknown part(s) ${unknown.join(', ')}; choose from ${Object.keys(parts).join(', ')}`);
  process.exit(2);
}

const results: Record<string, Numbers> = {};
let failed = false;
for (const name of chosen) {
  console.log(`\n=== ${name} ===`);
  try {
    results[name] = await (parts[name] as () => Promise<Numbers>)();
    console.log(JSON.stringify(results[name]));
  } catch (err) {
    failed = true;
    console.error(`bench ${name} failed:`, err);
  }
}

console.log('\n=== summary (target check, informational) ===');
for (const t of targets) {
  const v = t.value(results);
  if (v === undefined) continue;
  console.log(`${t.ok(v) ? 'meets ' : 'BELOW '} ${t.label.padEnd(44)} ${String(v).padStart(10)}   target ${t.goal}`);
}
process.exit(failed ? 1 : 0);
