import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { maxPayloadBytes, publishPacketSize, varIntLength } from '../../src/mqtt/packet.js';

/** The size mqtt.js's own encoder produces, the reference for our arithmetic. */
function encodedSize(topic: string, payloadBytes: number, qos: 0 | 1 | 2, protocolVersion: 4 | 5): number {
  const packet = {
    cmd: 'publish' as const,
    topic,
    payload: Buffer.alloc(payloadBytes, 0x61),
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { messageId: 42 } : {}),
  };
  return mqttPacket.generate(packet, { protocolVersion }).length;
}

test('varIntLength follows the MQTT variable byte integer boundaries', () => {
  assert.deepEqual([0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152].map(varIntLength), [1, 1, 2, 2, 3, 3, 4]);
});

test('publishPacketSize matches the bytes mqtt-packet writes', () => {
  for (const topic of ['launchpad/nova/bug/1', 'launchpad/libstdc%2B%2B/bug/12345678', 'ünï/cödé']) {
    for (const size of [0, 1, 100, 120, 125, 126, 127, 128, 16_370, 16_384, 70_000, 2_097_200]) {
      for (const qos of [0, 1, 2] as const) {
        for (const v of [4, 5] as const) {
          assert.equal(publishPacketSize(topic, size, qos, v), encodedSize(topic, size, qos, v), `${topic} ${size} qos${qos} v${v}`);
        }
      }
    }
  }
});

test('maxPayloadBytes is the largest payload whose packet still fits', () => {
  for (const limit of [1024, 4096, 16_384, 16_390, 65_536, 2_097_160]) {
    for (const qos of [0, 1] as const) {
      const topic = 'launchpad/ubuntu/bug/2000000';
      const room = maxPayloadBytes(topic, limit, qos, 5);
      assert.ok(publishPacketSize(topic, room, qos, 5) <= limit, `fits at ${limit}`);
      assert.ok(publishPacketSize(topic, room + 1, qos, 5) > limit, `largest at ${limit}`);
    }
  }
});

test('maxPayloadBytes is negative when not even the topic fits', () => {
  assert.ok(maxPayloadBytes('x'.repeat(2000), 1024, 1, 5) < 0);
});

test('redactUrl hides a password in the broker URL and leaves other URLs alone', async () => {
  const { redactUrl } = await import('../../src/mqtt/publisher.js');
  assert.equal(redactUrl('mqtt://infra:s3cret@broker:1883'), 'mqtt://infra:***@broker:1883');
  assert.equal(redactUrl('wss://u:p%40ss@h/mqtt'), 'wss://u:***@h/mqtt');
  assert.equal(redactUrl('mqtt://127.0.0.1:1883'), 'mqtt://127.0.0.1:1883');
  assert.ok(!redactUrl('mqtt://u:pa ss@host with space').includes('pa ss'));
});
