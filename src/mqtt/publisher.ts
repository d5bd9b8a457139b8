/**
 * The MQTT side: one long-lived mqtt.js connection (MQTT 5) that publishes
 * events and tells when the broker has acknowledged them. mqtt.js reconnects by
 * itself; this class adds a backoff to that, a retained `online` status with a
 * last-will `offline`, a deadline on every publish, and cuts payloads that the
 * broker would refuse for their size (it disconnects instead of answering,
 * which with a naive resend turns into a loop).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { connect as mqttConnect, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import type { Config } from '../config/schema.js';
import { fitPayload, serializePayload, serializePayloads } from '../core/index.js';
import type { LpEvent } from '../core/types.js';
import type { Logger } from '../log.js';
import { MqttConnectError, PublishError } from './errors.js';
import { publishPacketSize } from './packet.js';
import { warmPacketLengthCache } from './varint-cache.js';

export { MqttConnectError, PublishError } from './errors.js';

export interface PublisherEvents {
  /** Connected (first time or again); the status topic says `online`. */
  connect: [];
  /** The connection was lost; mqtt.js is trying again. */
  offline: [];
}

export interface PublisherOptions {
  config: Config['mqtt'];
  log: Logger;
  /** Appended to `client_id`, so that a one-shot tool does not kick the daemon off the broker. */
  clientIdSuffix?: string;
  /** Retained `online` on `status_topic` and a last will `offline` (default true). */
  status?: boolean;
}

const PROTOCOL_VERSION = 5;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** CONNACK refusals that another attempt with the same settings cannot fix. */
const FATAL_CONNACK = new Set([1, 2, 4, 5, 133, 134, 135, 138, 140]);
/** TLS verification failures: wrong CA or host name; retrying does not help. */
const FATAL_TLS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/;

interface ReconnectInternals {
  _clearReconnect(): void;
  _setupReconnect(): void;
  reconnecting: boolean;
  disconnecting: boolean;
}

type Callback = (err?: Error) => void;

export class Publisher extends EventEmitter<PublisherEvents> {
  readonly #config: Config['mqtt'];
  readonly #log: Logger;
  readonly #clientId: string;
  readonly #status: boolean;
  readonly #qos: 0 | 1 | 2;
  #client: MqttClient | undefined;
  #connected = false;
  #closing = false;
  #failures = 0;
  /** Fails each publish still waiting for its ack (see close()). */
  readonly #pending = new Set<(err: PublishError) => void>();
  /** Largest packet the broker takes: the smaller of config and the last CONNACK. */
  #packetLimit: number | undefined;
  /** The socket held corked until the end of this event loop turn (see #holdWrites). */
  #corked: object | undefined;

  constructor(opts: PublisherOptions) {
    super();
    this.#config = opts.config;
    this.#log = opts.log;
    this.#clientId = opts.config.client_id + (opts.clientIdSuffix ?? '');
    this.#status = (opts.status ?? true) && opts.config.status_topic !== null;
    this.#qos = opts.config.qos;
    this.#packetLimit = opts.config.max_packet_size;
  }

  /** True while the broker connection is up. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The packet size limit in force (bytes), if any. */
  get maxPacketSize(): number | undefined {
    return this.#packetLimit;
  }

  /**
   * Opens the connection. Resolves on the first CONNACK; keeps trying through
   * network errors; rejects with MqttConnectError when the broker refuses the
   * credentials or the TLS certificate does not verify, or when close() is
   * called first.
   */
  async connect(): Promise<void> {
    if (this.#client) throw new Error('Publisher.connect() called twice');
    const url = redactUrl(this.#config.url);
    warmPacketLengthCache();
    const client = mqttConnect(this.#config.url, this.#clientOptions());
    this.#client = client;
    this.#wire(client);
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        client.off('connect', onConnect);
        client.off('error', onError);
        client.off('end', onEnd);
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error): void => {
        if (!isFatal(err)) return; // logged by #wire; mqtt.js tries again
        cleanup();
        client.end(true);
        this.#client = undefined;
        reject(new MqttConnectError(`MQTT broker ${url} refused the connection: ${err.message}`, { url, cause: err }));
      };
      const onEnd = (): void => {
        cleanup();
        reject(new MqttConnectError(`MQTT connection to ${url} closed before it was established`, { url }));
      };
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('end', onEnd);
    });
  }

  /**
   * Publishes every event (all in flight at once) and resolves when the broker
   * has acknowledged each at the configured QoS (QoS 0: when written). Rejects
   * with PublishError when one is refused, cannot be made to fit a packet, or
   * is not acknowledged within `publish_timeout`.
   */
  async publish(events: readonly LpEvent[]): Promise<void> {
    const client = this.#client;
    if (!client || this.#closing) throw new PublishError('MQTT publisher is not open');
    // Fan-out copies share one body: its JSON is made once for the mail, not once per target.
    const payloads = serializePayloads(events.map((e) => e.payload));
    this.#holdWrites(client);
    await Promise.all(events.map((e, i) => this.#publishOne(client, e, payloads[i] as string)));
  }

  /**
   * Clean stop: retained `offline` (when the connection is up), DISCONNECT,
   * close. Bounded: gives up waiting after a few seconds and drops the socket.
   * Unacknowledged publishes fail with PublishError.
   */
  async close(): Promise<void> {
    const client = this.#client;
    if (!client || this.#closing) return;
    this.#closing = true;
    const topic = this.#config.status_topic;
    if (this.#status && topic !== null && client.connected) {
      await withTimeout(client.publishAsync(topic, 'offline', { qos: 1, retain: true }), 2_000).catch((err: unknown) =>
        this.#log.warn({ err }, 'MQTT: could not publish the offline status'),
      );
    }
    const ended = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    const ok = await withTimeout(ended, 3_000).then(
      () => true,
      () => false,
    );
    if (!ok) {
      await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    }
    // Whatever is still unacknowledged fails now rather than holding its timer (and the process) for publish_timeout.
    for (const fail of [...this.#pending]) fail(new PublishError('MQTT publisher closed before the broker acknowledged'));
    this.#setConnected(false);
    this.#client = undefined;
  }

  #clientOptions(): IClientOptions {
    const c = this.#config;
    const opts: IClientOptions = {
      protocolVersion: PROTOCOL_VERSION,
      clientId: this.#clientId,
      clean: true,
      keepalive: c.keepalive,
      reconnectPeriod: RECONNECT_MIN_MS,
      reconnectOnConnackError: true,
      connectTimeout: 15_000,
      resubscribe: false,
      rejectUnauthorized: true,
      // mqtt.js traces every packet through `debug`; even switched off that allocates per call.
      log: () => undefined,
      // Otherwise mqtt-packet keeps a Buffer for each of the 65536 packet ids: ~6 MB of heap for good.
      writeCache: false,
    };
    if (c.username !== undefined) opts.username = c.username;
    if (c.password !== undefined) opts.password = c.password;
    if (c.ca !== undefined) opts.ca = readFileSync(c.ca);
    if (this.#status && c.status_topic !== null) {
      opts.will = { topic: c.status_topic, payload: Buffer.from('offline'), qos: 1, retain: true };
    }
    return opts;
  }

  #wire(client: MqttClient): void {
    const url = redactUrl(this.#config.url);
    client.on('connect', (connack: IConnackPacket) => {
      this.#failures = 0;
      // Several small packets per mail: none may wait for the ACK of the one before (Nagle).
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      const internals = client as unknown as ReconnectInternals & { options: IClientOptions };
      internals.options.reconnectPeriod = RECONNECT_MIN_MS;
      const brokerLimit = connack.properties?.maximumPacketSize;
      const configured = this.#config.max_packet_size;
      this.#packetLimit =
        brokerLimit !== undefined && configured !== undefined
          ? Math.min(brokerLimit, configured)
          : (brokerLimit ?? configured);
      this.#log.info({ url, clientId: this.#clientId, maxPacketSize: this.#packetLimit }, 'MQTT connected');
      const topic = this.#config.status_topic;
      if (this.#status && topic !== null) {
        client.publish(topic, 'online', { qos: 1, retain: true }, (err) => {
          if (err) this.#log.warn({ err, topic }, 'MQTT: could not publish the online status');
        });
      }
      this.#setConnected(true);
    });
    // Runs before mqtt.js's own 'close' handler arms the reconnect timer, so
    // the period set here is the one used: exponential backoff with jitter.
    client.prependListener('close', () => {
      if (this.#closing) return;
      const internals = client as unknown as ReconnectInternals & { options: IClientOptions };
      this.#failures += 1;
      const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(this.#failures - 1, 16));
      internals.options.reconnectPeriod = Math.round(base * (0.8 + Math.random() * 0.4));
      internals._clearReconnect();
    });
    client.on('close', () => {
      if (this.#connected && !this.#closing) this.#log.warn({ url }, 'MQTT connection lost; reconnecting');
      this.#setConnected(false);
    });
    client.on('error', (err: Error) => {
      if (this.#closing) return;
      // A refusal after the first connect (password changed, ACL) is logged as an error and
      // retried with backoff: the daemon recovers by itself once the broker takes it again.
      const level = isFatal(err) ? 'error' : 'warn';
      this.#log[level]({ url, err: { message: err.message, code: (err as { code?: unknown }).code } }, 'MQTT error');
    });
  }

  /**
   * Corks the socket until this turn of the event loop ends: the events of
   * every mail handled in the turn (a FETCH response chunk holds ten or more)
   * go out in one writev instead of one system call per mail, which mqtt.js's
   * own per-tick cork gives.
   */
  #holdWrites(client: MqttClient): void {
    const stream = client.stream as Partial<Pick<Writable, 'cork' | 'uncork'>> | undefined;
    if (!stream?.cork || !stream.uncork || this.#corked === stream) return;
    stream.cork();
    this.#corked = stream;
    setImmediate(() => {
      this.#corked = undefined;
      stream.uncork?.();
    });
  }

  #setConnected(up: boolean): void {
    if (this.#connected === up) return;
    this.#connected = up;
    if (up) this.emit('connect');
    else this.emit('offline');
  }

  /** The payload as sent: the serialised JSON text, cut to fit the packet limit when needed (mqtt.js writes it as UTF-8: no Buffer of our own per event). */
  #encode(event: LpEvent, payload: string): string {
    const limit = this.#packetLimit;
    if (limit === undefined) return payload;
    const bytes = Buffer.byteLength(payload, 'utf8');
    if (publishPacketSize(event.topic, bytes, this.#qos, PROTOCOL_VERSION) <= limit) return payload;
    const fitted = serializePayload(fitPayload(event, limit).payload);
    const fittedBytes = Buffer.byteLength(fitted, 'utf8');
    if (publishPacketSize(event.topic, fittedBytes, this.#qos, PROTOCOL_VERSION) > limit) {
      throw new PublishError(
        `event for ${event.topic} does not fit the broker's packet size limit of ${limit} bytes even without its body`,
        { topic: event.topic, permanent: true },
      );
    }
    this.#log.warn(
      { topic: event.topic, bytes, cutTo: fittedBytes, maxPacketSize: limit },
      'MQTT: payload larger than the broker accepts; body cut to fit',
    );
    return fitted;
  }

  #publishOne(client: MqttClient, event: LpEvent, serialized: string): Promise<void> {
    const { topic } = event;
    const payload = this.#encode(event, serialized);
    const timeoutMs = this.#config.publish_timeout * 1000;
    return new Promise<void>((resolve, reject) => {
      const fail = (err: PublishError): void => {
        this.#pending.delete(fail);
        clearTimeout(timer);
        forgetOutgoing(client, cb);
        reject(err);
      };
      const cb: Callback = (err) => {
        if (!this.#pending.delete(fail)) return; // already settled
        clearTimeout(timer);
        if (err) reject(new PublishError(`MQTT publish to ${topic} failed: ${err.message}`, { topic, cause: err }));
        else resolve();
      };
      const timer = setTimeout(() => {
        fail(new PublishError(`MQTT publish to ${topic} not acknowledged within ${this.#config.publish_timeout} s`, { topic }));
      }, timeoutMs);
      this.#pending.add(fail);
      client.publish(topic, payload, { qos: this.#qos, retain: false }, cb);
    });
  }
}

/**
 * Drops a timed-out message from mqtt.js's in-flight store so that it is not
 * sent again on reconnect (the mail stays unmarked and is published again
 * later anyway). Best effort: a message being replayed from the store carries
 * a wrapped callback and is left alone.
 */
function forgetOutgoing(client: MqttClient, cb: Callback): void {
  for (const [id, entry] of Object.entries(client.outgoing)) {
    if (entry?.cb === cb) {
      client.removeOutgoingMessage(Number(id));
      return;
    }
  }
}

/** The broker URL for logs and messages: a password in it becomes `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
  }
}

function isFatal(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return FATAL_CONNACK.has(code);
  return typeof code === 'string' && FATAL_TLS.test(code);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
