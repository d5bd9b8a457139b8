/**
 * Knobs and small tools shared by the chaos tests.
 *
 *   LPMQTT_CHAOS_SCALE=ci|full   size of every test (default ci: fits CI's budget;
 *                                full: the issue's sizes, e.g. refusals of a minute)
 *   LPMQTT_CHAOS_SEED=N          replay a failing run: every random choice (kill points,
 *                                fault times, generated mail) derives from this seed
 */
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export type Scale = 'ci' | 'full';

export function scale(): Scale {
  const v = (process.env.LPMQTT_CHAOS_SCALE ?? 'ci').toLowerCase();
  if (v !== 'ci' && v !== 'full') throw new Error(`LPMQTT_CHAOS_SCALE must be "ci" or "full", not ${JSON.stringify(v)}`);
  return v;
}

/** `ci` value at CI scale, `full` value at full scale. */
export function sized<T>(ci: T, full: T): T {
  return scale() === 'full' ? full : ci;
}

export type Rng = () => number;

/** The tests' one seeded generator (mulberry32), shared with the mail generator. */
export { prng } from '../../helpers/mailgen.js';

/**
 * The seed of this run: LPMQTT_CHAOS_SEED, else a fresh one. Printed (with the
 * test's name) so that a failure can be replayed exactly.
 */
export function chaosSeed(what: string): number {
  const env = process.env.LPMQTT_CHAOS_SEED;
  const seed = env !== undefined && env !== '' ? Number.parseInt(env, 10) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  if (env !== undefined && env !== '' && !Number.isFinite(Number.parseInt(env, 10))) {
    throw new Error(`LPMQTT_CHAOS_SEED must be an integer, not ${JSON.stringify(env)}`);
  }
  console.log(`# ${what}: seed ${seed} (replay with LPMQTT_CHAOS_SEED=${seed}, scale ${scale()})`);
  return seed;
}

/** Uniform in [lo, hi). */
export function between(rng: Rng, lo: number, hi: number): number {
  return lo + rng() * (hi - lo);
}

/** Poll `cond` every `everyMs` until true; throws naming `what` (and `detail()`) after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number, detail?: () => string, everyMs = 50): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * Runs `fn`; when it throws, writes the daemon's whole log to a file in the
 * temp dir and names it in the error (a kept file only for failures).
 */
export async function dumpOnFailure<T>(daemon: { dump(file: string): void }, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const file = join(tmpdir(), `lpmqtt-chaos-${name}-${process.pid}.log`);
    daemon.dump(file);
    if (err instanceof Error) err.message += `\n(daemon log: ${file})`;
    throw err;
  }
}
