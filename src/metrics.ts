/**
 * Prometheus metrics (`/metrics`) and a health check (`/healthz`) over plain
 * HTTP, fed only by the bridge's events. Started by `lpmqtt run` when
 * `metrics.listen` is set. Uses its own prom-client Registry, never the global
 * one, so two bridges in one process (tests) do not share counters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BridgeLike, BridgeSignals, Health, MailResult } from './health.js';
import type { Logger } from './log.js';
import { LpmqttError } from './errors.js';

const RESULTS: readonly MailResult[] = ['published', 'foreign', 'private', 'rejected', 'failed', 'deferred'];

export class MetricsError extends LpmqttError {
  override name = 'MetricsError';
}

/**
 * A registry with lpmqtt's metrics, wired to the bridge's events. Pure wiring:
 * no server; `close()` detaches the listeners.
 */
export function createMetrics(bridge: BridgeLike, opts: { defaultMetrics?: boolean } = {}): { registry: Registry; close(): void } {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const mails = new Counter({
    name: 'lpmqtt_mails_total',
    help: 'Mails handled, by result (published, foreign, private, rejected, failed, deferred).',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of RESULTS) mails.inc({ result }, 0);
  const events = new Counter({
    name: 'lpmqtt_events_published_total',
    help: 'Events published to the broker (acknowledged at the configured QoS).',
    registers,
  });
  const latency = new Histogram({
    name: 'lpmqtt_publish_latency_seconds',
    help: 'Time from fetching a mail to the broker acknowledging all its events.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const backlog = new Gauge({
    name: 'lpmqtt_backlog_mails',
    help: 'Mails in the watched folder not yet handled.',
    registers,
  });
  const up = new Gauge({
    name: 'lpmqtt_connection_up',
    help: '1 while the connection to the IMAP server or MQTT broker is up, else 0.',
    labelNames: ['side'] as const,
    registers,
  });
  up.set({ side: 'imap' }, 0);
  up.set({ side: 'mqtt' }, 0);
  const lastIdle = new Gauge({
    name: 'lpmqtt_last_idle_timestamp_seconds',
    help: 'Unix time of the last sign that IMAP IDLE (or polling) is alive; 0 before the first.',
    registers,
  });
  lastIdle.set(0);

  const handlers: { [K in keyof BridgeSignals]?: (...args: BridgeSignals[K]) => void } = {
    mail: ({ result }) => mails.inc({ result }),
    published: (p) => {
      events.inc(p.events);
      latency.observe(p.latencyMs / 1000);
    },
    backlog: (n) => backlog.set(n),
    connection: ({ side, up: isUp }) => up.set({ side }, isUp ? 1 : 0),
    idle: (at) => lastIdle.set(at.getTime() / 1000),
  };
  const emitter = bridge as unknown as EventEmitter;
  const entries = Object.entries(handlers) as [string, (...a: unknown[]) => void][];
  for (const [name, fn] of entries) emitter.on(name, fn);
  return {
    registry,
    close: () => {
      for (const [name, fn] of entries) emitter.off(name, fn);
    },
  };
}

/** Split `HOST:PORT`, `:PORT` or `[V6]:PORT` (schema-validated) into its parts; an empty host means every interface. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new MetricsError(`metrics.listen: expected HOST:PORT, got ${JSON.stringify(listen)}`);
  }
  const host = m[1] ?? m[2];
  return { host: host === '' || host === undefined ? undefined : host, port };
}

export interface MetricsServer {
  /** `http://host:port` actually bound (port 0 gets a free one). */
  readonly url: string;
  readonly port: number;
  readonly registry: Registry;
  close(): Promise<void>;
}

/**
 * Serve `/metrics` and `/healthz` on `listen`. `/healthz` answers 200 while
 * `health` says healthy (both connections up, IDLE alive), else 503; the JSON
 * body says which part is down either way.
 */
export async function startMetrics(
  bridge: BridgeLike,
  opts: { listen: string; health: Health; log: Logger; defaultMetrics?: boolean },
): Promise<MetricsServer> {
  const { host, port } = parseListen(opts.listen);
  const metrics = createMetrics(bridge, opts.defaultMetrics === undefined ? {} : { defaultMetrics: opts.defaultMetrics });
  const log = opts.log.child({ component: 'metrics' });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/healthz') {
      const s = opts.health.state();
      const body = JSON.stringify({
        status: s.healthy ? 'ok' : 'unavailable',
        imap: s.imap ? 'up' : 'down',
        mqtt: s.mqtt ? 'up' : 'down',
        idle: { alive: s.idleAlive, last: s.lastIdle?.toISOString() ?? null },
        backlog: s.backlog,
        problems: s.problems,
      });
      res.writeHead(s.healthy ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'metrics request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  // A scraper that keeps its connection open must not hold up shutdown for long.
  server.keepAliveTimeout = 5000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    metrics.close();
    throw new MetricsError(`metrics.listen: cannot listen on ${opts.listen}: ${(err as Error).message}`, { cause: err });
  }
  server.on('error', (err) => log.error({ err }, 'metrics server error'));
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}`;
  log.info({ url }, 'metrics and health listening');

  return {
    url,
    port: addr.port,
    registry: metrics.registry,
    close: async () => {
      metrics.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
