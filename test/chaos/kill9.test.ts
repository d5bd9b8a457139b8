/**
 * kill -9 of the daemon at random points (seeded; the seed is printed) while
 * a backlog drains and a steady stream of mail arrives. Afterwards every mail's
 * every event has arrived at least once, every mail is marked \Seen, and the
 * duplicates a kill causes stay within one batch (imap.batch_size mails).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport } from './lib/audit.js';
import { between, chaosSeed, prng, sized, sleep } from './lib/env.js';
import { startStack } from './lib/stack.js';

const BATCH = 20;

test('kill -9 at random points: every mail published at least once and marked; duplicates within one batch per kill', async (t) => {
  const seed = chaosSeed('kill9');
  const rng = prng(seed);
  const kills = sized(10, 30);
  const backlog = sized(1000, 3000);
  const rate = 20;
  const s = await startStack(t, { noDaemon: true, config: { imap: { batch_size: BATCH } } });
  const feeder = s.feeder(`k9-${seed}`);
  await feeder.backlog(backlog);

  await s.daemon.start();
  feeder.start(rate);
  const killTimes: number[] = [];
  for (let k = 0; k < kills; k++) {
    // Anywhere from "still connecting" to "deep in the backlog" to "idle between mails":
    // half the kills at a random time after the spawn, half at a random time after the run's
    // first publish (start-up alone takes about a second, and kills there find nothing in flight).
    if (rng() < 0.5) {
      await sleep(between(rng, 150, 2000));
    } else {
      const run = s.daemon.run;
      await s.daemon.waitForLine((l) => l.run === run && l.msg === 'published', 20_000).catch(() => undefined);
      await sleep(between(rng, 0, 800));
    }
    killTimes.push(Date.now());
    await s.daemon.kill9();
    await sleep(between(rng, 0, 300));
    await s.daemon.start();
  }
  await feeder.stop();
  const report = await s.drainAndAudit(feeder, 90_000);

  // Duplicates per kill: a copy beyond the first is charged to the kill that ended the run in
  // which the copy before it arrived (that run published the mail and died before marking it).
  // Arrivals trail the broker's ack by a few ms, hence the 50 ms of slack.
  const perKill = killTimes.map(() => new Set<string>());
  for (const receipts of s.recorder.byEventId.values()) {
    for (let i = 1; i < receipts.length; i++) {
      const prev = (receipts[i - 1]?.at ?? 0) - 50;
      const k = killTimes.findIndex((kt) => kt >= prev);
      const mid = String(receipts[i]?.payload['message-id']);
      if (k >= 0) perKill[k]?.add(mid);
      else perKill.push(new Set([`after the last kill: ${mid}`]));
    }
  }
  const dupPerKill = perKill.map((set) => set.size);
  console.log(`# kill9: ${kills} kills, backlog ${backlog}, ${rate} mails/s; ${formatReport(report)}`);
  console.log(`# kill9: duplicate mails per kill: ${dupPerKill.join(' ')} (bound ${BATCH}); daemon runs ${s.daemon.run}`);

  assert.ok(s.daemon.running, `the daemon is not running at the end:\n${s.daemon.tail()}`);
  assert.equal(report.missingCount, 0, `events lost:\n  ${formatReport(report)}`);
  assert.equal(report.unmarkedCount, 0, `mails left unmarked:\n  ${formatReport(report)}`);
  assert.deepEqual(report.notInMailbox, [], 'Cyrus lost accepted mail (harness problem, not the daemon)');
  assert.equal(report.mails, feeder.accepted.size + report.uncertainPresent);
  assert.ok(report.mails >= backlog, `only ${report.mails} mails fed`);
  assert.deepEqual(report.stray, [], 'events for mails that were never delivered');
  assert.ok(report.duplicateMails <= BATCH * kills, `${report.duplicateMails} mails duplicated, more than ${BATCH} × ${kills} kills`);
  for (const [k, n] of dupPerKill.entries()) {
    assert.ok(n <= BATCH, `kill #${k + 1} (seed ${seed}) caused ${n} duplicated mails, more than one batch (${BATCH})`);
  }
  // Nothing but the kills went wrong: no run ended on its own.
  const selfExits = s.daemon.exits.filter((e) => e.signal !== 'SIGKILL');
  assert.deepEqual(selfExits, [], `a daemon run exited by itself:\n${s.daemon.tail()}`);
});
