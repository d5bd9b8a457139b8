import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEncodedWords } from '../../src/core/rfc2047.js';
import { decodeBytes } from '../../src/core/charset.js';

test('q encoding: underscore is a space, =XX a byte, lower-case hex accepted', () => {
  assert.equal(decodeEncodedWords('=?utf-8?q?Lukas_M=C3=A4rdian?='), 'Lukas Märdian');
  assert.equal(decodeEncodedWords('=?UTF-8?Q?Jos=c3=a9?='), 'José');
});

test('b encoding', () => {
  assert.equal(decodeEncodedWords('=?utf-8?b?SMOla29u?='), 'Håkon');
  assert.equal(decodeEncodedWords('=?UTF-8?B?SMOla29u?='), 'Håkon');
});

test('white space between adjacent encoded-words is dropped (RFC 2047 §6.2), text between them is kept', () => {
  assert.equal(decodeEncodedWords('=?utf-8?q?a?= =?utf-8?q?b?='), 'ab');
  assert.equal(decodeEncodedWords('=?utf-8?q?a?=\t \t=?utf-8?q?b?='), 'ab');
  assert.equal(decodeEncodedWords('=?utf-8?q?a?= and =?utf-8?q?b?='), 'a and b');
  assert.equal(decodeEncodedWords('Re: =?utf-8?q?caf=C3=A9?= time'), 'Re: café time');
});

test('a character split across two q-words of the same charset decodes whole', () => {
  // ë = C3 AB, split after C3 (LAUNCHPAD.md: modifiers split across two words).
  assert.equal(decodeEncodedWords('=?utf-8?q?Zo=C3?= =?utf-8?q?=AB?='), 'Zoë');
});

test('a character split across two b-words decodes whole', () => {
  const bytes = Buffer.from('– 計数器溢出', 'utf8');
  const a = bytes.subarray(0, 5).toString('base64');
  const b = bytes.subarray(5).toString('base64');
  assert.equal(decodeEncodedWords(`=?utf-8?b?${a}?= =?utf-8?b?${b}?=`), '– 計数器溢出');
});

test('q and b words of the same charset mix (real mail 033)', () => {
  const v = '=?utf-8?q?=5BBug_1842530=5D_Re=3A_ich6_and_ich9_sound_card_has_noi?= =?utf-8?b?c3nvvIhtdXJtdXLvvIk=?=';
  assert.equal(decodeEncodedWords(v), '[Bug 1842530] Re: ich6 and ich9 sound card has noisy（murmur）');
});

test('adjacent words in different charsets are decoded separately and still joined', () => {
  assert.equal(decodeEncodedWords('=?iso-8859-1?q?Zo=EB?= =?utf-8?q?_=C3=85?='), 'Zoë Å');
});

test('other charsets: ISO-8859-1 and windows-1252 (WHATWG: one table), Shift_JIS, UTF-16, KOI8-R', () => {
  assert.equal(decodeEncodedWords('=?iso-8859-1?q?C=E9line?='), 'Céline');
  assert.equal(decodeEncodedWords('=?windows-1252?q?=80_5_=93ok=94?='), '€ 5 “ok”');
  assert.equal(decodeEncodedWords('=?iso-8859-1?q?=85?='), '…');
  assert.equal(decodeEncodedWords('=?iso-8859-2?q?=A1?='), 'Ą');
  assert.equal(decodeEncodedWords('=?shift_jis?b?k/qWe4zq?='), '日本語');
  assert.equal(decodeEncodedWords(`=?utf-16le?b?${Buffer.from('Ωmega', 'utf16le').toString('base64')}?=`), 'Ωmega');
  assert.equal(decodeEncodedWords('=?koi8-r?b?8NLJ18XU?='), 'Привет');
});

test('RFC 2231 language suffix is ignored', () => {
  assert.equal(decodeEncodedWords('=?utf-8*en?q?hello_world?='), 'hello world');
});

test('an unknown charset never throws: valid UTF-8 bytes read as UTF-8, others as windows-1252', () => {
  assert.equal(decodeEncodedWords('=?x-made-up?q?M=C3=A4rdian?='), 'Märdian');
  assert.equal(decodeEncodedWords('=?x-made-up?q?M=E4rdian?='), 'Märdian');
  assert.equal(decodeEncodedWords('=?utf-7?q?plain?='), 'plain');
  assert.equal(decodeBytes(Buffer.from([0xff, 0x41, 0x80]), 'no-such-charset'), 'ÿA€');
});

test('malformed encoded-words stay as written', () => {
  for (const s of ['=?utf-8?x?abc?=', '=?utf-8?q?unterminated', '=?', '=??q?a?=', '=?utf-8?q?a b?=', 'a =? b ?= c', '=?utf-8?q?=Z1?=']) {
    const out = decodeEncodedWords(s);
    assert.equal(typeof out, 'string');
  }
  assert.equal(decodeEncodedWords('=?utf-8?x?abc?='), '=?utf-8?x?abc?=');
  assert.equal(decodeEncodedWords('=?utf-8?q?unterminated'), '=?utf-8?q?unterminated');
  // An invalid =XX inside a q-word is kept literally.
  assert.equal(decodeEncodedWords('=?utf-8?q?=Z1?='), '=Z1');
});

test('invalid UTF-8 inside a word becomes U+FFFD, not an exception', () => {
  assert.equal(decodeEncodedWords('=?utf-8?q?a=FFb?='), 'a\uFFFDb');
});

test('many adjacent words stay linear (1 MB header value)', { timeout: 30_000 }, () => {
  const v = '=?utf-8?q?ab?= '.repeat(70_000).trimEnd();
  const out = decodeEncodedWords(v);
  assert.equal(out.length, 140_000);
  assert.ok(/^(ab)+$/.test(out));
});
