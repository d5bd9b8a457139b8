/**
 * DKIM for tests without a network: keys generated per run, mails signed with
 * mailauth's signer, and a resolver that answers TXT for the test selectors
 * (NXDOMAIN for everything else) or fails like a broken DNS.
 *
 *   const key = dkimKey();
 *   const signed = await dkimSignMail(raw, { domain: 'launchpad.net', key });
 *   createVerifier(cfg, { resolver: fakeDns({ 'test._domainkey.launchpad.net': key.txt }) })
 */
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DKIMSignOptions } from 'mailauth';
import type { Resolver } from '../../src/verify.js';

export interface DkimKey {
  privateKey: string;
  /** The DNS TXT record that publishes the public key. */
  txt: string;
}

export function dkimKey(): DkimKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), txt: `v=DKIM1; k=rsa; p=${p}` };
}

/** Launchpad's h= (see ../shared/LAUNCHPAD.md "Authenticity"). */
export const LP_SIGNED_HEADERS = 'MIME-Version:Content-Type:Date:From:To:Reply-To:References:Message-Id:Subject';

export function dnsError(code: string, name: string): Error {
  return Object.assign(new Error(`queryTxt ${code} ${name}`), { code });
}

export type FakeResolver = Resolver & { queries: string[] };

/** Answers TXT for the given names (split in 200-character strings, as DNS does); NXDOMAIN otherwise. */
export function fakeDns(records: Record<string, string>): FakeResolver {
  const queries: string[] = [];
  const resolver = async (name: string, rrtype: string): Promise<string[][]> => {
    queries.push(`${rrtype} ${name}`);
    const txt = rrtype === 'TXT' ? records[name] : undefined;
    if (txt === undefined) throw dnsError('ENOTFOUND', name);
    const parts: string[] = [];
    for (let i = 0; i < txt.length; i += 200) parts.push(txt.slice(i, i + 200));
    return [parts];
  };
  return Object.assign(resolver, { queries });
}

/** A resolver that always fails with `code` (ETIMEOUT, ESERVFAIL: temporary; ENOTFOUND: no such name). */
export function failingDns(code: string): Resolver {
  return async (name) => {
    throw dnsError(code, name);
  };
}

/** `raw` with a DKIM-Signature header prepended (selector `test` unless given). */
export async function dkimSignMail(
  raw: string,
  o: { domain: string; key: DkimKey; selector?: string; headers?: string; maxBodyLength?: number },
): Promise<string> {
  const data = {
    signingDomain: o.domain,
    selector: o.selector ?? 'test',
    privateKey: o.key.privateKey,
    ...(o.maxBodyLength !== undefined ? { maxBodyLength: o.maxBodyLength } : {}),
  };
  // mailauth's signer takes h= as a colon-separated string despite its typings
  const options = { ...data, signatureData: [data], headerList: (o.headers ?? LP_SIGNED_HEADERS) as unknown as string[] } satisfies DKIMSignOptions;
  const res = await dkimSign(raw, options);
  if (res.errors.length > 0) throw new Error(`DKIM signing failed: ${JSON.stringify(res.errors)}`);
  return res.signatures + raw;
}
