/**
 * Start Mosquitto with the shipped firehose deployment
 * (deploy/mosquitto/firehose.conf + firehose.acl), changed only where a test
 * must: ports, loopback binding, and file paths under /etc and /var. Every
 * substitution must hit exactly once, so a change of the shipped file's shape
 * breaks the tests instead of silently testing something else.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { startMosquitto, type Mosquitto, type MosquittoConfigContext } from './mosquitto.js';
import type { IssuedCert } from './testca.js';

const DEPLOY = join(import.meta.dirname, '../../deploy/mosquitto');

export const BRIDGE_USER = 'lpmqtt-bridge';

export function shippedFirehoseConf(): string {
  return readFileSync(join(DEPLOY, 'firehose.conf'), 'utf8');
}

export function shippedFirehoseAcl(): string {
  return readFileSync(join(DEPLOY, 'firehose.acl'), 'utf8');
}

function replaceOnce(text: string, from: RegExp, to: string): string {
  const hits = text.match(new RegExp(from.source, 'gm'));
  if (hits?.length !== 1) {
    throw new Error(`firehose.conf: expected exactly one line matching ${from}, found ${hits?.length ?? 0}`);
  }
  return text.replace(new RegExp(from.source, 'm'), to);
}

function replaceAll(text: string, from: string, to: string, expected: number): string {
  const n = text.split(from).length - 1;
  if (n !== expected) throw new Error(`firehose.conf: expected ${from} ${expected} times, found ${n}`);
  return text.split(from).join(to);
}

/** The shipped config with test ports and paths. */
export function firehoseConfigFor(ctx: MosquittoConfigContext, wssPort: number): string {
  if (!ctx.tls || !ctx.passwordFile || !ctx.aclFile) throw new Error('firehoseConfigFor: needs tls, users and acl');
  let conf = shippedFirehoseConf();
  conf = replaceOnce(conf, /^listener 1883$/, `listener ${ctx.port} 127.0.0.1`);
  conf = replaceOnce(conf, /^listener 8883$/, `listener ${ctx.tlsPort} 127.0.0.1`);
  conf = replaceOnce(conf, /^listener 80$/, `listener ${ctx.wsPort} 127.0.0.1`);
  conf = replaceOnce(conf, /^listener 443$/, `listener ${wssPort} 127.0.0.1`);
  conf = replaceOnce(conf, /^password_file \/etc\/mosquitto\/passwd$/, `password_file ${ctx.passwordFile}`);
  conf = replaceOnce(conf, /^acl_file \/etc\/mosquitto\/firehose\.acl$/, `acl_file ${ctx.aclFile}`);
  conf = replaceOnce(conf, /^persistence_location \/var\/lib\/mosquitto\/$/, `persistence_location ${ctx.dir}/`);
  conf = replaceAll(conf, '/etc/mosquitto/certs/ca.crt', ctx.tls.caFile, 2);
  conf = replaceAll(conf, '/etc/mosquitto/certs/server.crt', ctx.tls.certFile, 2);
  conf = replaceAll(conf, '/etc/mosquitto/certs/server.key', ctx.tls.keyFile, 2);
  const leftover = conf.split('\n').find((l) => !l.startsWith('#') && /\/(etc|var)\//.test(l));
  if (leftover !== undefined) throw new Error(`firehose.conf: unsubstituted system path in ${JSON.stringify(leftover)}`);
  return conf;
}

export interface Firehose {
  broker: Mosquitto;
  /** mqtt://, mqtts://, ws://, wss:// on 127.0.0.1 */
  url: string;
  tlsUrl: string;
  wsUrl: string;
  wssUrl: string;
  stop(): Promise<void>;
}

/** Mosquitto running the shipped firehose config; `users` go to its password file. */
export async function startFirehose(opts: { users: Record<string, string>; server: { caFile: string } & IssuedCert }): Promise<Firehose> {
  const wssPort = await freePort();
  const broker = await startMosquitto({
    users: opts.users,
    acl: shippedFirehoseAcl(),
    tls: { caFile: opts.server.caFile, certFile: opts.server.certFile, keyFile: opts.server.keyFile },
    websockets: true,
    configText: (ctx) => firehoseConfigFor(ctx, wssPort),
  });
  if (broker.tlsUrl === undefined || broker.wsUrl === undefined) {
    await broker.stop();
    throw new Error('startFirehose: broker has no TLS or websockets URL');
  }
  // the harness waits for the ports it knows; this one is ours
  await waitForPort(wssPort, broker);
  return {
    broker,
    url: broker.url,
    tlsUrl: broker.tlsUrl,
    wsUrl: broker.wsUrl,
    wssUrl: `wss://127.0.0.1:${wssPort}`,
    stop: () => broker.stop(),
  };
}

async function waitForPort(port: number, broker: Mosquitto, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(20);
  }
  const out = broker.output();
  await broker.stop();
  throw new Error(`firehose: wss port ${port} did not answer within ${timeoutMs} ms; broker output:\n${out}`);
}
