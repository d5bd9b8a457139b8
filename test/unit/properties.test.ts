/** Property tests (fast-check) for the pure core. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_PARSE_OPTIONS, buildTopic, cutUtf8, escapeTopicLevel, fitPayload, packetSize, parseMail } from '../../src/core/index.js';

// Any UTF-16 code unit, lone surrogates included.
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const anyString = fc.string({ unit: fc.oneof(anyUnit, fc.constantFrom('+', '#', '/', '%', '\u0000', '\u0085', '\ud83d\udc1b')), maxLength: 40 });
const FORBIDDEN = /[+#/\u0000-\u001f\u007f-\u009f\ufffe\uffff\ufdd0-\ufdef]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

test('escapeTopicLevel never yields + # / or a control character, non-character or lone surrogate', () => {
  fc.assert(
    fc.property(anyString, (s) => {
      const e = escapeTopicLevel(s);
      assert.ok(!FORBIDDEN.test(e), JSON.stringify(e));
      assert.ok(!LONE_SURROGATE.test(e), JSON.stringify(e));
      assert.ok(Buffer.from(e, 'utf8').toString('utf8') === e, 'valid UTF-8 round trip');
    }),
    { numRuns: 2000 },
  );
});

test('escapeTopicLevel is injective: distinct inputs give distinct outputs', () => {
  fc.assert(
    fc.property(anyString, anyString, (a, b) => {
      fc.pre(a !== b);
      assert.notEqual(escapeTopicLevel(a), escapeTopicLevel(b));
    }),
    { numRuns: 3000 },
  );
  // Near-collisions that a sloppy escaper would map together.
  const tricky = ['+', '%2B', '%252B', '%', '%25', '/', '%2F', '\ud800', '\ufffd', '%ED%A0%80', '\u0085', '%C2%85'];
  assert.equal(new Set(tricky.map(escapeTopicLevel)).size, tricky.length);
});

test('escapeTopicLevel round-trips through percent-decoding for well-formed strings', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      assert.equal(decodeURIComponent(escapeTopicLevel(s)), s);
    }),
    { numRuns: 2000 },
  );
});

test('buildTopic: one level per given level up to the first missing one', () => {
  const level = fc.option(anyString, { nil: undefined });
  fc.assert(
    fc.property(fc.constantFrom('launchpad', 'infra/lp', 'a/b/c'), fc.array(level, { maxLength: 6 }), (base, levels) => {
      const topic = buildTopic(base, levels);
      let given = 0;
      for (const l of levels) {
        if (l === undefined || l === '') break;
        given++;
      }
      assert.equal(topic.split('/').length, base.split('/').length + given);
      assert.ok(topic.startsWith(base));
    }),
    { numRuns: 2000 },
  );
});

const headerValue = fc.string({ unit: fc.oneof(anyUnit, fc.constantFrom(';', '=', ' ', '\n', '\n ', '\r\n\t', '=?utf-8?q?', '?=', '[Bug 1]', 'None')), maxLength: 80 });

test('parseMail never throws on arbitrary header values, and its events are well-formed', () => {
  fc.assert(
    fc.property(
      fc.record({
        subject: headerValue,
        task1: headerValue,
        task2: headerValue,
        tags: headerValue,
        type: fc.oneof(fc.constant('bug'), headerValue),
        from: headerValue,
        body: headerValue,
        ct: headerValue,
      }),
      (v) => {
        const raw = Buffer.from(
          `X-Generated-By: Launchpad\nX-Launchpad-Notification-Type: ${v.type}\nSubject: ${v.subject}\nFrom: ${v.from}\n` +
            `X-Launchpad-Bug: ${v.task1}\nX-Launchpad-Bug: ${v.task2}\nX-Launchpad-Bug-Tags: ${v.tags}\nContent-Type: ${v.ct}\n\n${v.body}`,
          'utf8',
        );
        const o = parseMail(raw, DEFAULT_PARSE_OPTIONS);
        assert.ok(['events', 'private', 'foreign', 'invalid'].includes(o.kind));
        if (o.kind !== 'events') return;
        for (const e of o.events) {
          assert.ok(!/[+#]/.test(e.topic), e.topic);
          assert.ok(e.topic.startsWith('launchpad'));
          assert.ok(e.topic.split('/').length <= 4);
          const n = e.payload['bug-number'];
          if (n !== undefined) assert.match(String(n), /^\d+$/);
          assert.equal(typeof e.payload['body'], 'string');
          JSON.parse(JSON.stringify(e.payload));
        }
      },
    ),
    { numRuns: 1500 },
  );
});

test('parseMail never throws on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, lpHead) => {
      const raw = Buffer.concat([Buffer.from(lpHead ? 'X-Generated-By: Launchpad\nX-Launchpad-Notification-Type: bug\n' : ''), bytes]);
      const o = parseMail(raw, DEFAULT_PARSE_OPTIONS);
      assert.ok(['events', 'private', 'foreign', 'invalid'].includes(o.kind));
      if (o.kind === 'invalid') assert.ok(!o.reason.startsWith('parser error'), o.reason);
    }),
    { numRuns: 1500 },
  );
});

test('bug-number is always a string of digits', () => {
  fc.assert(
    fc.property(headerValue, headerValue, headerValue, (subject, replyTo, from) => {
      const raw = Buffer.from(`X-Generated-By: Launchpad\nX-Launchpad-Notification-Type: bug\nSubject: ${subject}\nReply-To: ${replyTo}\nFrom: ${from}\n\nb`);
      const o = parseMail(raw, DEFAULT_PARSE_OPTIONS);
      if (o.kind === 'events') {
        for (const e of o.events) if ('bug-number' in e.payload) assert.match(String(e.payload['bug-number']), /^\d+$/);
      }
      if (o.info.bugNumber !== undefined) assert.match(o.info.bugNumber, /^\d+$/);
    }),
    { numRuns: 1500 },
  );
});

test('fitPayload: the packet fits, or the body is empty and flagged', () => {
  fc.assert(
    fc.property(anyString, fc.integer({ min: 0, max: 400 }), (body, max) => {
      const ev = { topic: 'launchpad/p/bug/1', payload: { 'event-type': 'bug', project: 'p', body: body.repeat(5) } };
      const f = fitPayload(ev, max);
      if (f === ev) assert.ok(packetSize(ev) <= max);
      else {
        assert.equal(f.payload['body-truncated'], true);
        assert.ok(packetSize(f) <= max || f.payload['body'] === '');
        assert.ok(ev.payload.body.startsWith(String(f.payload['body'])));
      }
    }),
    { numRuns: 2000 },
  );
});

test('cutUtf8: never over the limit, always a prefix', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.integer({ min: 0, max: 200 }), (s, max) => {
      const c = cutUtf8(s, max);
      assert.ok(Buffer.byteLength(c) <= max);
      assert.ok(s.startsWith(c));
    }),
    { numRuns: 2000 },
  );
});
