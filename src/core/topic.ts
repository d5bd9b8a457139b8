/**
 * Topics (SPEC §4): `<base>/<project>/<event-type>/<bug-number>`, each level
 * escaped so that no value can add a level or a wildcard, or carry a
 * character MQTT forbids or brokers reject (MQTT 5.0 §1.5.4).
 */

function pct(byte: number): string {
  return `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
}

function pctUtf8(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += pct(b);
  return out;
}

/** Percent-encode the WTF-8 bytes of a lone surrogate (it has no UTF-8 form). */
function pctSurrogate(cu: number): string {
  return pct(0xe0 | (cu >> 12)) + pct(0x80 | ((cu >> 6) & 0x3f)) + pct(0x80 | (cu & 0x3f));
}

function needsEscape(c: number): boolean {
  return (
    c < 0x20 || // C0 controls, NUL
    c === 0x25 || // %
    c === 0x2f || // /
    c === 0x2b || // +
    c === 0x23 || // #
    (c >= 0x7f && c <= 0x9f) || // DEL, C1 controls
    (c >= 0xd800 && c <= 0xdfff) || // surrogates (checked for pairing below)
    (c >= 0xfdd0 && c <= 0xfdef) || // non-characters
    c === 0xfffe ||
    c === 0xffff
  );
}

/**
 * Escape one topic level: `%` `/` `+` `#`, control characters (C0, DEL, C1),
 * non-characters and lone surrogates become `%XX` (upper-case hex of their
 * UTF-8 bytes). Injective: `%` itself is escaped, so the result decodes back.
 */
export function escapeTopicLevel(s: string): string {
  let i = 0;
  const len = s.length;
  while (i < len && !needsEscape(s.charCodeAt(i))) i++;
  if (i === len) return s;
  let out = s.slice(0, i);
  while (i < len) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        // Plane-end non-characters U+xFFFE / U+xFFFF.
        out += (cp & 0xfffe) === 0xfffe ? pctUtf8(s.slice(i, i + 2)) : s.slice(i, i + 2);
        i += 2;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) out += pctSurrogate(c);
    else if (needsEscape(c)) out += c < 0x80 ? pct(c) : pctUtf8(s[i] as string);
    else out += s[i];
    i++;
  }
  return out;
}

/**
 * `base` followed by the escaped levels, filled left to right and cut at the
 * first missing (undefined or empty) level. `base` is configuration and is
 * used as written (it may contain `/`).
 */
export function buildTopic(base: string, levels: readonly (string | undefined)[]): string {
  let topic = base;
  for (const level of levels) {
    if (level === undefined || level === '') break;
    topic += `/${escapeTopicLevel(level)}`;
  }
  return topic;
}
