import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { warmPacketLengthCache } from '../../src/mqtt/varint-cache.js';

type Sink = { write(chunk: unknown): boolean };
const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'));
const { writeToStream } = fromMqtt('mqtt-packet') as {
  writeToStream: (packet: object, stream: Sink, opts: { protocolVersion: number }) => boolean;
};

/** The ArrayBuffer behind the Remaining Length bytes mqtt-packet writes for a PUBLISH of `payloadBytes` bytes. */
function lengthBufferOf(payloadBytes: number): ArrayBufferLike {
  const chunks: Buffer[] = [];
  const sink: Sink = { write: (c) => (Buffer.isBuffer(c) && chunks.push(c), true) };
  const payload = Buffer.alloc(payloadBytes, 0x61);
  writeToStream({ cmd: 'publish', topic: 'launchpad/nova/bug/1', payload, qos: 1, messageId: 7, retain: false, dup: false }, sink, {
    protocolVersion: 5,
  });
  // Fixed header byte, then the Remaining Length (MQTT 5 §2.1.4).
  const length = chunks[1];
  assert.ok(length && length.length <= 4, 'second chunk is the Remaining Length');
  return length.buffer;
}

test('after the warm-up, packet lengths first seen amid other allocations pin no pool slab of their own', () => {
  warmPacketLengthCache();
  warmPacketLengthCache(); // idempotent
  const slabs = new Set<ArrayBufferLike>();
  const churn: Buffer[] = [];
  for (let n = 0; n < 16_000; n += 7) {
    // Other traffic taking pool space between two new lengths, as in the daemon.
    churn.push(Buffer.allocUnsafe(3000));
    if (churn.length > 50) churn.shift();
    slabs.add(lengthBufferOf(n));
  }
  // 2,286 distinct lengths; without the warm-up each lands in a slab of its own.
  assert.ok(slabs.size <= 40, `length cache spread over ${slabs.size} pool slabs`);
});
