/**
 * Everything a chaos test needs, wired up and torn down with the test:
 *
 *   Cyrus ←─ imapProxy ←─┐
 *                        daemon (node dist/cli.js run)
 *   Mosquitto ←─ mqttProxy ←─┘
 *   Mosquitto ──→ recorder (direct, never through a proxy)
 *
 * plus the faults that need orchestration so that the audit stays exact
 * (a broker restart must not lose events between broker and recorder: that
 * would be the broker's loss, not the daemon's).
 */
import type { ConfigInput } from '../../../src/config/schema.js';
import { startCyrus, type Cyrus, type CyrusOptions } from '../../helpers/cyrus.js';
import { startMosquitto, type Mosquitto, type MosquittoOptions } from '../../helpers/mosquitto.js';
import { audit, drainAndAudit, type AuditReport } from './audit.js';
import { Daemon } from './daemon.js';
import { sleep } from './env.js';
import { startFaultProxy, type FaultProxy } from './faultproxy.js';
import { bugMailSource, Feeder, type FedMail } from './feeder.js';
import { Recorder } from './recorder.js';

export type ConfigOver = { [K in keyof ConfigInput]?: Partial<NonNullable<ConfigInput[K]>> };

export interface StackOptions {
  cyrus?: CyrusOptions;
  broker?: MosquittoOptions;
  /** Daemon config on top of the chaos defaults. */
  config?: ConfigOver;
  /** Keep whole payloads in the recorder. */
  keepPayloads?: boolean;
  /** MQTT username/password the daemon uses (the broker must know them). */
  mqttAuth?: { username: string; password: string };
  /** MQTT username/password of the recorder (when the broker wants one). */
  recorderAuth?: { username: string; password: string };
  /** Node options for the daemon's process, before the script (e.g. `--inspect=127.0.0.1:PORT`). */
  daemonNodeArgs?: string[];
  /** Do not start the daemon (the test starts it later). */
  noDaemon?: boolean;
}

export interface Stack {
  cyrus: Cyrus;
  broker: Mosquitto;
  imapProxy: FaultProxy;
  mqttProxy: FaultProxy;
  recorder: Recorder;
  daemon: Daemon;
  /** The daemon's config as written to its file. */
  config: ConfigInput;
  /** A feeder of realistic bug mails into lpmqtt's INBOX over LMTP. */
  feeder(tag: string, source?: (i: number) => FedMail): Feeder;
  audit(feeder: Feeder, folder?: string): Promise<AuditReport>;
  drainAndAudit(feeder: Feeder, ms: number, folder?: string): Promise<AuditReport>;
  /** Broker stopped and started again; the recorder is subscribed again before the daemon may reconnect. */
  restartBroker(downMs?: number): Promise<void>;
  /** Cyrus shut down and started again (same data, same ports). */
  restartCyrus(downMs?: number): Promise<void>;
}

export function chaosConfig(cyrus: Cyrus, imapPort: number, mqttPort: number, over: ConfigOver = {}, auth?: { username: string; password: string }): ConfigInput {
  return {
    ...over,
    imap: {
      host: '127.0.0.1',
      port: imapPort,
      username: cyrus.user,
      password: cyrus.password,
      folder: 'INBOX',
      failed_folder: 'INBOX.failed',
      batch_size: 20,
      watchdog_timeout: 2,
      reconnect_max_delay: 2,
      ...over.imap,
    },
    mqtt: {
      url: `mqtt://127.0.0.1:${mqttPort}`,
      client_id: `lpmqtt-chaos-${process.pid}`,
      publish_timeout: 5,
      keepalive: 10,
      ...(auth ?? {}),
      ...over.mqtt,
    },
    log: { level: 'info', ...over.log },
  };
}

/** Where teardown goes: a node:test TestContext, or anything with after(). */
export interface Teardown {
  after(fn: () => unknown): void;
}

export async function startStack(t: Teardown, opts: StackOptions = {}): Promise<Stack> {
  // One hook that undoes everything in reverse order: the daemon first, the servers last.
  const undo: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of undo.reverse()) await fn();
  });
  const cyrus = await startCyrus(opts.cyrus);
  undo.push(() => cyrus.stop());
  const broker = await startMosquitto(opts.broker);
  undo.push(() => broker.stop());
  const imapProxy = await startFaultProxy(cyrus.imapPort);
  undo.push(() => imapProxy.close());
  const mqttProxy = await startFaultProxy(broker.port);
  undo.push(() => mqttProxy.close());
  const recorder = await Recorder.start(broker.url, { keepPayloads: opts.keepPayloads ?? false, ...(opts.recorderAuth ?? {}) });
  undo.push(() => recorder.close());
  const config = chaosConfig(cyrus, imapProxy.port, mqttProxy.port, opts.config, opts.mqttAuth);
  const daemon = new Daemon(config, {}, opts.daemonNodeArgs ?? []);
  undo.push(() => daemon.dispose());
  if (!opts.noDaemon) {
    await daemon.start();
    await daemon.waitConnected(30_000);
  }

  const stack: Stack = {
    cyrus, broker, imapProxy, mqttProxy, recorder, daemon, config,
    feeder: (tag, source) => new Feeder(cyrus.host, cyrus.lmtpPort, source ?? bugMailSource(tag)),
    audit: (feeder, folder = 'INBOX') => audit({ cyrus, recorder, feeder, folder }),
    drainAndAudit: (feeder, ms, folder = 'INBOX') => drainAndAudit({ cyrus, recorder, feeder, folder }, ms),
    async restartBroker(downMs = 0) {
      // No daemon connection may reach the new broker before the recorder is subscribed again,
      // and what the old broker acknowledged should reach the recorder before it goes.
      mqttProxy.refuse(true);
      mqttProxy.pause();
      await recorder.settle(300, 5_000);
      await broker.stop();
      mqttProxy.dropAll();
      if (downMs > 0) await sleep(downMs);
      await broker.start();
      await recorder.ready();
      mqttProxy.resume();
      mqttProxy.refuse(false);
    },
    async restartCyrus(downMs = 0) {
      await cyrus.shutdown();
      if (downMs > 0) await sleep(downMs);
      await cyrus.start();
    },
  };
  return stack;
}
