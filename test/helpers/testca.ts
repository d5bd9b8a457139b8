/**
 * A throw-away certificate authority made with openssl for the TLS tests:
 * a CA and server certificates it signs, valid for the names given.
 *
 *   const ca = await createTestCa();
 *   t.after(() => ca.remove());
 *   const srv = await ca.issue('server', ['DNS:localhost', 'IP:127.0.0.1']);
 *   // srv.certFile, srv.keyFile; trust ca.caFile
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { trackDir, untrackDir } from './proc.js';

const execFileAsync = promisify(execFile);

export interface IssuedCert {
  certFile: string;
  keyFile: string;
}

export interface TestCa {
  readonly dir: string;
  /** PEM file of the CA certificate (what clients trust). */
  readonly caFile: string;
  /** The CA certificate, PEM. */
  ca(): Promise<Buffer>;
  /** A server certificate signed by this CA for `altNames` (`DNS:name`, `IP:addr`). */
  issue(name: string, altNames: string[]): Promise<IssuedCert>;
  remove(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim()}`, { cause: err });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Create a CA (EC P-256, valid 2 days) named `cn` in a fresh temp dir. */
export async function createTestCa(cn = 'lpmqtt test CA'): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'lpmqtt-ca-'));
  trackDir(dir);
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await openssl(
    ['req', '-x509', ...EC_KEY, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  let serial = 1;
  return {
    dir,
    caFile,
    ca: () => readFile(caFile),
    async issue(name, altNames) {
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const certFile = join(dir, `${name}.crt`);
      const ext = join(dir, `${name}.ext`);
      const cnName = (altNames.find((a) => a.startsWith('DNS:')) ?? altNames[0] ?? 'DNS:localhost').replace(/^\w+:/, '');
      await writeFile(ext, [
        `subjectAltName=${altNames.join(',')}`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        '',
      ].join('\n'));
      await openssl(['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cnName}`], dir);
      await openssl(
        ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(serial++), '-days', '2',
          '-out', certFile, '-extfile', ext],
        dir,
      );
      return { certFile, keyFile };
    },
    async remove() {
      await rm(dir, { recursive: true, force: true });
      untrackDir(dir);
    },
  };
}
