/**
 * What `lpmqtt run` adds around the bridge for operators: health tracking,
 * `/metrics` + `/healthz` when `metrics.listen` is set, and sd_notify when
 * run by systemd (`Type=notify`). Call before `bridge.start()` so the first
 * connection events are seen.
 */
import type { Config } from './config/schema.js';
import { Health, idleMaxAgeMs, type BridgeLike } from './health.js';
import type { Logger } from './log.js';
import { startMetrics, type MetricsServer } from './metrics.js';
import { startSystemd, type SystemdHandle } from './systemd.js';

export interface Ops {
  readonly health: Health;
  readonly metrics: MetricsServer | undefined;
  readonly systemd: SystemdHandle;
  /** Tell systemd we are stopping (before bridge.stop()). */
  stopping(why?: string): Promise<void>;
  /** Close the metrics server and detach everything (after bridge.stop()). */
  close(): Promise<void>;
}

export async function startOps(
  bridge: BridgeLike,
  opts: { config: Pick<Config, 'imap' | 'metrics'>; log: Logger; env?: NodeJS.ProcessEnv },
): Promise<Ops> {
  const health = new Health(bridge, { idleMaxAgeMs: idleMaxAgeMs(opts.config.imap) });
  let metrics: MetricsServer | undefined;
  if (opts.config.metrics.listen !== undefined) {
    try {
      metrics = await startMetrics(bridge, { listen: opts.config.metrics.listen, health, log: opts.log });
    } catch (err) {
      health.close();
      throw err;
    }
  }
  const systemd = startSystemd(health, { log: opts.log, ...(opts.env ? { env: opts.env } : {}) });
  return {
    health,
    metrics,
    systemd,
    stopping: (why = 'stopping') => systemd.stopping(why),
    close: async () => {
      systemd.close();
      await metrics?.close();
      health.close();
    },
  };
}
