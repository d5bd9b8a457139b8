/**
 * A stand-in for systemd's notify socket: a tiny python3 process bound to an
 * AF_UNIX datagram socket (Node has none) that prints each datagram as one
 * JSON line. Point NOTIFY_SOCKET at `socket`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("listening"), flush=True)
while True:
    # recv() without ancillary space closes the BARRIER=1 fd, which releases systemd-notify.
    data = s.recv(65536)
    print(json.dumps(data.decode()), flush=True)
`;

export interface NotifyListener {
  /** Path for NOTIFY_SOCKET. */
  readonly socket: string;
  /** Every datagram so far, BARRIER=1 messages left out. */
  readonly messages: string[];
  /** Resolves with the index of the first message at or after `from` matching `re`. */
  waitFor(re: RegExp, from?: number, ms?: number): Promise<number>;
  close(): Promise<void>;
}

export async function startNotifyListener(): Promise<NotifyListener> {
  const dir = await mkdtemp(join(tmpdir(), 'lpmqtt-sd-'));
  const socket = join(dir, 'notify');
  const child = spawn('python3', ['-c', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let wake: () => void = () => undefined;
  let buf = '';
  let listening = false;
  let exited = false;
  child.once('exit', () => {
    exited = true;
    wake();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl)) as string;
      buf = buf.slice(nl + 1);
      if (msg === 'listening') listening = true;
      else if (msg !== 'BARRIER=1') messages.push(msg);
    }
    wake();
  });
  const waitUntil = async (cond: () => boolean, what: string, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (exited) throw new Error(`notify listener exited while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages)}`);
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(50)]);
    }
  };
  const close = async (): Promise<void> => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(() => listening, 'the python listener', 10_000);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    socket,
    messages,
    waitFor: async (re, from = 0, ms = 15_000) => {
      let found = -1;
      await waitUntil(() => (found = messages.findIndex((m, i) => i >= from && re.test(m))) >= 0, String(re), ms);
      return found;
    },
    close,
  };
}
