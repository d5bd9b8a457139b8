/** Errors of the MQTT adapter. */
import { LpmqttError } from '../errors.js';

/** An event was not acknowledged by the broker (timeout, refusal, lost connection, too large). */
export class PublishError extends LpmqttError {
  override name = 'PublishError';
  readonly topic: string | undefined;
  /** True when publishing the same event again cannot succeed (it cannot be made to fit a packet). */
  readonly permanent: boolean;

  constructor(message: string, opts: { topic?: string; permanent?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.topic = opts.topic;
    this.permanent = opts.permanent ?? false;
  }
}

/** The broker refused the connection for a reason that retrying will not fix (credentials, ACL, TLS). */
export class MqttConnectError extends LpmqttError {
  override name = 'MqttConnectError';
  readonly url: string;

  constructor(message: string, opts: { url: string; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.url = opts.url;
  }
}
