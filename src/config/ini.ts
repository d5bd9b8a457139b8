/**
 * The original Python daemon's INI file (`/etc/lpmqtt.conf`, read with
 * Python's configparser), mapped onto our schema so an existing deployment
 * keeps working with `lpmqtt run -c /etc/lpmqtt.conf`.
 *
 * The reader follows configparser's rules that such files rely on: `=` or
 * `:` between option and value, `#`/`;` full-line comments (no inline
 * comments: `password = a#b` is `a#b`), option names case-insensitive,
 * indented continuation lines, a `[DEFAULT]` section, `%%` for a literal `%`
 * and `%(name)s` interpolation.
 */

export interface IniFile {
  /** section → option (lower-cased) → { value, line } */
  sections: Map<string, Map<string, { value: string; line: number }>>;
}

/** True when the text looks like the old daemon's INI: it has an `[imap]` or `[mqtt]` section line. */
export function looksLikeIni(text: string): boolean {
  return /^[ \t]*\[[ \t]*(imap|mqtt)[ \t]*\][ \t]*\r?$/im.test(text);
}

/** Parses INI text; syntax problems are pushed to `problems` (prefixed by `where`). */
export function parseIni(text: string, where: string, problems: string[]): IniFile {
  const sections = new Map<string, Map<string, { value: string; line: number }>>();
  let current: Map<string, { value: string; line: number }> | undefined;
  let currentName = '';
  let last: { value: string; line: number } | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    if (/^\s*$/.test(raw)) {
      last = undefined;
      return;
    }
    if (/^\s*[#;]/.test(raw)) return;
    if (/^\s/.test(raw) && last !== undefined) {
      // Continuation of the previous value (configparser joins with a newline).
      last.value += `\n${raw.trim()}`;
      return;
    }
    const section = /^\s*\[([^\]]*)\]\s*$/.exec(raw);
    if (section) {
      currentName = (section[1] ?? '').trim();
      if (sections.has(currentName)) problems.push(`${where}:${lineNo}: section [${currentName}] appears twice`);
      current = sections.get(currentName) ?? new Map();
      sections.set(currentName, current);
      last = undefined;
      return;
    }
    const option = /^\s*([^=:\s][^=:]*?)\s*[=:]\s?(.*)$/.exec(raw);
    if (!option) {
      problems.push(`${where}:${lineNo}: not an "option = value" line: ${JSON.stringify(raw.trim())}`);
      return;
    }
    if (current === undefined) {
      problems.push(`${where}:${lineNo}: option outside of any [section]`);
      return;
    }
    const name = (option[1] ?? '').toLowerCase();
    if (current.has(name)) problems.push(`${where}:${lineNo}: [${currentName}] ${name} is set twice`);
    last = { value: (option[2] ?? '').trim(), line: lineNo };
    current.set(name, last);
  });
  // configparser strips trailing blank continuation content; values are trimmed above.
  return { sections };
}

/** configparser's BasicInterpolation: `%%` → `%`, `%(name)s` → that option of the section or [DEFAULT]. */
export function interpolate(
  value: string,
  lookup: (name: string) => string | undefined,
  onError: (msg: string) => void,
  depth = 0,
): string {
  if (!value.includes('%')) return value;
  return value.replace(/%(%|\(([^)]*)\)s)/g, (whole, _m: string, name: string | undefined) => {
    if (whole === '%%') return '%';
    const key = (name ?? '').toLowerCase();
    const found = lookup(key);
    if (found === undefined) {
      onError(`%(${key})s refers to an option that is not set`);
      return whole;
    }
    if (depth > 10) {
      onError(`%(${key})s: interpolation nested too deeply`);
      return whole;
    }
    return interpolate(found, lookup, onError, depth + 1);
  });
}

const TRUE = new Set(['1', 'yes', 'true', 'on']);
const FALSE = new Set(['0', 'no', 'false', 'off']);

/** configparser's getboolean. */
export function iniBoolean(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  return undefined;
}

/** A decimal number (int or float); undefined when the text is not one. */
export function iniNumber(value: string, integer: boolean): number | undefined {
  const v = value.trim();
  const re = integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)$/;
  return re.test(v) ? Number(v) : undefined;
}

type Target = { key: string[]; kind: 'string' | 'int' | 'number' | 'boolean' };

/** The old daemon's options and where each lands in our schema. */
const OPTIONS: Record<string, Record<string, Target | 'special'>> = {
  imap: {
    hostname: { key: ['imap', 'host'], kind: 'string' },
    port: { key: ['imap', 'port'], kind: 'int' },
    username: { key: ['imap', 'username'], kind: 'string' },
    password: { key: ['imap', 'password'], kind: 'string' },
    use_ssl: { key: ['imap', 'tls'], kind: 'boolean' },
    folder: { key: ['imap', 'folder'], kind: 'string' },
    'delete-old': 'special',
    // The old daemon read `idle-timeout` but handed it to its IMAP library
    // where a different unit was expected, so the value never meant what the
    // file said. We take it as the README described it: seconds between
    // IDLE re-issues (our imap.idle_timeout).
    'idle-timeout': { key: ['imap', 'idle_timeout'], kind: 'number' },
  },
  mqtt: {
    hostname: 'special',
    port: 'special',
    base_topic: { key: ['mqtt', 'base_topic'], kind: 'string' },
    keepalive: { key: ['mqtt', 'keepalive'], kind: 'int' },
    username: { key: ['mqtt', 'username'], kind: 'string' },
    password: { key: ['mqtt', 'password'], kind: 'string' },
    qos: { key: ['mqtt', 'qos'], kind: 'int' },
  },
};

export interface IniMapping {
  /** Config input for the schema. */
  input: Record<string, Record<string, unknown>>;
  /** Dotted schema key → the INI option it came from (`[imap] hostname`), for error messages. */
  origin: Map<string, string>;
}

/**
 * Maps the old daemon's options to our config input. Values are strings in
 * INI; numbers and booleans are coerced here with errors naming
 * `[section] option`. An empty value (`username =`, as the old puppet
 * template writes for unset options) means "not set", as in the old daemon.
 */
export function iniToConfig(text: string, file: string, problems: string[]): IniMapping {
  const ini = parseIni(text, file, problems);
  const input: Record<string, Record<string, unknown>> = { imap: {}, mqtt: {} };
  const origin = new Map<string, string>();
  const defaults = ini.sections.get('DEFAULT') ?? new Map<string, { value: string; line: number }>();

  for (const [section, options] of ini.sections) {
    if (section === 'DEFAULT') continue;
    const known = OPTIONS[section];
    if (known === undefined) {
      problems.push(`${file}: [${section}]: unknown section (expected [imap] or [mqtt])`);
      continue;
    }
    const get = (name: string): string | undefined => {
      const opt = options.get(name) ?? defaults.get(name);
      if (opt === undefined) return undefined;
      return interpolate(opt.value, get, (msg) => problems.push(`${file}: [${section}] ${name}: ${msg}`));
    };
    for (const name of options.keys()) {
      const target = known[name];
      if (target === undefined) {
        problems.push(`${file}: [${section}] ${name}: unknown option (known: ${Object.keys(known).join(', ')})`);
        continue;
      }
      if (target === 'special') continue;
      const value = get(name) ?? '';
      if (value === '') continue;
      const where = `[${section}] ${name}`;
      const coerced = coerce(value, target.kind);
      if (coerced === undefined) {
        problems.push(`${file}: ${where}: expected ${describeKind(target.kind)}, got ${JSON.stringify(value)}`);
        continue;
      }
      const [sec, key] = target.key as [string, string];
      (input[sec] ??= {})[key] = coerced;
      origin.set(`${sec}.${key}`, where);
    }
    if (section === 'imap' && options.has('delete-old')) {
      const value = get('delete-old') ?? '';
      const b = iniBoolean(value);
      if (value !== '' && b === undefined) {
        problems.push(`${file}: [imap] delete-old: expected true/false (yes/no, on/off, 1/0), got ${JSON.stringify(value)}`);
      } else if (b === true) {
        // The old daemon deleted processed mail instead of marking it read.
        input['imap']!['after_publish'] = 'delete';
        origin.set('imap.after_publish', '[imap] delete-old');
      }
    }
    if (section === 'mqtt' && (options.has('hostname') || options.has('port'))) {
      const host = get('hostname') || '127.0.0.1';
      const portText = get('port') ?? '';
      let port = 1883;
      if (portText !== '') {
        const p = iniNumber(portText, true);
        if (p === undefined || p < 1 || p > 65535) {
          problems.push(`${file}: [mqtt] port: expected a port number 1-65535, got ${JSON.stringify(portText)}`);
        } else {
          port = p;
        }
      }
      const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      input['mqtt']!['url'] = `mqtt://${hostPart}:${port}`;
      origin.set('mqtt.url', '[mqtt] hostname/port');
    }
  }
  return { input, origin };
}

function coerce(value: string, kind: Target['kind']): unknown {
  switch (kind) {
    case 'string':
      return value;
    case 'int':
      return iniNumber(value, true);
    case 'number':
      return iniNumber(value, false);
    case 'boolean':
      return iniBoolean(value);
  }
}

function describeKind(kind: Target['kind']): string {
  switch (kind) {
    case 'string':
      return 'text';
    case 'int':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true/false (yes/no, on/off, 1/0)';
  }
}
