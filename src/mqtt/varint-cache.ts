/**
 * Keeps mqtt-packet's length cache from pinning memory
 * (mqttjs/mqtt-packet#163; the fix, #164, is not released as of 9.0.2).
 *
 * mqtt-packet caches the encoded Remaining Length of every packet length
 * below 16384 it writes, for the life of the process: a 1–4 byte Buffer
 * sliced from Node's shared 8 KiB allocation pool. A slice keeps its whole
 * slab alive, and the payloads of bug mail come in thousands of different
 * lengths, each first seen amid other traffic: the daemon's RSS crept up by
 * ~3 MB a minute in the soak (up to 16384 × 8 KiB = 128 MiB in the end), and
 * heap snapshots showed the growth as pool slabs held by `varByteIntCache`.
 * Writing one packet of every length at start, in a tight loop, packs the
 * whole cache into a few slabs (~130 KiB) before any traffic.
 */
import { createRequire } from 'node:module';

/** Lengths from this one up are not cached by mqtt-packet. */
const CACHED_BELOW = 16_384;

interface WriteToStream {
  (packet: object, stream: { write(chunk: unknown): boolean }, opts: { protocolVersion: number }): boolean;
}

let warmed = false;

/** Fills mqtt-packet's length cache (the copy mqtt.js uses) densely; idempotent. Takes ~10 ms. */
export function warmPacketLengthCache(): void {
  if (warmed) return;
  warmed = true;
  // The copy of mqtt-packet that mqtt.js loads, whatever a bare import here would find.
  const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'));
  const { writeToStream } = fromMqtt('mqtt-packet') as { writeToStream: WriteToStream };
  const sink = { write: (): boolean => true };
  const payload = Buffer.alloc(CACHED_BELOW);
  // Remaining Length of a QoS 0 MQTT 3.1.1 PUBLISH to "w": 3 + payload.
  for (let n = 0; n + 3 < CACHED_BELOW; n++) {
    writeToStream({ cmd: 'publish', topic: 'w', payload: payload.subarray(0, n), qos: 0, retain: false, dup: false }, sink, {
      protocolVersion: 4,
    });
  }
  // The small lengths: PUBACK (2) and an MQTT 5 PUBLISH's empty property list (0).
  writeToStream({ cmd: 'puback', messageId: 1 }, sink, { protocolVersion: 4 });
  writeToStream({ cmd: 'publish', topic: 'w', payload, qos: 0, retain: false, dup: false }, sink, { protocolVersion: 5 });
}
