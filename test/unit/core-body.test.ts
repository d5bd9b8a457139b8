import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cutUtf8, extractBody, readHeaders } from '../../src/core/index.js';
import { decodeBase64, decodeQuotedPrintable } from '../../src/core/encodings.js';
import { parseMimeValue, partRanges } from '../../src/core/mime.js';

function body(mail: string | Buffer, max = 65536): { body: string; truncated: boolean } {
  const raw = typeof mail === 'string' ? Buffer.from(mail, 'utf8') : mail;
  const { headers, bodyOffset } = readHeaders(raw);
  return extractBody(raw, headers, bodyOffset, max);
}

const qp = (s: string): string => decodeQuotedPrintable(Buffer.from(s, 'latin1')).toString('latin1');

test('quoted-printable: escapes, soft breaks (LF, CRLF, trailing white space), lower-case hex', () => {
  assert.equal(qp('a=3Db'), 'a=b');
  assert.equal(qp('M=C3=A4rdian'), 'M\xc3\xa4rdian');
  assert.equal(qp('soft=\nbreak'), 'softbreak');
  assert.equal(qp('soft=\r\nbreak'), 'softbreak');
  assert.equal(qp('soft= \t\nbreak'), 'softbreak');
  assert.equal(qp('m=c3=a4'), 'm\xc3\xa4');
  assert.equal(qp('ends with ='), 'ends with ');
});

test('quoted-printable: malformed escapes are kept as written', () => {
  assert.equal(qp('100=%'), '100=%');
  assert.equal(qp('=ZZ'), '=ZZ');
  assert.equal(qp('=4'), '=4');
  assert.equal(qp('a=\r'), 'a=\r');
  assert.equal(qp('no escapes at all'), 'no escapes at all');
  assert.equal(qp(`${'x'.repeat(100)}=41${'y'.repeat(100)}`), `${'x'.repeat(100)}A${'y'.repeat(100)}`);
});

test('base64: line breaks and junk skipped', () => {
  assert.equal(decodeBase64(Buffer.from('aGVs\r\nbG8g\nd29y bGQ=\n')).toString(), 'hello world');
});

test('single-part text: transfer encoding and charset undone, CRLF normalised to LF', () => {
  assert.deepEqual(body('Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nJ=C3=BCrgen\n'), {
    body: 'Jürgen\n',
    truncated: false,
  });
  assert.equal(body('Content-Type: text/plain; charset="iso-8859-1"\nContent-Transfer-Encoding: base64\n\nQ+lsaW5lIJQK\n').body, 'Céline ”\n');
  assert.equal(body('Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n' + '').body, '');
  assert.equal(body(Buffer.concat([Buffer.from('Content-Type: text/plain; charset=koi8-r\n\n'), Buffer.from([0xf0, 0xd2, 0xc9])])).body, 'При');
  assert.equal(body('Subject: x\r\n\r\nline one\r\nline two\r\n').body, 'line one\nline two\n');
});

test('no Content-Type means text/plain; unknown charset or encoding never throws', () => {
  assert.equal(body('Subject: x\n\nplain text').body, 'plain text');
  assert.equal(body('Content-Type: text/plain; charset=x-nonsense\nContent-Transfer-Encoding: x-gzip\n\nstill text').body, 'still text');
  assert.equal(body('Content-Type: garbage\n\ntext anyway').body, 'text anyway');
  const latin = Buffer.concat([Buffer.from('Subject: x\n\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9])]);
  assert.equal(body(latin).body, 'café', 'unlabelled 8-bit that is not UTF-8 falls back to windows-1252');
});

test('single-part non-text mail has no body', () => {
  assert.equal(body('Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n').body, '');
  assert.equal(body('Content-Type: text/html; charset=utf-8\n\n<p>hi</p>').body, '<p>hi</p>');
});

const MIXED = [
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  'preamble, ignored',
  '--b1',
  'Content-Type: text/plain; charset=utf-8; name="log.txt"',
  '',
  'attachment without disposition but with a name',
  '--b1',
  'Content-Type: text/plain',
  'Content-Disposition: attachment; filename="x.txt"',
  '',
  'an attachment',
  '--b1',
  'Content-Type: multipart/alternative; boundary=b2',
  '',
  '--b2',
  'Content-Type: text/html',
  '',
  '<p>html</p>',
  '--b2',
  'Content-Type: text/plain; charset="utf-8"',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'the =C3=BCnique text',
  'second line',
  '--b2--',
  '--b1',
  'Content-Type: text/plain',
  '',
  'footer',
  '--b1--',
  'epilogue',
].join('\n');

test('multipart: first text/plain part that is not an attachment, depth first', () => {
  assert.equal(body(MIXED).body, 'the ünique text\nsecond line');
});

test('multipart: parts without Content-Type are text/plain; inline disposition is fine', () => {
  assert.equal(body('Content-Type: multipart/mixed; boundary=zz\n\n--zz\n\nfirst\n--zz--\n').body, 'first');
  assert.equal(body('Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Disposition: inline\n\nfirst\n--zz--\n').body, 'first');
});

test('multipart/digest parts default to message/rfc822, not text', () => {
  assert.equal(body('Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nmsg\n--d--\n').body, '');
});

test('broken multipart: no close delimiter, no boundary parameter, prefix-sharing boundaries', () => {
  assert.equal(body('Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\ncut off here').body, 'cut off here');
  assert.equal(body('Content-Type: multipart/mixed\n\n--zz\n\ntext\n').body, '');
  assert.equal(body('Content-Type: multipart/mixed; boundary=zz\n\nno delimiter at all').body, '');
  assert.equal(
    body('Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\nline\n--zzz not ours\nmore\n--zz--\n').body,
    'line\n--zzz not ours\nmore',
  );
});

test('partRanges: CRLF before a delimiter belongs to the delimiter', () => {
  const raw = Buffer.from('--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n');
  const parts = [...partRanges(raw, 0, raw.length, 'b')].map(([s, e]) => raw.subarray(s, e).toString());
  assert.deepEqual(parts, ['A: 1\r\n\r\none', '\r\ntwo']);
});

test('parseMimeValue: quoted parameters with ; and escapes, case-insensitive names', () => {
  const v = parseMimeValue('Multipart/Mixed; BOUNDARY="a;b\\"c"; charset=utf-8 ; empty=');
  assert.equal(v.value, 'multipart/mixed');
  assert.equal(v.params.get('boundary'), 'a;b"c');
  assert.equal(v.params.get('charset'), 'utf-8');
  assert.equal(v.params.get('empty'), '');
  assert.equal(parseMimeValue(undefined).value, '');
});

test('body is cut to the limit on a UTF-8 character boundary and flagged', () => {
  const text = 'ab€d'; // € is 3 bytes
  const mail = `Content-Type: text/plain; charset=utf-8\n\n${text}`;
  assert.deepEqual(body(mail, 6), { body: 'ab€d', truncated: false });
  assert.deepEqual(body(mail, 5), { body: 'ab€', truncated: true });
  assert.deepEqual(body(mail, 4), { body: 'ab', truncated: true });
  assert.deepEqual(body(mail, 2), { body: 'ab', truncated: true });
  assert.deepEqual(body(mail, 0), { body: '', truncated: true });
  assert.deepEqual(body('Subject: x\n\n', 0), { body: '', truncated: false });
});

test('a huge single-part body is decoded only as far as the limit needs', () => {
  const line = `${'x'.repeat(60)}=C3=A4=\n`;
  const big = `Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n${line.repeat(200_000)}`;
  const r = body(big, 1000);
  assert.equal(r.truncated, true);
  assert.ok(Buffer.byteLength(r.body) <= 1000);
  assert.ok(Buffer.byteLength(r.body) >= 990, 'cut close to the limit');
  assert.match(r.body, /^(x{60}ä)+x*ä?$/);
});

test('cutUtf8 never splits a character and never exceeds the limit', () => {
  const s = 'aé€𝄞z';
  for (let max = 0; max <= 12; max++) {
    const c = cutUtf8(s, max);
    assert.ok(Buffer.byteLength(c) <= max, `max ${max}`);
    assert.ok(s.startsWith(c));
    assert.ok(!c.includes('\uFFFD'));
  }
  assert.equal(cutUtf8(s, 100), s);
});
