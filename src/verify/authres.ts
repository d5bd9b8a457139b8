/**
 * `Authentication-Results` (RFC 8601) parsing and the "trust only our own
 * MTA" rule. Pure functions of header text.
 *
 * Why the top-most header: an MTA prepends its trace headers, so whatever the
 * local MTA wrote sits above everything the sender (or any earlier hop) put in
 * the mail. RFC 8601 §5 asks a border MTA to remove incoming headers that
 * carry its own authserv-id; this rule does not rely on that: among the
 * headers with our id only the top-most counts, and every one below it (a
 * sender's forgery) is ignored.
 */

/** One `method=result` clause with its properties. */
export interface AuthResult {
  /** Lower-cased method without version (`dkim`, `spf`, ...). */
  method: string;
  /** Lower-cased result (`pass`, `fail`, ...). */
  result: string;
  reason?: string;
  /** `ptype.property` (lower-cased key) → value, e.g. `header.d` → `launchpad.net`. */
  props: Record<string, string>;
}

export interface AuthResultsHeader {
  authservId: string;
  results: AuthResult[];
}

type Token = { t: 'word' | 'str'; v: string } | { t: ';' } | { t: '=' };

/** Lexer: drops (nested) comments, keeps quoted strings as one token. */
function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '(') {
      let depth = 0;
      for (; i < value.length; i++) {
        const d = value[i];
        if (d === '\\') i++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
      }
      i++;
    } else if (c === '"') {
      let s = '';
      for (i++; i < value.length && value[i] !== '"'; i++) {
        if (value[i] === '\\') i++;
        s += value[i] ?? '';
      }
      i++;
      tokens.push({ t: 'str', v: s });
    } else if (c === ';' || c === '=') {
      tokens.push({ t: c });
      i++;
    } else {
      let s = '';
      while (i < value.length && !/[\s;="(]/.test(value[i] as string)) s += value[i++];
      tokens.push({ t: 'word', v: s });
    }
  }
  return tokens;
}

function splitOn(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]];
  for (const tok of tokens) {
    if (tok.t === ';') parts.push([]);
    else (parts[parts.length - 1] as Token[]).push(tok);
  }
  return parts;
}

const text = (tok: Token | undefined): string | undefined =>
  tok !== undefined && (tok.t === 'word' || tok.t === 'str') ? tok.v : undefined;

/** Parse one header value; undefined when it has no authserv-id. */
export function parseAuthenticationResults(value: string): AuthResultsHeader | undefined {
  const [head, ...clauses] = splitOn(tokenize(value));
  const authservId = text(head?.[0]);
  if (authservId === undefined || authservId === '') return undefined;
  const results: AuthResult[] = [];
  for (const clause of clauses) {
    // key = value pairs; the first is method[/version]=result
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < clause.length; ) {
      const key = text(clause[i]);
      const eq = clause[i + 1];
      const val = text(clause[i + 2]);
      if (key === undefined || eq?.t !== '=' || val === undefined) {
        i++;
        continue;
      }
      pairs.push([key, val]);
      i += 3;
    }
    const first = pairs.shift();
    if (first === undefined) continue; // e.g. `none`
    const props: Record<string, string> = {};
    let reason: string | undefined;
    for (const [k, v] of pairs) {
      const key = k.toLowerCase();
      if (key === 'reason') reason = v;
      else if (key.includes('.')) props[key] = v;
    }
    results.push({
      method: (first[0].split('/')[0] ?? '').toLowerCase(),
      result: first[1].toLowerCase(),
      ...(reason !== undefined ? { reason } : {}),
      props,
    });
  }
  return { authservId, results };
}

/**
 * The top-most `Authentication-Results` whose authserv-id is `authservId`
 * (case-insensitive), from header fields listed top first.
 */
export function trustedAuthResults(
  fields: ReadonlyArray<{ name: string; value: string }>,
  authservId: string,
): AuthResultsHeader | undefined {
  const want = authservId.toLowerCase();
  for (const field of fields) {
    if (field.name !== 'authentication-results') continue;
    const parsed = parseAuthenticationResults(field.value);
    if (parsed?.authservId.toLowerCase() === want) return parsed;
  }
  return undefined;
}

/** Whether a `dkim` clause says the signature of `domain` passed (header.d, else header.i's domain). */
export function dkimPassFor(result: AuthResult, domain: string): boolean {
  if (result.method !== 'dkim' || result.result !== 'pass') return false;
  const d = result.props['header.d'];
  if (d !== undefined) return d.toLowerCase() === domain.toLowerCase();
  const i = result.props['header.i'];
  if (i === undefined) return false;
  return i.slice(i.lastIndexOf('@') + 1).toLowerCase() === domain.toLowerCase();
}
