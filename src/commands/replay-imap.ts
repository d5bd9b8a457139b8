/**
 * `lpmqtt replay --imap-folder NAME`: re-publish the mail waiting in an IMAP
 * folder (typically the failed folder after a fix) and exit. It is the
 * daemon's own Bridge pointed at that folder: the same batches, the same
 * at-least-once marking (`imap.after_publish` after the broker acknowledged
 * every event), the same verification. It stops once the folder's unseen
 * mail has been handled.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Verifier } from '../verify.js';
import type { MailEvent, MailResult } from '../bridge.js';

export interface ImapReplaySummary {
  folder: string;
  found: number;
  counts: Record<MailResult, number>;
  /** Mail still waiting when replay stopped (deferred, or unacknowledged at the deadline). */
  left: number;
}

/**
 * Runs the bridge on `folder` until the unseen mail found there at start has
 * been handled, or until nothing has moved for `quietMs`.
 */
export async function replayImapFolder(opts: {
  config: Config;
  folder: string;
  log: Logger;
  verifier?: Verifier | undefined;
  quietMs?: number;
  signal?: AbortSignal;
}): Promise<ImapReplaySummary> {
  const { Bridge } = await import('../bridge.js');
  const { config, folder, log } = opts;
  // Mail that still fails must not be moved into the folder it is replayed
  // from (it would come back as new mail, again and again): it is flagged in place.
  const failedFolder = config.imap.failed_folder === folder ? null : config.imap.failed_folder;
  if (failedFolder === null && config.imap.failed_folder !== null) {
    log.info({ folder }, 'replaying the failed folder: mail that fails again is flagged $LpmqttFailed there, not moved');
  }
  const bridge = new Bridge({
    config: { ...config, imap: { ...config.imap, folder, failed_folder: failedFolder } },
    log,
    verifier: opts.verifier,
    publisher: { clientIdSuffix: `-replay-${process.pid}`, status: false },
  });
  // What is waiting there now: replay is done once each of these was handled.
  const { ImapSession } = await import('../imap/session.js');
  const probe = await ImapSession.open({ ...config.imap, folder }, log, { readOnly: true });
  let pending: Set<number>;
  try {
    pending = new Set(await probe.searchPending(0));
  } finally {
    await probe.logout();
  }
  const found = pending.size;
  const counts: Record<MailResult, number> = { published: 0, foreign: 0, private: 0, rejected: 0, failed: 0, deferred: 0 };
  let lastProgress = Date.now();
  let fatal: Error | undefined;
  bridge.on('mail', (m: MailEvent) => {
    counts[m.result] += 1;
    lastProgress = Date.now();
    // Deferred mail waits for a retry with backoff; replay does not wait for it.
    pending.delete(m.uid);
  });
  bridge.on('fatal', (err: Error) => {
    fatal = err;
  });
  log.info({ folder, found }, `replay: ${found} unseen mails in IMAP folder ${folder}`);

  const quietMs = opts.quietMs ?? Math.max(10_000, config.mqtt.publish_timeout * 1000 + 5_000);
  await bridge.start();
  try {
    while (pending.size > 0 && !fatal && !opts.signal?.aborted) {
      if (Date.now() - lastProgress > quietMs) {
        log.warn({ folder, waiting: pending.size }, 'replay: no progress for a while; stopping, the rest stays unmarked');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    // stop() lets in-flight mail be acknowledged and marked; nothing unacknowledged is marked.
    await bridge.stop();
  }
  if (fatal) throw fatal;
  return { folder, found, counts, left: pending.size + counts.deferred };
}

/** One line for people: what happened to the folder's mail. */
export function describeImapSummary(s: ImapReplaySummary): string {
  const c = s.counts;
  return (
    `replay of IMAP folder ${s.folder}: ${s.found} mails found, ${c.published} published, ${c.private} private (skipped), ` +
    `${c.foreign + c.rejected} set aside (${c.foreign} foreign, ${c.rejected} rejected), ${c.failed} failed, ${c.deferred} deferred, ${s.left} left`
  );
}
