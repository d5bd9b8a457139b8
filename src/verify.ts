/**
 * Sender verification (issue #5): is this mail really from Launchpad?
 *
 * The mailbox is fed by a public MX, so `X-Generated-By: Launchpad` proves
 * nothing. Two independent proofs, either or both configured:
 * - `verify.dkim`: the mail's own DKIM signature with `d=<verify.domain>`
 *   (launchpad.net) verifies here (mailauth), see ./verify/dkim.ts;
 * - `verify.authserv_id`: the local MTA already verified it and said so in
 *   the top-most `Authentication-Results` carrying its id, see
 *   ./verify/authres.ts.
 * With both set, both must pass.
 *
 * Cross-check: the bug number and the title come from Subject, Reply-To and
 * From (SPEC §2), which Launchpad signs; the DKIM check insists that every
 * instance of those headers is covered by `h=`, so a sender cannot add an
 * unsigned Subject above the signed one. `X-Launchpad-*` headers are never
 * signed, so a replayed genuine mail may carry altered ones; what is signed is
 * returned in `signedFields` for callers that want to compare.
 *
 * Verdicts: `pass` → publish; `fail` → failed folder with the reason;
 * `temperror` (DNS trouble) → leave the mail unmarked and retry with backoff.
 */
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import { dkimPassFor, trustedAuthResults } from './verify/authres.js';
import { verifyDkim, type Resolver } from './verify/dkim.js';
import { headerFields, type HeaderField } from './verify/headers.js';

export type { Resolver } from './verify/dkim.js';

/** Raw (unfolded, undecoded) values of the headers the passing signature covers. */
export interface SignedFields {
  from: string;
  subject: string;
  replyTo?: string;
  messageId?: string;
}

export type VerifyResult =
  | { verdict: 'pass'; via: 'dkim' | 'authserv'; signedFields?: SignedFields }
  | { verdict: 'fail'; reason: string }
  | { verdict: 'temperror'; reason: string };

export type Verifier = (raw: Buffer) => Promise<VerifyResult>;

export interface VerifierOptions {
  /** DNS TXT lookup for DKIM keys (mailauth's resolver contract); default: node:dns. */
  resolver?: Resolver;
  log?: Logger;
}

const first = (fields: readonly HeaderField[], name: string): string | undefined =>
  fields.find((f) => f.name === name)?.value;

function signedFieldsOf(fields: readonly HeaderField[]): SignedFields {
  const replyTo = first(fields, 'reply-to');
  const messageId = first(fields, 'message-id');
  return {
    from: first(fields, 'from') ?? '',
    subject: first(fields, 'subject') ?? '',
    ...(replyTo !== undefined ? { replyTo } : {}),
    ...(messageId !== undefined ? { messageId } : {}),
  };
}

function checkAuthserv(fields: readonly HeaderField[], authservId: string, domain: string): VerifyResult {
  const ar = trustedAuthResults(fields, authservId);
  if (ar === undefined) return { verdict: 'fail', reason: `no Authentication-Results from ${authservId}` };
  const dkim = ar.results.filter((r) => r.method === 'dkim');
  if (dkim.some((r) => dkimPassFor(r, domain))) return { verdict: 'pass', via: 'authserv' };
  const seen = dkim.map((r) => `dkim=${r.result}${r.props['header.d'] ? ` header.d=${r.props['header.d']}` : ''}`);
  return {
    verdict: 'fail',
    reason: `Authentication-Results from ${authservId} has no dkim=pass for ${domain}${seen.length ? ` (${seen.join(', ')})` : ''}`,
  };
}

/** A verifier for `cfg`, or undefined when verification is off (neither dkim nor authserv_id). */
export function createVerifier(cfg: Config['verify'], opts: VerifierOptions = {}): Verifier | undefined {
  const { dkim, authserv_id: authservId, domain } = cfg;
  if (!dkim && authservId === undefined) return undefined;
  const log = opts.log;
  return async (raw: Buffer): Promise<VerifyResult> => {
    const fields = headerFields(raw);
    let result: VerifyResult | undefined;
    if (authservId !== undefined) {
      result = checkAuthserv(fields, authservId, domain);
      if (result.verdict !== 'pass') {
        log?.debug({ reason: result.reason }, 'verify: authserv check failed');
        return result;
      }
    }
    if (dkim) {
      const out = await verifyDkim(raw, fields, domain, opts.resolver);
      if (out.verdict !== 'pass') {
        log?.debug({ verdict: out.verdict, reason: out.reason }, 'verify: DKIM check did not pass');
        return out;
      }
      log?.debug({ domain, selector: out.selector }, 'verify: DKIM pass');
      return { verdict: 'pass', via: 'dkim', signedFields: signedFieldsOf(fields) };
    }
    return result ?? { verdict: 'fail', reason: 'no verification configured' };
  };
}
