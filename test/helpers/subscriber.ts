/**
 * An MQTT subscriber (mqtt.js) that records what it receives, for asserting
 * on published events.
 *
 *   const sub = await subscribe(broker.url);
 *   ... ; await sub.waitFor(3, 10_000); sub.messages[0]?.json()
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: 0 | 1 | 2;
  /** JSON.parse of the payload (throws with the topic in the message when it is not JSON). */
  json(): unknown;
  /** process.hrtime.bigint() at reception. */
  receivedAt: bigint;
}

export interface Subscriber {
  readonly client: MqttClient;
  /** Everything received so far, in order. */
  readonly messages: ReceivedMessage[];
  /** Resolves once at least `n` messages arrived; rejects after `timeoutMs` naming how many did. */
  waitFor(n: number, timeoutMs: number): Promise<void>;
  /** Forget what was received so far. */
  clear(): void;
  close(): Promise<void>;
}

export interface SubscribeOptions extends IClientOptions {
  /** Subscription QoS (default 1). */
  subscribeQos?: 0 | 1 | 2;
}

/** Connect to `url`, subscribe to `filter` (default 'launchpad/#'), record messages. */
export async function subscribe(url: string, filter: string | string[] = 'launchpad/#', opts: SubscribeOptions = {}): Promise<Subscriber> {
  const { subscribeQos = 1, ...clientOpts } = opts;
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...clientOpts });
  const messages: ReceivedMessage[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    messages.push({
      topic,
      payload,
      retain: packet.retain,
      qos: packet.qos,
      receivedAt: process.hrtime.bigint(),
      json(): unknown {
        try {
          return JSON.parse(payload.toString('utf8'));
        } catch (err) {
          throw new Error(`payload on ${topic} is not JSON: ${payload.toString('utf8').slice(0, 200)}`, { cause: err });
        }
      },
    });
    for (const w of waiters) w();
  });
  // mqtt.js emits 'error' for e.g. a refused subscription; keep it from crashing the test.
  client.on('error', () => undefined);
  const granted = await client.subscribeAsync(filter, { qos: subscribeQos });
  const refused = granted.filter((g) => g.qos === 128);
  if (refused.length > 0) {
    await client.endAsync(true);
    throw new Error(`subscription refused for ${refused.map((g) => g.topic).join(', ')}`);
  }
  return {
    client,
    messages,
    waitFor(n: number, timeoutMs: number): Promise<void> {
      if (messages.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (messages.length >= n) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`waited ${timeoutMs} ms for ${n} messages, got ${messages.length}: ${messages.map((m) => m.topic).join(', ')}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    clear(): void {
      messages.length = 0;
    },
    async close(): Promise<void> {
      await client.endAsync(true);
    },
  };
}
