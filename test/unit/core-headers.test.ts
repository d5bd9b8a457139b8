import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeHeaderValue, findHeaderEnd, headerValues, readHeaders, unfoldHeaderValue } from '../../src/core/index.js';
import { parseMailDate } from '../../src/core/date.js';

const mail = (s: string): Buffer => Buffer.from(s, 'utf8');

test('the header block ends at the first empty line, LF or CRLF', () => {
  assert.deepEqual(findHeaderEnd(mail('A: 1\nB: 2\n\nbody')), { headerEnd: 10, bodyOffset: 11, separated: true });
  assert.deepEqual(findHeaderEnd(mail('A: 1\r\nB: 2\r\n\r\nbody')), { headerEnd: 12, bodyOffset: 14, separated: true });
  // Mixed: a CRLF header line followed by a bare LF empty line.
  assert.equal(findHeaderEnd(mail('A: 1\r\n\nbody')).bodyOffset, 7);
  assert.deepEqual(findHeaderEnd(mail('\nbody')), { headerEnd: 0, bodyOffset: 1, separated: true });
  assert.deepEqual(findHeaderEnd(mail('A: 1\nB: 2')), { headerEnd: 9, bodyOffset: 9, separated: false });
});

test('folded values are unfolded: line break plus white space (space or TAB) becomes one space', () => {
  const { headers } = readHeaders(mail('Subject: a long\n  subject\r\n\tline\nX: y\n\n'));
  assert.equal(headers.get('subject'), 'a long subject line');
  assert.equal(unfoldHeaderValue(' a\r\n b '), 'a b');
  assert.equal(decodeHeaderValue(' =?utf-8?q?a?=\n =?utf-8?q?b?= '), 'ab');
});

test('names are case-insensitive, repeated fields keep header order, absent fields are undefined', () => {
  const { headers } = readHeaders(mail('X-Launchpad-Bug: product=a;\nx-launchpad-bug: product=b;\nX-LAUNCHPAD-BUG: product=c;\n\n'));
  assert.deepEqual(headers.all('X-Launchpad-Bug'), ['product=a;', 'product=b;', 'product=c;']);
  assert.equal(headers.get('x-launchpad-bug'), 'product=a;');
  assert.equal(headers.get('subject'), undefined);
  assert.deepEqual(headers.all('subject'), []);
  assert.equal(headers.has('X-LAUNCHPAD-BUG'), true);
});

test('obsolete white space before the colon is accepted; lines that are not fields are skipped', () => {
  const raw = mail('From someone@example.org Mon Jan  1 00:00:00 2024\nSubject : hello\nnot a header line\n continuation of junk\nX-A: 1\n\n');
  const { headers } = readHeaders(raw);
  assert.equal(headers.get('subject'), 'hello');
  assert.equal(headers.get('x-a'), '1');
  assert.deepEqual(
    headers.fields.map((f) => f.name),
    ['subject', 'x-a'],
  );
});

test('8-bit UTF-8 header values are read as UTF-8, invalid bytes as windows-1252', () => {
  assert.equal(readHeaders(mail('Subject: Märdian\n\n')).headers.get('subject'), 'Märdian');
  const latin = Buffer.concat([Buffer.from('Subject: M'), Buffer.from([0xe4]), Buffer.from('rdian\n\n')]);
  assert.equal(readHeaders(latin).headers.get('subject'), 'Märdian');
});

test('header blocks longer than the fast-path chunk (64 KB) are read whole', () => {
  const long = 'v'.repeat(70_000);
  const r = readHeaders(mail(`A: ${long}\nB: 2\n\nbody`));
  assert.equal(r.headers.get('a'), long);
  assert.equal(r.headers.get('b'), '2');
  assert.equal(mail(`A: ${long}\nB: 2\n\nbody`).subarray(r.bodyOffset).toString(), 'body');
  // The empty line straddles the chunk boundary: "\n" is the chunk's last byte.
  const pre = `A: ${'x'.repeat(64 * 1024 - 4)}`;
  for (const sep of ['\n\n', '\n\r\n']) {
    const raw = mail(`${pre}${sep}tail`);
    assert.equal(raw.indexOf(sep), 64 * 1024 - 1);
    const h = readHeaders(raw);
    assert.equal(raw.subarray(h.bodyOffset).toString(), 'tail');
    assert.equal(h.separated, true);
  }
});

test('8-bit values are decoded per header: UTF-8 where valid, windows-1252 elsewhere', () => {
  const raw = Buffer.concat([Buffer.from('A: Märdian\nB: caf'), Buffer.from([0xe9, 0x20, 0x80]), Buffer.from('\n\n')]);
  const { headers } = readHeaders(raw);
  assert.equal(headers.get('a'), 'Märdian');
  assert.equal(headers.get('b'), 'café €');
});

test('a mail without an empty line is all headers', () => {
  const r = readHeaders(mail('Subject: x\nX-Generated-By: Launchpad'));
  assert.equal(r.separated, false);
  assert.equal(r.headers.get('x-generated-by'), 'Launchpad');
});

test('headerValues: cheap look-up for other modules, decoded or raw', () => {
  const raw = mail('Authentication-Results: mx.example.org;\n dkim=pass header.d=launchpad.net\nFrom: =?utf-8?q?Jos=C3=A9?= <1@bugs.launchpad.net>\n\nbody');
  assert.deepEqual(headerValues(raw, 'authentication-results'), ['mx.example.org; dkim=pass header.d=launchpad.net']);
  assert.deepEqual(headerValues(raw, 'From'), ['José <1@bugs.launchpad.net>']);
  assert.deepEqual(headerValues(raw, 'From', { decode: false }), ['=?utf-8?q?Jos=C3=A9?= <1@bugs.launchpad.net>']);
  assert.deepEqual(headerValues(raw, 'Message-Id'), []);
});

test('readHeaders works on a slice of a buffer (MIME parts)', () => {
  const raw = mail('preamble\nContent-Type: text/plain\n\npart body');
  const r = readHeaders(raw, 9, raw.length);
  assert.equal(r.headers.get('content-type'), 'text/plain');
  assert.equal(raw.subarray(r.bodyOffset).toString(), 'part body');
});

test('Date: RFC 5322 forms to ISO 8601 UTC; anything else is absent', () => {
  assert.equal(parseMailDate('Wed, 12 Mar 2025 16:45:23 -0000'), '2025-03-12T16:45:23.000Z');
  assert.equal(parseMailDate('Wed,  8 Jun 2022 19:08:54 +0200'), '2022-06-08T17:08:54.000Z');
  assert.equal(parseMailDate('6 Mar 2025 10:20:30 +0100'), '2025-03-06T09:20:30.000Z');
  assert.equal(parseMailDate('Thu, 16 Jul 2020 12:04:17 -0400 (EDT)'), '2020-07-16T16:04:17.000Z');
  assert.equal(parseMailDate('Mon, 1 Jan 99 00:00 EST'), '1999-01-01T05:00:00.000Z');
  assert.equal(parseMailDate('Tue, 02 Jan 2024 03:04:05 GMT'), '2024-01-02T03:04:05.000Z');
  assert.equal(parseMailDate('Tue, 02 Jan 2024 03:04:05'), '2024-01-02T03:04:05.000Z');
  assert.equal(parseMailDate('29 Feb 2024 23:59:60 +0000'), '2024-02-29T23:59:59.000Z', 'leap day; leap second clamped');
  assert.equal(parseMailDate('Sat, 1 Jan 2000 00:30:00 +0100'), '1999-12-31T23:30:00.000Z');
  for (const bad of [undefined, '', 'yesterday', '31 Feb 2024 10:00:00 +0000', '29 Feb 2023 10:00:00 +0000', '31 Apr 2024 10:00:00 +0000', '12 Foo 2024 10:00:00 +0000', '1 Jan 2024 25:00:00 +0000', '1']) {
    assert.equal(parseMailDate(bad), undefined, String(bad));
  }
});
