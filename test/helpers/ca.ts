/**
 * A throw-away test PKI made with the openssl CLI: a CA, a server certificate
 * for localhost / 127.0.0.1 signed by it, and an unrelated second CA for
 * "wrong CA" tests. Files are world-readable (the key too: it is test-only)
 * so Cyrus and Mosquitto running as their own users can read them.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface TestCA {
  /** PEM of the CA that signed certFile. */
  caFile: string;
  /** Server certificate: CN=localhost, SAN DNS:localhost, IP:127.0.0.1. */
  certFile: string;
  /** Unencrypted server key (PEM). */
  keyFile: string;
  /** PEM of a second, unrelated CA. */
  wrongCaFile: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr}`, { cause: err });
  }
}

async function selfSignedCA(dir: string, name: string, cn: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '3650', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

/** Create the CA, the server cert and the wrong CA in `dir` (created if missing). */
export async function makeCA(dir: string): Promise<TestCA> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  const [ca, wrong] = await Promise.all([
    selfSignedCA(dir, 'ca', 'lpmqtt test CA'),
    selfSignedCA(dir, 'wrong-ca', 'lpmqtt unrelated CA'),
  ]);
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost']);
  await writeFile(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '',
  ].join('\n'));
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', certFile, '-days', '825', '-extfile', ext]);
  for (const f of [ca.cert, wrong.cert, certFile, keyFile]) await chmod(f, 0o644);
  return { caFile: ca.cert, certFile, keyFile, wrongCaFile: wrong.cert };
}
