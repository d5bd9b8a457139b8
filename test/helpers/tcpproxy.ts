/**
 * A TCP proxy on 127.0.0.1 for fault tests: put it between lpmqtt and Cyrus
 * or Mosquitto, then drop, stall or refuse connections.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxy {
  /** The port to connect to instead of the target. */
  readonly port: number;
  /** Number of live client connections. */
  readonly connections: number;
  /** Destroy all live connections (both sides), like a network cut. */
  dropAll(): void;
  /** Stall: stop forwarding both ways (connections stay open; data is buffered). */
  pause(): void;
  /** Forward again, including what was buffered. */
  resume(): void;
  /** While on, new connections are closed at once (reset). */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

/** Start a proxy from a free port on 127.0.0.1 to 127.0.0.1:`targetPort`. */
export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let paused = false;
  let refusing = false;

  const setPaused = (a: Socket, b: Socket, p: boolean): void => {
    for (const s of [a, b]) {
      if (p) s.pause();
      else s.resume();
    }
  };

  const server = createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const teardown = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
    // pipe() would resume paused sockets on drain; forward by hand so pause() holds.
    client.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk) && !paused) {
        client.pause();
        upstream.once('drain', () => !paused && client.resume());
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!client.write(chunk) && !paused) {
        upstream.pause();
        client.once('drain', () => !paused && upstream.resume());
      }
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    if (paused) setPaused(client, upstream, true);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('startProxy: no TCP address');

  return {
    port: address.port,
    get connections() {
      return pairs.size;
    },
    dropAll(): void {
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    pause(): void {
      paused = true;
      for (const [a, b] of pairs) setPaused(a, b, true);
    },
    resume(): void {
      paused = false;
      for (const [a, b] of pairs) setPaused(a, b, false);
    },
    refuse(on: boolean): void {
      refusing = on;
    },
    async close(): Promise<void> {
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
