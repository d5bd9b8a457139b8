/** IMAP sequence sets (RFC 9051 §9 `sequence-set`) from lists of UIDs. Pure. */

/** `[1,2,3,4,5,7]` → `"1:5,7"`: sorted, duplicates dropped, runs collapsed. */
export function toUidSet(uids: Iterable<number>): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  let start: number | undefined;
  let prev = 0;
  for (const uid of sorted) {
    if (!Number.isSafeInteger(uid) || uid < 1) throw new RangeError(`not a UID: ${uid}`);
    if (start === undefined) {
      start = prev = uid;
    } else if (uid === prev + 1) {
      prev = uid;
    } else {
      parts.push(start === prev ? `${start}` : `${start}:${prev}`);
      start = prev = uid;
    }
  }
  if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}:${prev}`);
  return parts.join(',');
}

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
