import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync, readdirSync } from 'node:fs';
import {
  DEFAULT_PARSE_OPTIONS,
  type LpEvent,
  PUBLISH_OVERHEAD,
  fitPayload,
  packetSize,
  parseMail,
  serializePayload,
  serializePayloads,
} from '../../src/core/index.js';
import { makeBugMail } from '../helpers/mailgen.js';

function ev(body: string, extra: Record<string, string> = {}): LpEvent {
  return { topic: 'launchpad/qemu/bug/1', payload: { 'event-type': 'bug', project: 'qemu', 'bug-number': '1', ...extra, body } };
}

test('serializePayload is JSON and packetSize counts topic, payload and overhead in UTF-8 bytes', () => {
  const e = ev('é');
  assert.equal(serializePayload(e.payload), JSON.stringify(e.payload));
  assert.equal(packetSize(e), PUBLISH_OVERHEAD + Buffer.byteLength(e.topic) + Buffer.byteLength(JSON.stringify(e.payload)));
});

test('an event that fits comes back unchanged (same object)', () => {
  const e = ev('short');
  assert.equal(fitPayload(e, 10_000), e);
  assert.equal(fitPayload(e, packetSize(e)), e);
});

test('a body that does not fit is cut to fit exactly and flagged; the input is not mutated', () => {
  const e = ev('x'.repeat(5000));
  const before = JSON.stringify(e);
  for (const max of [200, 1000, 4999, packetSize(e) - 1]) {
    const f = fitPayload(e, max);
    assert.ok(packetSize(f) <= max, `max ${max}`);
    assert.ok(packetSize(f) >= max - 1, `max ${max}: cut no more than needed`);
    assert.equal(f.payload['body-truncated'], true);
    assert.equal(f.topic, e.topic);
  }
  assert.equal(JSON.stringify(e), before);
});

test('cutting respects JSON escapes and UTF-8 characters, and never splits a surrogate pair', () => {
  const body = 'a"b\\c\nd\u0001é€𝄞'.repeat(200);
  const e = ev(body);
  for (let max = 150; max < 600; max += 7) {
    const f = fitPayload(e, max);
    const b = String(f.payload['body']);
    assert.ok(packetSize(f) <= max, `max ${max}`);
    assert.ok(body.startsWith(b));
    assert.ok(!/[\ud800-\udbff]$/.test(b), 'no dangling high surrogate');
    // One more unit would not have fitted.
    if (b.length < body.length) {
      const next = body.codePointAt(b.length) as number;
      const longer = { ...f, payload: { ...f.payload, body: body.slice(0, b.length + (next > 0xffff ? 2 : 1)) } };
      assert.ok(packetSize(longer) > max, `max ${max}: body could have been longer`);
    }
  }
});

test('when even an empty body does not fit, body is "" and truncated (the caller decides)', () => {
  const e = ev('text', { subject: 's'.repeat(500) });
  const f = fitPayload(e, 100);
  assert.equal(f.payload['body'], '');
  assert.equal(f.payload['body-truncated'], true);
});

test('a payload without a string body is returned as is', () => {
  const e: LpEvent = { topic: 't', payload: { 'event-type': 'x', other: 'y'.repeat(1000) } };
  assert.equal(fitPayload(e, 10), e);
});

test('serializePayloads writes each fan-out event byte for byte as serializePayload does', () => {
  const samples = new URL('../../samples/', import.meta.url);
  const raws: Buffer[] = readdirSync(samples)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => readFileSync(new URL(f, samples)));
  for (let i = 0; i < 200; i++) raws.push(makeBugMail(i).raw);
  let shared = 0;
  for (const raw of raws) {
    for (const opts of [DEFAULT_PARSE_OPTIONS, { ...DEFAULT_PARSE_OPTIONS, maxBodyBytes: 600 }]) {
      const o = parseMail(raw, opts);
      if (o.kind !== 'events') continue;
      const payloads = o.events.map((e) => e.payload);
      if (payloads.length > 1) shared++;
      assert.deepEqual(serializePayloads(payloads), payloads.map(serializePayload));
    }
  }
  assert.ok(shared > 50, `only ${shared} multi-target mails exercised the shared path`);
  // Payloads whose body is not last, or differs between events, still come out exact.
  const a = { 'event-type': 'bug', body: 'b'.repeat(600), project: 'x' };
  const b = { 'event-type': 'bug', project: 'y', body: 'c'.repeat(600), 'body-truncated': true };
  const c = { 'event-type': 'bug', project: 'z', body: 'c'.repeat(600) };
  assert.deepEqual(serializePayloads([a, b, c]), [a, b, c].map(serializePayload));
});
