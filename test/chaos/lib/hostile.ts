/**
 * Hostile mail: hand-made cases for every way the issue names (broken MIME,
 * deep nesting, huge header lines, header floods, a 50 MB attachment, NUL
 * bytes, invalid UTF-8, unknown charsets, RFC 2047 garbage, missing and
 * duplicated headers), plus seeded fast-check mutations of the real Launchpad
 * mails in ../shared/launchpad-mails. All look like Launchpad mail
 * (X-Generated-By: Launchpad) so that the parser goes all the way in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { REPO } from './daemon.js';

export interface HostileMail {
  name: string;
  raw: Buffer;
}

export const REAL_MAILS_DIR = join(REPO, '../shared/launchpad-mails');

export function realMails(): { name: string; raw: Buffer }[] {
  return readdirSync(REAL_MAILS_DIR)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => ({ name: f, raw: readFileSync(join(REAL_MAILS_DIR, f)) }));
}

const CRLF = '\r\n';

interface Head {
  subject?: string | null;
  messageId?: string | null;
  date?: string | null;
  extra?: string[];
  contentType?: string;
  cte?: string;
}

/** A Launchpad bug mail's headers (latin1 string), each overridable or omittable (null). */
function head(name: string, h: Head = {}): string {
  const lines = [
    'From: Launchpad Bug Tracker <1800001@bugs.launchpad.net>',
    'To: lpmqtt@example.org',
    'Reply-To: Bug 1800001 <1800001@bugs.launchpad.net>',
  ];
  if (h.subject !== null) lines.push(`Subject: ${h.subject ?? `[Bug 1800001] hostile: ${name}`}`);
  if (h.date !== null) lines.push(`Date: ${h.date ?? 'Mon, 06 Jan 2025 08:00:00 -0000'}`);
  if (h.messageId !== null) lines.push(`Message-Id: ${h.messageId ?? `<hostile-${name}@bugs.launchpad.net>`}`);
  lines.push(
    'MIME-Version: 1.0',
    `Content-Type: ${h.contentType ?? 'text/plain; charset="utf-8"'}`,
    `Content-Transfer-Encoding: ${h.cte ?? '8bit'}`,
    'X-Generated-By: Launchpad (canonical.com); Revision="abc"; Instance="launchpad-main"',
    'X-Launchpad-Notification-Type: bug',
    'X-Launchpad-Bug: product=qemu; status=New; importance=Undecided; assignee=None;',
    'X-Launchpad-Bug-Tags: amd64 hostile',
    'X-Launchpad-Bug-Private: no',
    'X-Launchpad-Bug-Security-Vulnerability: no',
    'X-Launchpad-Bug-Commenters: fuzzer',
    ...(h.extra ?? []),
  );
  return lines.join(CRLF) + CRLF + CRLF;
}

const mail = (name: string, h: Head, body: string | Buffer): HostileMail => ({
  name,
  raw: Buffer.concat([Buffer.from(head(name, h), 'latin1'), typeof body === 'string' ? Buffer.from(body, 'latin1') : body]),
});

const textBody = 'A plain comment on the bug.\r\nSecond line.\r\n';

/** The hand-made cases. `big: false` leaves out the 50 MB one (for parser-level loops). */
export function hostileCases(opts: { big?: boolean } = {}): HostileMail[] {
  const cases: HostileMail[] = [];
  const add = (m: HostileMail): void => {
    cases.push(m);
  };

  // --- broken MIME boundaries
  add(mail('boundary-never-appears', { contentType: 'multipart/mixed; boundary="never-there"' }, `preamble only${CRLF}${textBody}`));
  add(mail('boundary-not-closed', { contentType: 'multipart/mixed; boundary="b1"' },
    `--b1${CRLF}Content-Type: text/plain${CRLF}${CRLF}first part${CRLF}--b1${CRLF}Content-Type: text/plain${CRLF}${CRLF}second part, cut off`));
  add(mail('boundary-empty', { contentType: 'multipart/mixed; boundary=""' }, `--${CRLF}${CRLF}x${CRLF}----${CRLF}`));
  add(mail('boundary-missing-param', { contentType: 'multipart/alternative' }, `--x${CRLF}${CRLF}y${CRLF}--x--${CRLF}`));
  add(mail('boundary-10kb', { contentType: `multipart/mixed; boundary="${'b'.repeat(10_000)}"` }, `--${'b'.repeat(10_000)}${CRLF}${CRLF}text${CRLF}--${'b'.repeat(10_000)}--${CRLF}`));
  add(mail('boundary-prefix-of-another', { contentType: 'multipart/mixed; boundary="ab"' },
    `--ab${CRLF}Content-Type: multipart/mixed; boundary="abc"${CRLF}${CRLF}--abc${CRLF}Content-Type: text/plain${CRLF}${CRLF}inner${CRLF}--ab--${CRLF}--abc--${CRLF}`));
  add(mail('part-without-headers-separator', { contentType: 'multipart/mixed; boundary="q"' }, `--q${CRLF}Content-Type: text/plain${CRLF}no empty line here${CRLF}--q--${CRLF}`));

  // --- deep nesting: 1,000 levels of multipart
  {
    const depth = 1000;
    let open = '';
    let close = '';
    for (let k = 0; k < depth; k++) {
      open += `--n${k}${CRLF}Content-Type: multipart/mixed; boundary="n${k + 1}"${CRLF}${CRLF}`;
      close = `--n${k}--${CRLF}` + close;
    }
    const inner = `--n${depth}${CRLF}Content-Type: text/plain${CRLF}${CRLF}deepest text${CRLF}--n${depth}--${CRLF}`;
    add(mail('nesting-1000', { contentType: 'multipart/mixed; boundary="n0"' }, open + inner + close));
  }
  // message/rfc822 inside message/rfc822, 1,000 deep
  {
    let body = `Content-Type: text/plain${CRLF}${CRLF}innermost${CRLF}`;
    for (let k = 0; k < 1000; k++) body = `Content-Type: message/rfc822${CRLF}${CRLF}${body}`;
    add(mail('rfc822-nesting-1000', { contentType: 'message/rfc822' }, body));
  }

  // --- huge header lines and header floods
  add(mail('subject-1mb-line', { subject: `[Bug 1800001] ${'A'.repeat(1024 * 1024)}` }, textBody));
  add(mail('lp-bug-header-1mb', { extra: [`X-Launchpad-Bug: product=qemu; ${Array.from({ length: 40_000 }, (_, k) => `k${k}=v${k}`).join('; ')}`] }, textBody));
  add(mail('folded-1mb-header', { extra: [`X-Launchpad-Bug-Tags: ${Array.from({ length: 60_000 }, (_, k) => `tag${k}`).join(`${CRLF} `)}`] }, textBody));
  add(mail('headers-10000-junk', { extra: Array.from({ length: 10_000 }, (_, k) => `X-Junk-${k}: value ${k}`) }, textBody));
  add(mail('headers-10000-lp-bug-distinct-targets', {
    extra: Array.from({ length: 10_000 }, (_, k) => `X-Launchpad-Bug: product=p${k}; status=New; importance=Undecided; assignee=None;`),
  }, textBody));
  add(mail('headers-10000-commenters', { extra: Array.from({ length: 10_000 }, (_, k) => `X-Launchpad-Bug-Commenters: person${k}`) }, textBody));

  // --- a 50 MB attachment
  if (opts.big !== false) {
    const b64 = Buffer.alloc(37 * 1024 * 1024, 0x5a).toString('base64').replace(/.{76}/g, `$&${CRLF}`);
    add(mail('attachment-50mb', { contentType: 'multipart/mixed; boundary="att"' },
      `--att${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}${CRLF}${textBody}--att${CRLF}Content-Type: application/octet-stream${CRLF}Content-Disposition: attachment; filename="core.dump"${CRLF}Content-Transfer-Encoding: base64${CRLF}${CRLF}${b64}${CRLF}--att--${CRLF}`));
    // 50 MB as the one text/plain body (the parser must cut it, not copy it around).
    add(mail('body-50mb-text', {}, Buffer.alloc(50 * 1024 * 1024, 0x61)));
  }

  // --- NUL bytes (Cyrus' LMTP refuses these; they go through replay --dry-run)
  add(mail('nul-in-body', {}, `before\u0000after${CRLF}`));
  add(mail('nul-in-subject', { subject: '[Bug 1800001] a\u0000b' }, textBody));
  add(mail('nul-in-header-name', { extra: ['X-Launchpad-Bug\u0000: product=evil; status=New;'] }, textBody));

  // --- invalid UTF-8, unknown charsets, broken transfer encodings
  add(mail('invalid-utf8-body', {}, Buffer.from([0x68, 0x69, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x0d, 0x0a, 0xf0, 0x9f, 0x0d, 0x0a])));
  add(mail('invalid-utf8-headers', { subject: '[Bug 1800001] \xff\xfe\xc3\x28', extra: ['X-Launchpad-Bug-Modifier: \xc0\xaf\xed\xa0\x80 (evil)'] }, textBody));
  add(mail('unknown-charset', { contentType: 'text/plain; charset="x-klingon-8"', cte: 'quoted-printable' }, `caf=E9 na=EFve${CRLF}`));
  add(mail('unknown-cte', { cte: 'x-uuencode-ish' }, `begin 644 x${CRLF}end${CRLF}`));
  add(mail('base64-garbage', { cte: 'base64' }, `!!!!****====${CRLF}Zm9v${CRLF}????${CRLF}`));
  add(mail('qp-broken', { cte: 'quoted-printable' }, `=ZZ=4=${CRLF}soft break at end=`));
  add(mail('utf16-charset', { contentType: 'text/plain; charset=utf-16' }, Buffer.from([0xff, 0xfe, 0x41])));

  // --- RFC 2047 garbage
  add(mail('rfc2047-garbage', {
    subject: '[Bug 1800001] =?utf-8?q?=ZZ=?= =?x-unknown?b?!!!?= =?utf-8?b?////?= =?utf-8?q?a?=b?= =?=?= =??q??= =?utf-8?x?zzz?=',
    extra: ['X-Launchpad-Bug-Modifier: =?utf-8?b?' + 'A'.repeat(100_000) + '?=', 'X-Launchpad-Bug-Reporter: =?utf-7?q?+AGEAYgBj-?='],
  }, textBody));
  add(mail('rfc2047-10000-words', { subject: '[Bug 1800001] ' + Array.from({ length: 10_000 }, () => '=?utf-8?q?=C3=A9?=').join(' ') }, textBody));
  add(mail('rfc2047-split-multibyte', { subject: '[Bug 1800001] =?utf-8?q?=C3?= =?utf-8?q?=A9?= =?iso-8859-1?q?=E9?= =?utf-8?b?8J+S?= =?utf-8?b?qQ==?=' }, textBody));

  // --- missing Date / Message-Id / Subject
  add(mail('missing-date', { date: null }, textBody));
  add(mail('missing-message-id', { messageId: null }, textBody));
  add(mail('missing-subject', { subject: null }, textBody));
  add(mail('missing-all-three', { date: null, messageId: null, subject: null }, textBody));
  add(mail('date-garbage', { date: 'Thu, 99 Foo 99999 99:99:99 +9999' }, textBody));
  add(mail('message-id-garbage', { messageId: '<<<>>>\t<' }, textBody));

  // --- duplicated Launchpad headers
  add(mail('duplicated-lp-headers', {
    extra: [
      'X-Generated-By: Launchpad (canonical.com); Revision="def"',
      'X-Launchpad-Notification-Type: code-review',
      'X-Launchpad-Bug-Private: yes',
      'X-Launchpad-Bug: product=qemu; status=New; importance=Undecided; assignee=None;',
      'X-Launchpad-Bug: product=qemu; status=Invalid; importance=High; assignee=None;',
      'Subject: [Bug 999] second subject',
      'Message-Id: <second@bugs.launchpad.net>',
      'X-Launchpad-Bug-Tags: again',
    ],
  }, textBody));

  // --- structure oddities
  add(mail('no-body', {}, ''));
  add({ name: 'no-header-body-separator', raw: Buffer.from(head('no-header-body-separator').replace(/\r\n\r\n$/, CRLF), 'latin1') });
  add({ name: 'continuation-first', raw: Buffer.from(' folded: first line' + CRLF + head('continuation-first'), 'latin1') });
  add(mail('header-line-without-colon', { extra: ['This is not a header', ':empty-name', 'X-Launchpad-Bug product=nocolon'] }, textBody));
  add({ name: 'bare-lf-and-cr', raw: Buffer.from(head('bare-lf-and-cr').replace(/\r\n/g, (m, off: number) => (off % 3 === 0 ? '\n' : off % 3 === 1 ? '\r' : m)), 'latin1') });
  return cases;
}

/**
 * Seeded mutations of the real mails: truncation, byte flips, duplicated or
 * dropped lines, a garbled boundary, RFC 2047 garbage in the Subject, mixed
 * line ends. `nul: false` keeps NUL bytes out (LMTP refuses them).
 */
export function mutatedMails(seed: number, n: number, opts: { nul?: boolean } = {}): HostileMail[] {
  const reals = realMails();
  const byte = opts.nul === false ? fc.integer({ min: 1, max: 255 }) : fc.integer({ min: 0, max: 255 });
  const op = fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0.3, max: 1, noNaN: true }) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), b: byte }),
    fc.record({ kind: fc.constant('dupLine' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), times: fc.integer({ min: 1, max: 500 }) }),
    fc.record({ kind: fc.constant('dropLine' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
    fc.record({ kind: fc.constant('boundary' as const), junk: fc.string({ maxLength: 30 }) }),
    fc.record({ kind: fc.constant('subject2047' as const), junk: fc.string({ maxLength: 200 }) }),
    fc.record({ kind: fc.constant('lineEnds' as const), to: fc.constantFrom('\n', '\r', '\r\r\n', '') }),
    fc.record({ kind: fc.constant('insertBytes' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ maxLength: 64 }) }),
  );
  const arb = fc.record({ mail: fc.integer({ min: 0, max: reals.length - 1 }), ops: fc.array(op, { minLength: 1, maxLength: 4 }) });
  return fc.sample(arb, { seed, numRuns: n }).map((spec, k) => {
    const base = reals[spec.mail] as { name: string; raw: Buffer };
    let s = base.raw.toString('latin1');
    const names: string[] = [];
    for (const o of spec.ops) {
      names.push(o.kind);
      const pos = 'at' in o ? Math.floor(o.at * s.length) : 0;
      switch (o.kind) {
        case 'truncate':
          s = s.slice(0, Math.max(1, pos));
          break;
        case 'flip':
          s = s.slice(0, pos) + String.fromCharCode(opts.nul === false && o.b === 0 ? 1 : o.b) + s.slice(pos + 1);
          break;
        case 'dupLine': {
          const start = s.lastIndexOf('\n', pos) + 1;
          const end = s.indexOf('\n', pos);
          const line = s.slice(start, end < 0 ? s.length : end + 1);
          // A "line" may be the whole mail (after lineEnds ''): keep each mutant under ~4 MB.
          const times = Math.min(o.times, Math.max(1, Math.floor(4_000_000 / Math.max(1, line.length))));
          s = s.slice(0, start) + line.repeat(times) + s.slice(start);
          break;
        }
        case 'dropLine': {
          const start = s.lastIndexOf('\n', pos) + 1;
          const end = s.indexOf('\n', pos);
          s = s.slice(0, start) + (end < 0 ? '' : s.slice(end + 1));
          break;
        }
        case 'boundary':
          s = s.replace(/boundary="?([^";\r\n]+)"?/i, `boundary="${o.junk.replace(/[\r\n"]/g, '')}"`);
          break;
        case 'subject2047':
          s = s.replace(/^Subject:/im, `Subject: =?utf-8?q?${o.junk.replace(/[\r\n]/g, '')}?= =?${o.junk.replace(/[\r\n?]/g, '')}?b?${o.junk.replace(/[\r\n]/g, '')}?=`);
          break;
        case 'lineEnds':
          s = s.replace(/\r?\n/g, o.to || ' ');
          break;
        case 'insertBytes': {
          let ins = Buffer.from(o.bytes).toString('latin1');
          if (opts.nul === false) ins = ins.replace(/\0/g, '\x01');
          s = s.slice(0, pos) + ins + s.slice(pos);
          break;
        }
      }
    }
    return { name: `mut-${k}-${base.name.replace('.eml', '')}-${names.join('+')}`, raw: Buffer.from(s, 'latin1') };
  });
}
