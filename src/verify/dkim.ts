/**
 * DKIM verification of a raw mail with mailauth (the crypto and the
 * canonicalisation are mailauth's; this file only decides what counts).
 *
 * A mail passes when a DKIM-Signature with `d=` exactly the configured domain
 * verifies, covers the whole body (no `l=`), and its `h=` covers From,
 * Subject and (when the mail has one) Reply-To. Those three are where the
 * parser takes the bug number from (SPEC §2), so the number on the topic is
 * one Launchpad signed. The `X-Launchpad-*` headers are not signed by
 * Launchpad (see ../shared/LAUNCHPAD.md "Authenticity"); the verifier cannot
 * vouch for them, only for the fact that Launchpad sent this very
 * Subject/body.
 */
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { DKIMResult, DNSResolver } from 'mailauth';
import type { HeaderField } from './headers.js';

export type Resolver = (name: string, rrtype: string) => Promise<unknown>;

export type DkimOutcome =
  | { verdict: 'pass'; selector: string }
  | { verdict: 'fail'; reason: string }
  | { verdict: 'temperror'; reason: string };

/** Headers whose every instance must be signed when present; the first two must be present. */
const MUST_SIGN = ['from', 'subject'] as const;
const SIGN_IF_PRESENT = ['reply-to'] as const;

function signedKeys(result: DKIMResult): string[] {
  // mailauth lists the header instances it actually hashed, "From: Subject: ..."
  const keys = (result as { signingHeaders?: { keys?: string } }).signingHeaders?.keys ?? '';
  return keys
    .split(':')
    .map((k) => k.trim().toLowerCase())
    .filter((k) => k !== '');
}

function coverageProblem(result: DKIMResult, fields: readonly HeaderField[]): string | undefined {
  const keys = signedKeys(result);
  const count = (list: readonly string[], name: string): number => list.filter((k) => k === name).length;
  const names = fields.map((f) => f.name);
  for (const name of [...MUST_SIGN, ...SIGN_IF_PRESENT]) {
    const present = count(names, name);
    if (present === 0 && (MUST_SIGN as readonly string[]).includes(name)) return `mail has no ${name} header`;
    if (present > count(keys, name)) return `${name} header not covered by the signature (h=)`;
  }
  if ((result as { canonBodyLengthLimited?: boolean }).canonBodyLengthLimited === true) {
    return 'signature covers only part of the body (l=)';
  }
  return undefined;
}

/** Verify `raw`; `fields` are its header fields (top first), used for the coverage checks. */
export async function verifyDkim(
  raw: Buffer,
  fields: readonly HeaderField[],
  domain: string,
  resolver: Resolver | undefined,
): Promise<DkimOutcome> {
  let results: DKIMResult[];
  try {
    const out = await dkimVerify(raw, resolver ? { resolver: resolver as DNSResolver } : {});
    results = out.results;
  } catch (err) {
    return { verdict: 'fail', reason: `DKIM verification failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  const want = domain.toLowerCase();
  const signed = results.filter((r) => typeof r.signingDomain === 'string' && r.signingDomain !== '');
  if (signed.length === 0) return { verdict: 'fail', reason: 'mail has no DKIM signature' };
  const ours = signed.filter((r) => r.signingDomain.toLowerCase() === want);
  if (ours.length === 0) {
    const others = [...new Set(signed.map((r) => `d=${r.signingDomain}`))].join(', ');
    return { verdict: 'fail', reason: `no DKIM signature with d=${domain} (found ${others})` };
  }
  const problems: string[] = [];
  let temp: string | undefined;
  for (const r of ours) {
    const where = `DKIM d=${r.signingDomain} s=${r.selector ?? '?'}`;
    const status = r.status.result;
    if (status === 'pass') {
      const problem = coverageProblem(r, fields);
      if (problem === undefined) return { verdict: 'pass', selector: r.selector ?? '' };
      problems.push(`${where}: ${problem}`);
    } else if (status === 'temperror' || status === 'temperr') {
      temp ??= `${where}: ${r.status.comment ?? 'temporary DNS failure'}`;
    } else {
      problems.push(`${where}: ${status}${r.status.comment ? ` (${r.status.comment})` : ''}`);
    }
  }
  // A temporary failure may hide a signature that would pass: retry later.
  if (temp !== undefined) return { verdict: 'temperror', reason: temp };
  return { verdict: 'fail', reason: problems.join('; ') };
}
