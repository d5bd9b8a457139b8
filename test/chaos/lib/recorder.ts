/**
 * The far end of the pipe: an MQTT subscriber straight on the broker (never
 * through a fault proxy) that survives broker restarts and keeps every event,
 * indexed by `event-id`, with the time it arrived.
 */
import { createHash } from 'node:crypto';
import { subscribe, type Subscriber } from '../../helpers/subscriber.js';
import { sleep, until } from './env.js';

/** SPEC §2: hex SHA-256 of message-id + "\n" + project, first 32 hex chars (computed here independently of src/). */
export function expectedEventId(messageId: string, project: string | undefined): string {
  const mid = messageId.replace(/^<|>$/g, '');
  return createHash('sha256').update(`${mid}\n${project ?? ''}`).digest('hex').slice(0, 32);
}

const SLIM_KEYS = ['event-id', 'message-id', 'project', 'event-type', 'bug-number', 'body-truncated'] as const;

export interface Receipt {
  topic: string;
  /** Date.now() at arrival. */
  at: number;
  payload: Record<string, unknown>;
  bytes: number;
  /** The start of the payload, kept for odd events only. */
  raw?: string;
}

export class Recorder {
  /** event-id → every arrival. */
  readonly byEventId = new Map<string, Receipt[]>();
  /** message-id (no brackets) → every arrival. */
  readonly byMessageId = new Map<string, Receipt[]>();
  /** Events without an event-id, or not JSON. */
  readonly odd: Receipt[] = [];
  total = 0;
  private seenCount = 0;

  private constructor(private readonly sub: Subscriber, private readonly filter: string, private readonly keep: boolean) {
    sub.client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  /**
   * `keepPayloads`: keep whole payloads (hostile-mail tests); otherwise only the
   * fields the audit reads, so a soak of 20,000 events stays small.
   */
  static async start(url: string, opts: { filter?: string; keepPayloads?: boolean; username?: string; password?: string } = {}): Promise<Recorder> {
    const filter = opts.filter ?? 'launchpad/#';
    const sub = await subscribe(url, filter, {
      ...(opts.username !== undefined ? { username: opts.username, password: opts.password ?? '' } : {}),
      clientId: `chaos-recorder-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      reconnectPeriod: 100,
      // The broker holds a QoS 1 message for us until we ack; a big inflight window keeps pace with the daemon.
      properties: { receiveMaximum: 65535 },
      protocolVersion: 5,
    });
    return new Recorder(sub, filter, opts.keepPayloads ?? false);
  }

  private onMessage(topic: string, payload: Buffer): void {
    this.total++;
    let json: Record<string, unknown> | undefined;
    try {
      const v: unknown = JSON.parse(payload.toString('utf8'));
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
    } catch {
      // counted in odd
    }
    if (!this.keep) this.sub.clear();
    const slim = (j: Record<string, unknown>): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      for (const k of SLIM_KEYS) if (k in j) o[k] = j[k];
      return o;
    };
    const r: Receipt = { topic, at: Date.now(), payload: json === undefined ? {} : this.keep ? json : slim(json), bytes: payload.length };
    const eid = json?.['event-id'];
    if (typeof eid !== 'string') {
      r.raw = payload.toString('utf8');
      this.odd.push(r);
      return;
    }
    const list = this.byEventId.get(eid);
    if (list) list.push(r);
    else this.byEventId.set(eid, [r]);
    const mid = json?.['message-id'];
    if (typeof mid === 'string') {
      const l2 = this.byMessageId.get(mid);
      if (l2) l2.push(r);
      else this.byMessageId.set(mid, [r]);
    }
  }

  /** Events beyond the first per event-id. */
  duplicates(): number {
    let n = 0;
    for (const l of this.byEventId.values()) n += l.length - 1;
    return n;
  }

  /** Connected and subscribed (again, after a broker restart): the SUBACK has come back. */
  async ready(ms = 30_000): Promise<void> {
    await until('recorder reconnected to the broker', () => this.sub.client.connected, ms);
    await this.sub.client.subscribeAsync(this.filter, { qos: 1 });
  }

  /** Waits until no event arrived for `quietMs`. */
  async settle(quietMs = 500, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    let last = this.total;
    let lastChange = Date.now();
    while (Date.now() < end) {
      await sleep(50);
      if (this.total !== last) {
        last = this.total;
        lastChange = Date.now();
      } else if (Date.now() - lastChange >= quietMs) return;
    }
  }

  /** Count events that arrived since the previous call. */
  newSince(): number {
    const n = this.total - this.seenCount;
    this.seenCount = this.total;
    return n;
  }

  async close(): Promise<void> {
    await this.sub.close();
  }
}
