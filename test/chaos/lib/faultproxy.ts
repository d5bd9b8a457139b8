/**
 * A TCP proxy for fault tests that, unlike test/helpers/tcpproxy.ts, can cut a
 * connection at a chosen point of the byte stream: "when the server starts
 * sending a FETCH response", "in the middle of an MQTT PUBLISH". It also counts
 * connections and bytes, so a test can tell a reconnect loop from a reconnect.
 *
 *   const p = await startFaultProxy(cyrus.imapPort);
 *   const cut = p.cutWhen('down', (chunk) => chunk.includes(' FETCH '));
 *   await cut; // a FETCH response was cut half-way through its first chunk
 */
import { createServer, connect, type Socket } from 'node:net';

export type Direction = 'up' | 'down';

/** Decides on each chunk (latin1 text, raw bytes, bytes seen in that direction since arming). */
export type CutPredicate = (text: string, chunk: Buffer, bytesSinceArm: number) => boolean;

export interface FaultProxy {
  readonly port: number;
  /** Live connections. */
  readonly connections: number;
  /** Connections accepted since start (refused ones not counted). */
  readonly accepted: number;
  /** Bytes forwarded client → server and server → client. */
  readonly bytes: { up: number; down: number };
  /** Milliseconds since any byte went through either way (Infinity before the first). */
  quietMs(): number;
  /** Destroy every live connection, both sides (a network cut). */
  dropAll(): void;
  /**
   * Cut the connection that carries the first chunk for which `pred` is true:
   * half of that chunk is forwarded, then both sides are destroyed. Resolves
   * (with what was cut) once that happened. One shot.
   */
  cutWhen(dir: Direction, pred: CutPredicate): Promise<{ text: string; bytesSinceArm: number }>;
  /** Stop forwarding both ways, for live and new connections (data stays buffered). */
  pause(): void;
  resume(): void;
  /** While on, new connections are reset at once. */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

interface Cutter {
  dir: Direction;
  pred: CutPredicate;
  seen: number;
  resolve: (v: { text: string; bytesSinceArm: number }) => void;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let paused = false;
  let refusing = false;
  let accepted = 0;
  const bytes = { up: 0, down: 0 };
  let lastByteAt = 0;
  const cutters = new Set<Cutter>();

  const destroyPair = (pair: [Socket, Socket]): void => {
    pair[0].destroy();
    pair[1].destroy();
    pairs.delete(pair);
  };

  const server = createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = connect({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    // Set at a cut: nothing more is forwarded (a real cut cannot splice later bytes after the half chunk).
    let severed = false;
    const teardown = (): void => destroyPair(pair);
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
    const forward = (dir: Direction, from: Socket, to: Socket) => (chunk: Buffer): void => {
      if (severed) return;
      for (const c of cutters) {
        if (c.dir !== dir) continue;
        c.seen += chunk.length;
        const text = chunk.toString('latin1');
        if (c.pred(text, chunk, c.seen)) {
          cutters.delete(c);
          severed = true;
          const half = chunk.subarray(0, Math.floor(chunk.length / 2));
          // Let the half chunk reach the peer, then cut; destroy() at once might drop it.
          if (half.length > 0) to.write(half, () => destroyPair(pair));
          else destroyPair(pair);
          c.resolve({ text: text.slice(0, 200), bytesSinceArm: c.seen });
          return;
        }
      }
      bytes[dir] += chunk.length;
      lastByteAt = Date.now();
      // Forward by hand (not pipe()) so that pause() holds.
      if (!to.write(chunk) && !paused) {
        from.pause();
        to.once('drain', () => !paused && from.resume());
      }
    };
    client.on('data', forward('up', client, upstream));
    upstream.on('data', forward('down', upstream, client));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    if (paused) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('startFaultProxy: no TCP address');

  return {
    port: address.port,
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    bytes,
    quietMs: () => (lastByteAt === 0 ? Infinity : Date.now() - lastByteAt),
    dropAll(): void {
      for (const pair of [...pairs]) destroyPair(pair);
    },
    cutWhen(dir, pred) {
      return new Promise((resolve) => cutters.add({ dir, pred, seen: 0, resolve }));
    },
    pause(): void {
      paused = true;
      for (const [a, b] of pairs) {
        a.pause();
        b.pause();
      }
    },
    resume(): void {
      paused = false;
      for (const [a, b] of pairs) {
        a.resume();
        b.resume();
      }
    },
    refuse(on: boolean): void {
      refusing = on;
    },
    async close(): Promise<void> {
      for (const pair of [...pairs]) destroyPair(pair);
      cutters.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
