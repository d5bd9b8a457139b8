/**
 * The mailbox changes under the daemon's feet:
 * - the watched folder is deleted and recreated (new UIDVALIDITY, UIDs start
 *   at 1 again): the daemon notices, re-selects and processes what is there,
 *   both when the folder comes back at once and when it is gone for a while;
 * - the failed folder is missing (created, mail moved) or cannot be created
 *   (a clear error naming it; the mail is flagged and left in place, and not
 *   fetched again and again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeForeignMail } from '../helpers/mailgen.js';
import { appendMails } from './lib/append.js';
import { FAILED_FLAG, formatReport, mailboxState, type AuditReport } from './lib/audit.js';
import { dumpOnFailure, sized, sleep, until } from './lib/env.js';
import type { FedMail } from './lib/feeder.js';
import { startStack } from './lib/stack.js';
import type { LogLine } from './lib/daemon.js';

function assertAllThere(r: AuditReport, what: string): void {
  assert.equal(r.missingCount, 0, `${what}: events lost:\n  ${formatReport(r)}`);
  assert.equal(r.unmarkedCount, 0, `${what}: mails left unmarked:\n  ${formatReport(r)}`);
  assert.ok(r.mails > 0);
}

test('watched folder deleted and recreated: new UIDVALIDITY noticed, what is there processed (at once, and after a gap)', async (t) => {
  const folder = 'INBOX.watch';
  const gapMs = sized(5_000, 30_000);
  const s = await startStack(t, { noDaemon: true, config: { imap: { folder } } });
  await dumpOnFailure(s.daemon, 'uidvalidity', async () => {
    await s.cyrus.createFolder(folder);
    await s.daemon.start();
    await s.daemon.waitConnected();

    const first = s.feeder('uv-1');
    await appendMails(s.cyrus, first, folder, 5);
    assertAllThere(await s.drainAndAudit(first, 30_000, folder), 'before the folder is deleted');
    const uidsBefore = (await mailboxState(s.cyrus, folder)).map((m) => m.uid);

    // Deleted and recreated at once: same name, new UIDVALIDITY, UIDs 1… again, all unseen.
    let from = s.daemon.lines.length;
    await s.cyrus.deleteFolder(folder);
    await s.cyrus.createFolder(folder);
    const second = s.feeder('uv-2');
    await appendMails(s.cyrus, second, folder, 5);
    const uidsAfter = (await mailboxState(s.cyrus, folder)).map((m) => m.uid);
    assert.deepEqual(uidsAfter, uidsBefore, 'the recreated folder reuses the UIDs (that is the trap)');
    await s.daemon.waitForLine((l) => /UIDVALIDITY/.test(l.msg ?? ''), 30_000, from);
    assertAllThere(await s.drainAndAudit(second, 30_000, folder), 'after the folder was recreated');

    // Gone for a while, then back with mail in it.
    from = s.daemon.lines.length;
    await s.cyrus.deleteFolder(folder);
    await sleep(gapMs);
    assert.ok(s.daemon.running, `the daemon exited while the watched folder was missing:\n${s.daemon.tail(15)}`);
    await s.cyrus.createFolder(folder);
    const third = s.feeder('uv-3');
    await appendMails(s.cyrus, third, folder, 5);
    assertAllThere(await s.drainAndAudit(third, 60_000, folder), 'after the folder was missing for a while');
    const missingLines = s.daemon.lines.slice(from).filter((l) => (l.level ?? 0) >= 40);
    console.log(`# uidvalidity: while the folder was missing the daemon logged: ${[...new Set(missingLines.map((l) => l.msg))].join(' | ')}`);
    assert.ok(missingLines.some((l) => l.raw.includes(folder)), 'no warning names the missing folder');
    assert.deepEqual(s.daemon.exits, [], `the daemon exited:\n${s.daemon.tail()}`);
  });
});

const foreignSource = (tag: string) => (i: number): FedMail => {
  const m = makeForeignMail(i);
  // Unique per test, so that the audit can tell these from the bug mails.
  const messageId = `<chaos-${tag}-foreign-${i}@example.org>`;
  const raw = Buffer.from(m.raw.toString('latin1').replace(m.messageId, messageId), 'latin1');
  return { raw, messageId, targets: [] };
};

test('failed folder cannot be created: a clear error naming it, the mail flagged and left in place, not fetched again', async (t) => {
  // Cyrus refuses '%' in a mailbox name ("Invalid mailbox name"). (A folder under an ACL without
  // the create right does not work here: Cyrus gives owners that right implicitly, and imapflow
  // puts every path under the INBOX. namespace, so another user's hierarchy is out of reach.)
  const failedFolder = 'INBOX.fa%iled';
  const s = await startStack(t, { noDaemon: true, config: { imap: { failed_folder: failedFolder } } });
  await dumpOnFailure(s.daemon, 'failed-folder', async () => {
    await assert.rejects(s.cyrus.createFolder(failedFolder), 'precondition: lpmqtt cannot create the failed folder');

    await s.daemon.start();
    await s.daemon.waitConnected();
    const good = s.feeder('ff-good');
    const bad = s.feeder('ff-bad', foreignSource('ff'));
    await good.backlog(3);
    await bad.backlog(3);
    await good.backlog(3);
    const r = await s.drainAndAudit(good, 30_000);
    assertAllThere(r, 'the good mail beside the failed');

    const box = await mailboxState(s.cyrus);
    const badMids = [...bad.accepted.keys()];
    await until('the foreign mails flagged', async () => {
      const b = await mailboxState(s.cyrus);
      return badMids.every((mid) => b.find((m) => m.messageId === mid)?.flags.has(FAILED_FLAG) === true);
    }, 30_000, () => JSON.stringify(box.map((m) => [m.uid, m.messageId, [...m.flags]])));
    const badUids = (await mailboxState(s.cyrus)).filter((m) => m.messageId !== undefined && badMids.includes(m.messageId)).map((m) => m.uid);
    assert.equal(badUids.length, 3, 'the foreign mails are still in INBOX');

    // The error names the folder that could not be created.
    const clear = s.daemon.lines.filter((l) => (l.level ?? 0) >= 50 && l.raw.includes(failedFolder));
    assert.ok(clear.length > 0, `no error line names ${failedFolder}:\n${s.daemon.tail(20)}`);
    console.log(`# failed-folder: error: ${clear[0]?.msg} ${JSON.stringify(clear[0]?.['err'] ?? '')}`);
    // Every set-aside mail has a line with its reason and where it went.
    for (const uid of badUids) {
      const lines = s.daemon.lines.filter((l) => l['uid'] === uid && typeof l['reason'] === 'string');
      assert.equal(lines.length, 1, `uid ${uid}: expected one line giving the reason, got ${lines.length}`);
      assert.match(String(lines[0]?.['where']), /flag/i, `uid ${uid} was not reported as flagged`);
    }

    // No loop: more rounds of work (new mail, watchdog NOOPs) do not fetch them again.
    const more = s.feeder('ff-more');
    await more.backlog(3);
    assertAllThere(await s.drainAndAudit(more, 30_000), 'mail after the failures');
    await sleep(3000);
    for (const uid of badUids) {
      const n = s.daemon.lines.filter((l) => l['uid'] === uid).length;
      assert.equal(n, 1, `uid ${uid} was handled ${n} times`);
    }
    assert.deepEqual(s.daemon.exits, []);
  });
});

test('failed folder missing: created, and the failed mail moved there with its reason logged (batches racing to create it)', async (t) => {
  const failedFolder = 'INBOX.failed';
  const nBad = 40;
  // Small batches, all waiting before the daemon starts: several batches set mail aside at once.
  const s = await startStack(t, { noDaemon: true, config: { imap: { failed_folder: failedFolder, batch_size: 5 } } });
  await dumpOnFailure(s.daemon, 'failed-missing', async () => {
    assert.deepEqual(await mailboxState(s.cyrus, failedFolder), [], 'precondition: no failed folder');
    const bad = s.feeder('fm-bad', foreignSource('fm'));
    const good = s.feeder('fm-good');
    await bad.backlog(nBad);
    await good.backlog(5);
    await s.daemon.start();
    assertAllThere(await s.drainAndAudit(good, 30_000), 'the good mail');
    const reasons = (): LogLine[] => s.daemon.lines.filter((l) => l.msg === 'mail not published' && typeof l['reason'] === 'string');
    await until(`${nBad} set-aside lines`, () => reasons().length >= nBad, 30_000, () => s.daemon.tail(10));
    const moved = (await mailboxState(s.cyrus, failedFolder)).map((m) => m.messageId).sort();
    const flagged = (await mailboxState(s.cyrus)).filter((m) => m.flags.has(FAILED_FLAG)).length;
    const where = [...new Set(reasons().map((l) => String(l['where'])))];
    console.log(`# failed-missing: ${moved.length} moved, ${flagged} flagged; where: ${where.join(' | ')}; e.g. uid ${String(reasons()[0]?.['uid'])}: ${String(reasons()[0]?.['reason'])}`);
    assert.ok(s.daemon.lines.some((l) => /created/.test(l.msg ?? '') && l.raw.includes(failedFolder)), 'no line says the folder was created');
    assert.equal(reasons().length, nBad, 'one line per set-aside mail with its reason');
    assert.equal(flagged, 0, `${flagged} mails flagged in INBOX although ${failedFolder} could be created (batches racing to create it?):\n${s.daemon.problems().map((l) => l.raw.slice(0, 300)).join('\n')}`);
    assert.deepEqual(moved, [...bad.accepted.keys()].sort(), 'every failed mail moved to the failed folder');
    const inbox = await mailboxState(s.cyrus);
    assert.equal(inbox.filter((m) => m.messageId !== undefined && bad.accepted.has(m.messageId)).length, 0, 'moved, not copied');
  });
});
