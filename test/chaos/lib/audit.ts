/**
 * The end-of-test audit: did every mail's every event arrive at least once,
 * is every mail marked in the mailbox, how many duplicates, how long did the
 * slowest mail wait. The mailbox is the ground truth for which mails exist
 * (the feeder's `uncertain` mails count only when they are really there).
 */
import type { Cyrus } from '../../helpers/cyrus.js';
import type { Feeder } from './feeder.js';
import { expectedEventId, type Recorder } from './recorder.js';
import { sleep } from './env.js';

export interface MailboxMail {
  uid: number;
  flags: Set<string>;
  /** Without angle brackets; undefined when the mail has none. */
  messageId: string | undefined;
}

/** Every mail of `folder` with its flags and Message-Id; [] when the folder does not exist. */
export async function mailboxState(cyrus: Cyrus, folder = 'INBOX'): Promise<MailboxMail[]> {
  return cyrus.withImap(async (client) => {
    let lock;
    try {
      lock = await client.getMailboxLock(folder, { readOnly: true });
    } catch {
      return [];
    }
    try {
      const mb = client.mailbox;
      if (mb === false || mb.exists === 0) return [];
      const msgs = await client.fetchAll('1:*', { uid: true, flags: true, envelope: true });
      return msgs
        .map((m) => ({
          uid: m.uid,
          flags: new Set(m.flags ?? []),
          messageId: m.envelope?.messageId?.replace(/^<|>$/g, '') || undefined,
        }))
        .sort((a, b) => a.uid - b.uid);
    } finally {
      lock.release();
    }
  });
}

export const FAILED_FLAG = '$LpmqttFailed';

export interface AuditReport {
  /** Mails that must be published: accepted by LMTP, plus uncertain ones found in the mailbox. */
  mails: number;
  /** Events those mails must yield (one per target). */
  expectedEvents: number;
  /** Of those, how many arrived at least once. */
  deliveredEvents: number;
  /** `message-id → target` of every expected event that never arrived (first 20). */
  missing: string[];
  missingCount: number;
  /** UIDs in the folder neither \Seen nor flagged failed (first 20). */
  unmarked: number[];
  unmarkedCount: number;
  /** Mails in the folder (any state). */
  inMailbox: number;
  /** Accepted mails that are not in the folder at all (Cyrus lost them? first 20). */
  notInMailbox: string[];
  /** Arrivals beyond the first, over the expected event ids. */
  duplicateEvents: number;
  /** Mails with at least one event that arrived more than once. */
  duplicateMails: number;
  /** Arrivals whose event-id is not expected (first 20). */
  stray: string[];
  uncertainPresent: number;
  uncertainAbsent: number;
  /** LMTP accepted → first event of the mail (every target), ms. */
  maxWaitMs: number;
  p50WaitMs: number;
  p99WaitMs: number;
}

export interface AuditInput {
  cyrus: Cyrus;
  recorder: Recorder;
  feeder: Feeder;
  folder?: string;
}

export async function audit(inp: AuditInput): Promise<AuditReport> {
  const { recorder, feeder } = inp;
  const box = await mailboxState(inp.cyrus, inp.folder ?? 'INBOX');
  const boxByMid = new Map<string, MailboxMail>();
  for (const m of box) if (m.messageId !== undefined) boxByMid.set(m.messageId, m);

  const mails: { messageId: string; targets: string[]; at: number | undefined }[] = [];
  for (const a of feeder.accepted.values()) mails.push({ messageId: a.messageId, targets: a.targets, at: a.at });
  let uncertainPresent = 0;
  let uncertainAbsent = 0;
  for (const [mid, m] of feeder.uncertain) {
    if (boxByMid.has(mid)) {
      uncertainPresent++;
      mails.push({ messageId: mid, targets: m.targets, at: undefined });
    } else {
      uncertainAbsent++;
    }
  }

  const expectedIds = new Set<string>();
  const missing: string[] = [];
  let missingCount = 0;
  let delivered = 0;
  let duplicateEvents = 0;
  let duplicateMails = 0;
  const waits: number[] = [];
  const notInMailbox: string[] = [];
  for (const m of mails) {
    if (!boxByMid.has(m.messageId) && notInMailbox.length < 20) notInMailbox.push(m.messageId);
    let dup = false;
    let lastFirst = 0;
    let complete = true;
    for (const target of m.targets) {
      const id = expectedEventId(m.messageId, target === '' ? undefined : target);
      expectedIds.add(id);
      const got = inp.recorder.byEventId.get(id);
      if (!got || got.length === 0) {
        missingCount++;
        complete = false;
        if (missing.length < 20) missing.push(`${m.messageId} → ${target || '(no project)'}`);
        continue;
      }
      delivered++;
      if (got.length > 1) {
        dup = true;
        duplicateEvents += got.length - 1;
      }
      lastFirst = Math.max(lastFirst, got[0]?.at ?? 0);
    }
    if (dup) duplicateMails++;
    if (complete && m.targets.length > 0 && m.at !== undefined) waits.push(lastFirst - m.at);
  }
  const stray: string[] = [];
  for (const [id, rs] of recorder.byEventId) {
    if (!expectedIds.has(id) && stray.length < 20) stray.push(`${id} ${rs[0]?.topic ?? ''} ${String(rs[0]?.payload['message-id'] ?? '')}`);
  }
  const unmarkedAll = box.filter((m) => !m.flags.has('\\Seen') && !m.flags.has(FAILED_FLAG)).map((m) => m.uid);
  waits.sort((a, b) => a - b);
  const pct = (p: number): number => (waits.length === 0 ? NaN : (waits[Math.min(waits.length - 1, Math.ceil((p / 100) * waits.length) - 1)] as number));
  return {
    mails: mails.length,
    expectedEvents: expectedIds.size,
    deliveredEvents: delivered,
    missing,
    missingCount,
    unmarked: unmarkedAll.slice(0, 20),
    unmarkedCount: unmarkedAll.length,
    inMailbox: box.length,
    notInMailbox,
    duplicateEvents,
    duplicateMails,
    stray,
    uncertainPresent,
    uncertainAbsent,
    maxWaitMs: waits.at(-1) ?? NaN,
    p50WaitMs: pct(50),
    p99WaitMs: pct(99),
  };
}

/** Waits (up to `ms`) until every expected event arrived and every mail is marked; then audits. */
export async function drainAndAudit(inp: AuditInput, ms: number): Promise<AuditReport> {
  const end = Date.now() + ms;
  let report = await audit(inp);
  while (Date.now() < end && (report.missingCount > 0 || report.unmarkedCount > 0)) {
    await sleep(1000);
    report = await audit(inp);
  }
  return report;
}

export function formatReport(r: AuditReport): string {
  return [
    `mails ${r.mails} (in mailbox ${r.inMailbox}, uncertain present ${r.uncertainPresent} / absent ${r.uncertainAbsent})`,
    `events delivered/expected ${r.deliveredEvents}/${r.expectedEvents}, missing ${r.missingCount}${r.missing.length ? `: ${r.missing.join(', ')}` : ''}`,
    `unmarked ${r.unmarkedCount}${r.unmarked.length ? ` (uids ${r.unmarked.join(',')})` : ''}`,
    `duplicates ${r.duplicateEvents} events in ${r.duplicateMails} mails`,
    `wait max ${r.maxWaitMs} ms, p50 ${r.p50WaitMs}, p99 ${r.p99WaitMs}`,
    r.notInMailbox.length ? `accepted but not in mailbox: ${r.notInMailbox.join(', ')}` : '',
    r.stray.length ? `stray events: ${r.stray.join('; ')}` : '',
  ].filter(Boolean).join('\n  ');
}
