/**
 * Sizes of MQTT PUBLISH packets (MQTT 3.1.1 §3.3, MQTT 5 §3.3), so that a
 * payload can be cut before the broker sees a packet larger than it accepts.
 * Pure functions: no I/O.
 */

/** Bytes of the Variable Byte Integer that encodes `n` (MQTT 5 §1.5.5). */
export function varIntLength(n: number): number {
  if (n < 128) return 1;
  if (n < 16_384) return 2;
  if (n < 2_097_152) return 3;
  return 4;
}

/**
 * Size on the wire of a PUBLISH packet without properties other than an empty
 * property list (MQTT 5) carrying `payloadBytes` bytes to `topic`.
 */
export function publishPacketSize(topic: string, payloadBytes: number, qos: 0 | 1 | 2, protocolVersion: 4 | 5): number {
  const remaining =
    2 + Buffer.byteLength(topic, 'utf8') + (qos > 0 ? 2 : 0) + (protocolVersion === 5 ? 1 : 0) + payloadBytes;
  return 1 + varIntLength(remaining) + remaining;
}

/**
 * The largest payload that fits a packet of at most `maxPacketBytes` bytes
 * when published to `topic`; negative when not even an empty payload fits.
 */
export function maxPayloadBytes(topic: string, maxPacketBytes: number, qos: 0 | 1 | 2, protocolVersion: 4 | 5): number {
  const overhead = publishPacketSize(topic, 0, qos, protocolVersion);
  // The remaining-length prefix grows with the payload: assume its largest size that could apply.
  let room = maxPacketBytes - overhead;
  while (room > 0 && publishPacketSize(topic, room, qos, protocolVersion) > maxPacketBytes) room -= 1;
  return room;
}
