/**
 * RFC 5322 §3.3 date-time → ISO 8601 UTC, including the obsolete forms of
 * §4.3 (two-digit years, named zones, missing seconds or zone). A small
 * hand-written scanner: no Date.parse (its behaviour on odd input is
 * implementation-defined, and a wrong date is worse than none) and no big
 * regular expression on the hot path.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

// Obsolete zone names (RFC 5322 §4.3); military letters and unknown names count as -0000 (unknown).
const ZONES: Record<string, number> = {
  ut: 0, utc: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
};

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  skipSpace(): void {
    const s = this.s;
    while (this.i < s.length && (s.charCodeAt(this.i) === 0x20 || s.charCodeAt(this.i) === 0x09)) this.i++;
  }
  /** Up to `max` digits: their value and how many there were. */
  digits(max: number): { value: number; count: number } {
    const s = this.s;
    let value = 0;
    let count = 0;
    while (count < max && this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      count++;
      this.i++;
    }
    return { value, count };
  }
  letters(max: number): string {
    const s = this.s;
    const start = this.i;
    while (this.i - start < max && this.i < s.length) {
      const c = s.charCodeAt(this.i) | 0x20;
      if (c < 0x61 || c > 0x7a) break;
      this.i++;
    }
    return s.slice(start, this.i);
  }
  eat(ch: string): boolean {
    if (this.s[this.i] === ch) {
      this.i++;
      return true;
    }
    return false;
  }
}

/** Parse a Date header; undefined when it is missing or not a date. */
export function parseMailDate(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const sc = new Scanner(value.length > 200 ? value.slice(0, 200) : value);
  sc.skipSpace();
  // Optional day of week: "Wed," (the comma is optional in the wild).
  const save = sc.i;
  const dow = sc.letters(9);
  if (dow.length >= 2) {
    sc.skipSpace();
    sc.eat(',');
  } else {
    sc.i = save;
  }
  sc.skipSpace();
  const day = sc.digits(2);
  if (day.count === 0) return undefined;
  sc.skipSpace();
  sc.eat('-');
  sc.skipSpace();
  const mon = sc.letters(9).slice(0, 3).toLowerCase();
  const month = MONTHS.indexOf(mon);
  if (month < 0) return undefined;
  sc.eat('.');
  sc.skipSpace();
  sc.eat('-');
  sc.skipSpace();
  const y = sc.digits(4);
  if (y.count < 2) return undefined;
  let year = y.value;
  if (y.count === 2) year += year < 50 ? 2000 : 1900;
  else if (y.count === 3) year += 1900;
  if (year < 1900) return undefined;
  sc.skipSpace();
  const hh = sc.digits(2);
  if (hh.count === 0 || !sc.eat(':')) return undefined;
  const mi = sc.digits(2);
  if (mi.count !== 2) return undefined;
  let second = 0;
  if (sc.eat(':')) {
    const ss = sc.digits(2);
    if (ss.count !== 2) return undefined;
    second = ss.value;
  }
  sc.skipSpace();
  let offset = 0;
  const sign = sc.s[sc.i];
  if (sign === '+' || sign === '-') {
    sc.i++;
    const z = sc.digits(4);
    if (z.count !== 4) return undefined;
    const zh = Math.floor(z.value / 100);
    const zm = z.value % 100;
    if (zm > 59) return undefined;
    offset = (sign === '-' ? -1 : 1) * (zh * 60 + zm);
  } else {
    offset = ZONES[sc.letters(5).toLowerCase()] ?? 0;
  }
  const d = day.value;
  if (d < 1 || d > daysInMonth(year, month) || hh.value > 23 || mi.value > 59 || second > 60) return undefined;
  const sec = Math.min(second, 59);
  if (offset === 0) {
    // The common case (Launchpad writes -0000): format without a Date object.
    return `${year}-${pad2(month + 1)}-${pad2(d)}T${pad2(hh.value)}:${pad2(mi.value)}:${pad2(sec)}.000Z`;
  }
  return new Date(Date.UTC(year, month, d, hh.value, mi.value, sec) - offset * 60_000).toISOString();
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function daysInMonth(year: number, month: number): number {
  if (month === 1) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}
