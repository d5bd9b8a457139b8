/**
 * Hostile and broken input: parseMail must return (never throw, never hang)
 * and stay linear. The per-test timeouts only guard against hangs; no test
 * asserts how fast anything is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PARSE_OPTIONS, MAX_BUG_EVENTS, MAX_BUG_TASKS, type ParseOutcome, parseMail } from '../../src/core/index.js';

const HANG_GUARD = { timeout: 60_000 };
const GEN = 'X-Generated-By: Launchpad (canonical.com)';
const HEAD = `${GEN}\nX-Launchpad-Notification-Type: bug\nMessage-Id: <h@x>\nSubject: [Bug 7] Re: hostile\nX-Launchpad-Bug: product=p; status=New\n`;

function parse(raw: Buffer | string): ParseOutcome {
  const o = parseMail(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw, DEFAULT_PARSE_OPTIONS);
  assert.ok(['events', 'private', 'foreign', 'invalid'].includes(o.kind));
  return o;
}

function body(o: ParseOutcome): string {
  assert.equal(o.kind, 'events');
  return o.kind === 'events' ? String(o.events[0]?.payload['body']) : '';
}

test('a mail truncated anywhere still parses', HANG_GUARD, () => {
  const full = Buffer.from(
    `${HEAD}Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nJ=C3=BCrgen=\n wrote =E2=82=AC\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nZm9vdGVy\n--b--\n`,
  );
  for (let n = 0; n <= full.length; n++) parse(full.subarray(0, n));
});

test('no header/body separator: the whole mail is headers, body is empty', () => {
  assert.equal(body(parse(HEAD.trimEnd())), '');
});

test('NUL bytes and invalid UTF-8 in headers and body', () => {
  const raw = Buffer.concat([
    Buffer.from(`${GEN}\nX-Launchpad-Notification-Type: bug\nSubject: [Bug 9] a\u0000b `),
    Buffer.from([0xc3, 0x28, 0xff, 0x00]),
    Buffer.from('\nX-Launchpad-Bug: product=p\u0000q; status=New\n\nbody\u0000'),
    Buffer.from([0xe2, 0x82]),
  ]);
  const o = parse(raw);
  assert.equal(o.kind, 'events');
  if (o.kind === 'events') {
    assert.equal(o.events[0]?.topic, 'launchpad/p%00q/bug/9');
    assert.equal(typeof o.events[0]?.payload['body'], 'string');
    JSON.stringify(o.events);
  }
});

test('unknown charsets and transfer encodings, RFC 2047 garbage', () => {
  const o = parse(
    `${GEN}\nX-Launchpad-Notification-Type: bug\nSubject: =?x-klingon?q?=ZZ?= =?utf-8?b?!!!?= =?utf-8?q?a?==?=?\nFrom: =?=?=?\nContent-Type: text/plain; charset="x-klingon"\nContent-Transfer-Encoding: x-uuencode\n\ntext`,
  );
  assert.equal(body(o), 'text');
});

test('missing Date, Message-Id and Subject', () => {
  const o = parse(`${GEN}\nX-Launchpad-Notification-Type: bug\n\nb`);
  assert.equal(o.kind, 'events');
  if (o.kind === 'events') {
    const p: Record<string, unknown> = o.events[0]?.payload ?? {};
    assert.equal('date' in p || 'message-id' in p || 'subject' in p || 'title' in p || 'bug-number' in p, false);
    assert.equal(p['new-bug'], false);
  }
});

test('broken MIME: unterminated boundaries, empty boundary, delimiter-like lines, garbage parts', HANG_GUARD, () => {
  assert.equal(body(parse(`${HEAD}Content-Type: multipart/mixed; boundary=""\n\n--\n\nx\n`)), '');
  assert.equal(body(parse(`${HEAD}Content-Type: multipart/mixed; boundary="b"\n\n--b\n--b\n--b\n`)), '');
  assert.equal(body(parse(`${HEAD}Content-Type: multipart/mixed; boundary="b"\n\n${'--b\n'.repeat(50_000)}`)), '');
  assert.equal(body(parse(`${HEAD}Content-Type: multipart/mixed; boundary="b"\n\n${'x--b '.repeat(200_000)}`)), '');
  assert.equal(body(parse(`${HEAD}Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: multipart/mixed\n\n--b--\n`)), '');
});

test('hostile Content-Type values: 1 MB boundary, 200,000 parameters, 1 MB quoted-pairs', HANG_GUARD, () => {
  const b = 'b'.repeat(1 << 20);
  assert.equal(body(parse(`${HEAD}Content-Type: multipart/mixed; boundary="${b}"\n\n--${b}\n\ntext\n--${b}--\n`)), '');
  assert.equal(body(parse(`${HEAD}Content-Type: text/plain; ${'a=1; '.repeat(200_000)}charset=utf-8\n\ntext`)), 'text');
  assert.equal(body(parse(`${HEAD}Content-Type: text/plain; x="${'\\"'.repeat(300_000)}"\n\ntext`)), 'text');
});

test('1,000 levels of multipart nesting: bounded, no body, no stack overflow', HANG_GUARD, () => {
  let inner = 'Content-Type: text/plain\n\ndeep text\n';
  for (let i = 999; i >= 0; i--) inner = `Content-Type: multipart/mixed; boundary="n${i}"\n\n--n${i}\n${inner}--n${i}--\n`;
  assert.equal(body(parse(`${HEAD}${inner}`)), '');
  // Within the depth limit the text is found.
  let shallow = 'Content-Type: text/plain\n\nshallow text\n';
  for (let i = 20; i >= 0; i--) shallow = `Content-Type: multipart/mixed; boundary="n${i}"\n\n--n${i}\n${shallow}--n${i}--\n`;
  assert.equal(body(parse(`${HEAD}${shallow}`)), 'shallow text');
});

test('a 1 MB header line and a 1 MB folded header', HANG_GUARD, () => {
  const long = 'x'.repeat(1 << 20);
  const o = parse(`${HEAD}X-Long: ${long}\nX-Launchpad-Bug-Tags: ${'tag\n '.repeat(200_000)}\n\nb`);
  assert.equal(o.kind, 'events');
  if (o.kind === 'events') assert.equal((o.events[0]?.payload['tags'] as unknown[]).length, 200_000);
  // A 1 MB Subject full of almost-bug-tags and Re: prefixes.
  parse(`${GEN}\nX-Launchpad-Notification-Type: bug\nSubject: ${'[Bug '.repeat(200_000)}${'Re: '.repeat(100_000)}\n\nb`);
  parse(`${GEN}\nX-Launchpad-Notification-Type: bug\nSubject: [Bug 1] ${'Re: '.repeat(250_000)}\nReply-To: ${'9'.repeat(1 << 20)}@bugs.launchpad.net\n\nb`);
  // A 1 MB line with no colon, and a 1 MB field name.
  parse(`${'n'.repeat(1 << 20)}\n${GEN}\n\nb`);
  parse(`${'N'.repeat(1 << 20)}: v\n${GEN}\n\nb`);
  // A 1 MB Date header.
  parse(`${HEAD}Date: ${'1 '.repeat(500_000)}\n\nb`);
});

test('10,000 headers; 10,000 bug tasks are bounded (no N² output from a forged mail)', HANG_GUARD, () => {
  const many = Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v${i}`).join('\n');
  assert.equal(parse(`${HEAD}${many}\n\nbody`).kind, 'events');
  const tasks = Array.from({ length: 10_000 }, (_, i) => `X-Launchpad-Bug: product=p${i}; status=New`).join('\n');
  const o = parse(`${HEAD}${tasks}\n\nbody`);
  assert.equal(o.kind, 'events');
  if (o.kind === 'events') {
    assert.equal(o.events.length, MAX_BUG_EVENTS);
    assert.equal((o.events[0]?.payload['tasks'] as unknown[]).length, MAX_BUG_TASKS);
    assert.deepEqual(o.events.slice(0, 3).map((e) => e.payload.project), ['p', 'p0', 'p1']);
  }
});

test('a 40 MB attachment is skipped without being decoded', HANG_GUARD, () => {
  const attachment = Buffer.alloc(40 << 20, 'QUFBQUFBQUFBQUFB\n');
  const raw = Buffer.concat([
    Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary="big"\n\n--big\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n`),
    attachment,
    Buffer.from('\n--big\nContent-Type: text/plain\n\nthe text after the attachment\n--big--\n'),
  ]);
  assert.equal(body(parse(raw)), 'the text after the attachment');
  const textFirst = Buffer.concat([
    Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary="big"\n\n--big\nContent-Type: text/plain\n\nfirst\n--big\nContent-Type: application/octet-stream\n\n`),
    attachment,
  ]);
  assert.equal(body(parse(textFirst)), 'first');
});

test('a 40 MB single-part text body is cut to the limit', HANG_GUARD, () => {
  const raw = Buffer.concat([Buffer.from(`${HEAD}Content-Transfer-Encoding: base64\n\n`), Buffer.alloc(40 << 20, 'w6TDpMOk\n')]);
  const o = parse(raw);
  assert.equal(o.kind, 'events');
  if (o.kind === 'events') {
    const p: Record<string, unknown> = o.events[0]?.payload ?? {};
    assert.equal(p['body-truncated'], true);
    assert.ok(Buffer.byteLength(String(p['body'])) <= DEFAULT_PARSE_OPTIONS.maxBodyBytes);
    assert.match(String(p['body']), /^(ä|\n)+$/);
  }
});

test('random bytes never throw', HANG_GUARD, () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 300; i++) {
    const len = rnd() % 4000;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = rnd() & 0xff;
    parse(Buffer.concat([Buffer.from(i % 2 ? `${HEAD}` : ''), buf]));
  }
});
