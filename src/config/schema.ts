/**
 * The one schema of lpmqtt's configuration (SPEC §7). The `Config` type and
 * every default are derived from it, so the schema, the defaults and the type
 * cannot drift apart. Unknown keys are errors (`strictObject`).
 */
import { z } from 'zod';

const port = z.number().int().min(1).max(65535);
const seconds = z.number().positive();

/** `host:port` or `:port` for the metrics listener. */
const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:9464');

export const imapSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  /** Defaults to 993 with `tls: true`, else 143 (resolved by the loader). */
  port: port.optional(),
  /** Implicit TLS (imaps). */
  tls: z.boolean().default(false),
  /** CA bundle (PEM file path) to verify the server certificate. */
  ca: z.string().min(1).optional(),
  /** Name the server certificate must match; defaults to `host`. */
  servername: z.string().min(1).optional(),
  username: z.string().min(1).default('lpmqtt'),
  password: z.string().optional(),
  password_file: z.string().min(1).optional(),
  folder: z.string().min(1).default('INBOX'),
  after_publish: z.enum(['seen', 'delete', 'move']).default('seen'),
  move_to: z.string().min(1).optional(),
  /** Where foreign, rejected and unparseable mail goes; null: flag `$LpmqttFailed` and leave it. */
  failed_folder: z.string().min(1).nullable().default('INBOX.failed'),
  /** Poll interval (seconds) when the server has no IDLE. */
  poll_interval: seconds.default(60),
  /** Re-issue IDLE after this many seconds (RFC 2177 asks for < 29 min). */
  idle_timeout: seconds.default(300),
  /** At most this many mails are published and not yet marked at once (a crash re-publishes at most one batch). */
  batch_size: z.number().int().min(1).max(5000).default(200),
  /** A NOOP must answer within this many seconds, or the connection is restarted. */
  watchdog_timeout: seconds.default(30),
  /** Reconnect backoff cap (seconds). */
  reconnect_max_delay: seconds.default(60),
});

export const mqttSchema = z.strictObject({
  url: z
    .string()
    .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'expected a URL with scheme mqtt:, mqtts:, ws: or wss:')
    .default('mqtt://127.0.0.1:1883'),
  base_topic: z
    .string()
    .min(1)
    .regex(/^[^#+\u0000]+$/, 'must not contain +, # or NUL')
    .default('launchpad'),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
  keepalive: z.number().int().min(0).max(65535).default(60),
  client_id: z.string().min(1).default('lpmqtt'),
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  password_file: z.string().min(1).optional(),
  ca: z.string().min(1).optional(),
  /** Retained `online`, last will `offline`; null disables it. */
  status_topic: z.string().min(1).nullable().default('lpmqtt/status'),
  /** A publish not acknowledged within this many seconds fails (mail stays unmarked). */
  publish_timeout: seconds.default(30),
  /** Largest packet the broker accepts (bytes); payloads are cut to fit. Default: from CONNACK, else none. */
  max_packet_size: z.number().int().min(1024).optional(),
});

export const parseSchema = z.strictObject({
  fanout: z.enum(['all', 'first']).default('all'),
  max_body_bytes: z.number().int().min(0).default(65536),
  private_bugs: z.enum(['skip', 'publish']).default('skip'),
});

export const verifySchema = z.strictObject({
  /** Publish only mail whose DKIM signature verifies for launchpad.net. */
  dkim: z.boolean().default(false),
  /** Trust only the top-most Authentication-Results header with this authserv-id. */
  authserv_id: z.string().min(1).optional(),
  /** The signing domain required (d=). */
  domain: z.string().min(1).default('launchpad.net'),
});

export const logSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export const metricsSchema = z.strictObject({
  listen: listenAddress.optional(),
});

export const configSchema = z.strictObject({
  imap: imapSchema.prefault({}),
  mqtt: mqttSchema.prefault({}),
  parse: parseSchema.prefault({}),
  verify: verifySchema.prefault({}),
  log: logSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
});

/** The effective configuration, every default filled in. */
export type Config = z.infer<typeof configSchema>;
/** What a user may write in a config file. */
export type ConfigInput = z.input<typeof configSchema>;

/** Keys whose values never reach a log line or `check-config` output. */
export const SECRET_KEYS = ['password'] as const;
