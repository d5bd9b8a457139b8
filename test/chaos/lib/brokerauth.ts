/**
 * Change a user's password in a running test Mosquitto: rewrite its
 * password_file (the one test/helpers/mosquitto.ts writes as DIR/passwd) and
 * SIGHUP the broker, which re-reads it. Connected clients stay connected; the
 * next CONNECT is checked against the new password.
 */
import { execFile } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Mosquitto } from '../../helpers/mosquitto.js';

const run = promisify(execFile);

export async function setBrokerPassword(broker: Mosquitto, user: string, password: string): Promise<void> {
  const dir = broker.dir;
  const pid = broker.pid;
  if (dir === undefined || pid === undefined) throw new Error('setBrokerPassword: the broker is not running');
  const file = join(dir, 'passwd');
  await run('mosquitto_passwd', ['-b', file, user, password]);
  if (process.getuid?.() === 0) {
    // Started as root, mosquitto reads its files as user mosquitto (see test/helpers/mosquitto.ts).
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'mosquitto']), run('id', ['-g', 'mosquitto'])]);
    await chown(file, Number(uid.trim()), Number(gid.trim()));
  }
  process.kill(pid, 'SIGHUP');
  // The reload happens on the broker's next loop turn.
  await new Promise((r) => setTimeout(r, 300));
}
