/**
 * Put mail straight into a folder with IMAP APPEND (as lpmqtt), for folders
 * LMTP does not deliver to.
 */
import type { Cyrus } from '../../helpers/cyrus.js';
import type { Feeder } from './feeder.js';

/** APPENDs the feeder's next `n` mails to `folder` and records them as accepted. */
export async function appendMails(cyrus: Cyrus, feeder: Feeder, folder: string, n: number): Promise<void> {
  const mails = feeder.take(n);
  await cyrus.withImap(async (client) => {
    for (const m of mails) {
      const res = await client.append(folder, m.raw);
      if (res === false) throw new Error(`APPEND to ${folder} failed`);
      feeder.record(m);
    }
  });
}
