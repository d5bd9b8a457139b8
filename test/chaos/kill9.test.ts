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
  const backlog = sized(200, 2000);
  const rate = 20;
  const s = await startStack(t, { noDaemon: true, config: { imap: { batch_size: BATCH } } });
  const feeder = s.feeder(`k9-${seed}`);
  await feeder.backlog(backlog);

  await s.daemon.start();
  feeder.start(rate);
  const killTimes: number[] = [];
  for (let k = 0; k < kills; k++) {
    // Anywhere from "still connecting" to "deep in the backlog" to "idle between mails".
    await sleep(between(rng, 150, 2000));
    killTimes.push(Date.now());
    await s.daemon.kill9();
    await sleep(between(rng, 0, 300));
    await s.daemon.start();
  }
  await feeder.stop();
  const report = await s.drainAndAudit(feeder, 90_000);

  // Duplicates per kill: second and later arrivals of an event, counted as mails,
  // charged to the last kill before they arrived.
  const perKill = killTimes.map(() => new Set<string>());
  for (const receipts of s.recorder.byEventId.values()) {
    for (const r of receipts.slice(1)) {
      let k = -1;
      for (let i = 0; i < killTimes.length; i++) if ((killTimes[i] as number) <= r.at) k = i;
      const mid = String(r.payload['message-id']);
      if (k >= 0) perKill[k]?.add(mid);
      else perKill[0]?.add(`before-any-kill:${mid}`);
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
