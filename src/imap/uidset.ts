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

/**
 * `"1:5,7"` → `[1,2,3,4,5,7]`, sorted, duplicates dropped (`*` is not
 * accepted: the server's answers name real UIDs). Throws RangeError on
 * anything else, and when the set holds more than `limit` numbers, so a
 * broken answer cannot make us allocate billions of them.
 */
export function fromUidSet(set: string, limit: number): number[] {
  const out = new Set<number>();
  if (set.trim() === '') return [];
  for (const part of set.split(',')) {
    const m = /^\s*(\d{1,10})(?::(\d{1,10}))?\s*$/.exec(part);
    if (!m) throw new RangeError(`not a UID set: ${JSON.stringify(set.slice(0, 80))}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    if (lo < 1 || hi > 0xffffffff) throw new RangeError(`not a UID: ${part.trim()}`);
    if (hi - lo + 1 > limit - out.size) throw new RangeError(`UID set names more than ${limit} messages`);
    for (let uid = lo; uid <= hi; uid++) out.add(uid);
  }
  return [...out].sort((x, y) => x - y);
}
