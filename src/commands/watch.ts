/**
 * `lpmqtt watch [FILTER...]`: subscribe to the firehose and print events one
 * per line for people, or as NDJSON with `--json`. The broker comes from the
 * config (`-c FILE`, else the usual search) or from `--url`; mqtt:, mqtts:,
 * ws: and wss: all work (mqtt.js picks the transport from the scheme).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { IClientOptions, MqttClient } from 'mqtt';
import { ConfigError, UsageError, errorReason } from '../errors.js';

export interface WatchOptions {
  /** Topic filters; default `<base_topic>/#` (`launchpad/#`). */
  filters?: string[];
  /** `-c FILE`: broker, credentials, CA and base topic from this config. */
  config?: string;
  /** `--url`: the broker; overrides the config's mqtt.url. No config is read unless `config` is given too. */
  url?: string;
  /** `--ca FILE`: CA bundle (PEM) to verify an mqtts:/wss: broker; overrides mqtt.ca. */
  ca?: string;
  /** `--servername`: the name the broker's certificate must carry (default: the URL's host). */
  servername?: string;
  json?: boolean;
  /** Exit 0 after this many messages. */
  count?: number;
  /** Stops watching (Ctrl-C); watch() then resolves 0. */
  signal?: AbortSignal;
  stdout?: Writable;
  stderr?: Writable;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

type Payload = Record<string, unknown>;

/** Control characters (ESC sequences from a crafted subject, say) must not reach the terminal. */
function clean(value: unknown): string {
  if (value === undefined || value === null) return '';
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/ {2,}/g, ' ').trim();
}

/** `Thomas Huth (th-huth)` → `th-huth`: the Launchpad name, else the whole value. */
export function launchpadName(person: unknown): string {
  const s = clean(person);
  const m = /\(([^()\s]+)\)\s*$/.exec(s);
  return m?.[1] ?? s;
}

/**
 * One line for people:
 * `nova #1859713 New/Undecided  ARM v8.3a pauth not working  (by grassead)` for
 * a bug event, `project event-type  subject` for the others.
 */
export function formatEvent(topic: string, payload: unknown): string {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return `${clean(topic)}  ${clean(payload)}`;
  }
  const p = payload as Payload;
  const project = clean(p.project) || '-';
  const type = clean(p['event-type']) || 'unknown';
  if (type === 'bug') {
    const bug = clean(p['bug-number']);
    const state = [clean(p.status), clean(p.importance)].filter((s) => s !== '').join('/');
    const title = clean(p.title) || clean(p.subject);
    const by = launchpadName(p['bug-modifier']);
    let line = `${project}${bug === '' ? '' : ` #${bug}`}${state === '' ? '' : ` ${state}`}`;
    if (title !== '') line += `  ${title}`;
    if (by !== '') line += `  (by ${by})`;
    return line;
  }
  const subject = clean(p.subject);
  return subject === '' ? `${project} ${type}` : `${project} ${type}  ${subject}`;
}

/** What `--json` prints for one message: `{"topic": ..., "payload": ...}`; a payload that is not JSON stays a string. */
export function jsonLine(topic: string, raw: Buffer): string {
  const text = raw.toString('utf8');
  let payload: unknown = text;
  try {
    payload = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return JSON.stringify({ topic, payload });
}

function parsePayload(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not one of ours: show the start of it.
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  }
}

interface Target {
  url: string;
  options: IClientOptions;
  filters: string[];
}

async function resolveTarget(opts: WatchOptions): Promise<Target> {
  let base = 'launchpad';
  let url = opts.url;
  let caFile = opts.ca;
  const options: IClientOptions = {
    clientId: `lpmqtt-watch-${randomBytes(4).toString('hex')}`,
    clean: true,
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
    protocolVersion: 5,
  };
  // With --url alone no config is needed; -c (or no --url) reads one.
  if (opts.config !== undefined || opts.url === undefined) {
    // Loaded here, not at the top: `lpmqtt --help` loads every command module.
    const { loadConfig } = await import('../config/load.js');
    const { config } = await loadConfig({
      ...(opts.config !== undefined ? { file: opts.config } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.env !== undefined ? { env: opts.env } : {}),
    });
    base = config.mqtt.base_topic;
    url ??= config.mqtt.url;
    caFile ??= config.mqtt.ca;
    options.keepalive = config.mqtt.keepalive;
    // Credentials belong to the configured broker; do not send them to another --url.
    if (opts.url === undefined || opts.url === config.mqtt.url) {
      if (config.mqtt.username !== undefined) options.username = config.mqtt.username;
      if (config.mqtt.password !== undefined) options.password = config.mqtt.password;
    }
  }
  if (url === undefined || !/^(mqtts?|wss?):\/\/[^\s]+$/.test(url)) {
    throw new UsageError(`--url: expected a URL with scheme mqtt:, mqtts:, ws: or wss:, got ${JSON.stringify(url)}`);
  }
  if (caFile !== undefined) {
    try {
      options.ca = await readFile(caFile);
    } catch (err) {
      throw new UsageError(`--ca ${caFile}: cannot read CA file: ${errorReason(err)}`, { cause: err });
    }
  }
  if (opts.servername !== undefined) options.servername = opts.servername;
  const filters = opts.filters !== undefined && opts.filters.length > 0 ? opts.filters : [`${base}/#`];
  for (const f of filters) {
    if (f === '' || /#./.test(f) || /[^/]#|[^/]\+|\+[^/]/.test(f)) {
      throw new UsageError(`FILTER ${JSON.stringify(f)}: not a valid MQTT topic filter (# only last, + and # only as whole levels)`);
    }
  }
  return { url, options, filters };
}

/** Without credentials, for messages. */
function shownUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1');
}

/** Connect, resolving on CONNACK and rejecting with the first real error (not mqtt.js' generic one). */
async function connectOnce(target: Target): Promise<MqttClient> {
  const { default: mqtt } = await import('mqtt');
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(target.url, { ...target.options, reconnectPeriod: 0 });
    let lastError: Error | undefined;
    const onError = (err: Error): void => {
      lastError = err;
    };
    const onConnect = (): void => {
      client.off('error', onError);
      client.off('close', onClose);
      resolve(client);
    };
    const onClose = (): void => {
      client.off('connect', onConnect);
      client.off('error', onError);
      client.end(true);
      reject(lastError ?? new Error('connection closed before CONNACK'));
    };
    client.on('error', onError);
    client.once('connect', onConnect);
    client.once('close', onClose);
  });
}

/** Subscribe and print until `signal` aborts (0), `count` messages were printed (0), or the first connect fails (1). */
export async function watch(opts: WatchOptions): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const note = (msg: string): void => void stderr.write(`lpmqtt watch: ${msg}\n`);

  let target: Target;
  try {
    target = await resolveTarget(opts);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      note(err.message);
      return 2;
    }
    throw err;
  }
  if (opts.signal?.aborted) return 0;

  let client: MqttClient;
  try {
    client = await connectOnce(target);
  } catch (err) {
    note(`cannot connect to ${shownUrl(target.url)}: ${errorReason(err)}`);
    return 1;
  }
  // Now connected: mqtt.js reconnects by itself and resubscribes.
  client.options.reconnectPeriod = target.options.reconnectPeriod ?? 2000;

  let printed = 0;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));

  client.on('message', (topic, raw) => {
    if (opts.count !== undefined && printed >= opts.count) return;
    const line = opts.json === true ? jsonLine(topic, raw) : formatEvent(topic, parsePayload(raw));
    stdout.write(line + '\n');
    printed += 1;
    if (opts.count !== undefined && printed >= opts.count) finish(0);
  });
  let down = false;
  client.on('offline', () => {
    if (!down) note(`connection to ${shownUrl(target.url)} lost; reconnecting`);
    down = true;
  });
  client.on('error', (err) => note(`${shownUrl(target.url)}: ${errorReason(err)}`));
  client.on('connect', () => {
    if (down) note(`reconnected to ${shownUrl(target.url)}`);
    down = false;
  });

  const onAbort = (): void => finish(0);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const granted = await client.subscribeAsync(target.filters, { qos: 1 });
    const refused = granted.filter((g) => g.qos >= 128 || ('reasonCode' in g && typeof g.reasonCode === 'number' && g.reasonCode >= 128));
    if (refused.length > 0) {
      note(`the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')} (not authorized?)`);
      return 1;
    }
    note(`watching ${target.filters.join(' ')} on ${shownUrl(target.url)}${opts.signal ? ' (Ctrl-C to stop)' : ''}`);
    return await done;
  } catch (err) {
    note(`subscribe on ${shownUrl(target.url)} failed: ${errorReason(err)}`);
    return 1;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await client.endAsync(true).catch(() => undefined);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Adds `watch` to the CLI. Ctrl-C (SIGINT) and SIGTERM end it with exit code 0. */
export function registerWatch(program: Command, io: { stdout?: Writable; stderr?: Writable } = {}): Command {
  return program
    .command('watch')
    .description('subscribe to the firehose and print events, one per line (NDJSON with --json)')
    .argument('[filter...]', 'MQTT topic filters (default: <base_topic>/#, i.e. launchpad/#)')
    .option('-c, --config <file>', 'take the broker, credentials and CA from this config file')
    .option('--url <url>', 'broker URL (mqtt:, mqtts:, ws:, wss:); user:password@ may be part of it')
    .option('--ca <file>', 'CA bundle (PEM) to verify an mqtts:/wss: broker')
    .option('--servername <name>', 'name the broker certificate must carry (default: the URL host)')
    .option('--json', 'print {"topic": ..., "payload": ...} per line (NDJSON)')
    .addOption(new Option('--count <n>', 'exit after n messages').argParser(positiveInt))
    .action(async (filters: string[], o: { config?: string; url?: string; ca?: string; servername?: string; json?: boolean; count?: number }) => {
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        process.exitCode = await watch({ ...o, ...io, filters, signal: ac.signal });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
