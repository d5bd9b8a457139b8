/**
 * RFC 5322 §3.3 date-time → ISO 8601 UTC, including the obsolete forms of
 * §4.3 (two-digit years, named zones). No Date.parse: its behaviour on odd
 * input is implementation-defined, and a wrong date is worse than none.
 */

const MONTHS: Record<string, number> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};

// Obsolete zone names (RFC 5322 §4.3); military letters count as -0000 (unknown).
const ZONES: Record<string, number> = {
  ut: 0, utc: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
};

const DATE =
  /^\s*(?:[A-Za-z]{2,9}\s*,?\s*)?(\d{1,2})\s*[- ]\s*([A-Za-z]{3})[A-Za-z]*\.?\s*[- ]\s*(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,5})?/;

/** Parse a Date header; undefined when it is missing or not a date. */
export function parseMailDate(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = DATE.exec(value.length > 200 ? value.slice(0, 200) : value);
  if (!m) return undefined;
  const day = Number(m[1]);
  const month = MONTHS[(m[2] ?? '').toLowerCase()];
  let year = Number(m[3]);
  const yearDigits = (m[3] ?? '').length;
  if (yearDigits === 2) year += year < 50 ? 2000 : 1900;
  else if (yearDigits === 3) year += 1900;
  if (year < 1900) return undefined;
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month === undefined || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  let offset = 0;
  const zone = m[7];
  if (zone !== undefined) {
    if (zone[0] === '+' || zone[0] === '-') {
      const hh = Number(zone.slice(1, 3));
      const mm = Number(zone.slice(3, 5));
      if (mm > 59) return undefined;
      offset = (zone[0] === '-' ? -1 : 1) * (hh * 60 + mm);
    } else {
      offset = ZONES[zone.toLowerCase()] ?? 0;
    }
  }
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
  const d = new Date(ms);
  // Date.UTC rolls 31 Feb over into March; such a date is not a date.
  if (Number.isNaN(ms) || new Date(Date.UTC(year, month, day)).getUTCDate() !== day) return undefined;
  return d.toISOString();
}
