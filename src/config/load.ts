/**
 * Finds, reads and validates the configuration (SPEC §7). Every problem is
 * collected and reported at once in one ConfigError, each naming the file and
 * the dotted key.
 */
import { readFile, access, constants } from 'node:fs/promises';
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { iniToConfig, looksLikeIni } from './ini.js';
import { ConfigError, errorReason } from '../errors.js';

/** Where cosmiconfig looks, in the working directory only. */
export const SEARCH_PLACES = [
  'lpmqtt.yaml',
  'lpmqtt.yml',
  '.lpmqttrc',
  '.lpmqttrc.yaml',
  '.lpmqttrc.yml',
  '.lpmqttrc.json',
  'lpmqtt.config.json',
] as const;

export const ENV_PASSWORD = { imap: 'LPMQTT_IMAP_PASSWORD', mqtt: 'LPMQTT_MQTT_PASSWORD' } as const;

export interface LoadOptions {
  /** `-c FILE`: YAML, JSON, or the old daemon's INI. */
  file?: string | undefined;
  /** Where to search when no file is given (and what relative paths are resolved against); default process.cwd(). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Loaded {
  config: Config;
  /** Absolute path of the file read; undefined when none was found and defaults apply. */
  source: string | undefined;
}

/** cosmiconfig hands us the raw text; one parser handles every file the same way. */
interface RawText {
  readonly __raw: string;
}
const rawLoader = (_filepath: string, content: string): RawText => ({ __raw: content });

/** Loads and validates the configuration; throws ConfigError listing every problem. */
export async function loadConfig(opts: LoadOptions = {}): Promise<Loaded> {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;

  let file: string | undefined;
  let text: string | undefined;
  if (opts.file !== undefined) {
    file = path.resolve(cwd, opts.file);
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError([`${opts.file}: cannot read config file: ${errorReason(err)}`], { file, cause: err });
    }
  } else {
    const explorer = cosmiconfig('lpmqtt', {
      searchPlaces: [...SEARCH_PLACES],
      searchStrategy: 'none',
      cache: false,
      ignoreEmptySearchPlaces: false,
      loaders: { '.yaml': rawLoader, '.yml': rawLoader, '.json': rawLoader, noExt: rawLoader },
    });
    let found;
    try {
      found = await explorer.search(cwd);
    } catch (err) {
      const where = (err as { filepath?: string }).filepath ?? cwd;
      throw new ConfigError([`${where}: cannot read config file: ${errorReason(err)}`], { cause: err });
    }
    if (found) {
      file = found.filepath;
      text = found.isEmpty === true ? '' : (found.config as RawText).__raw;
    }
  }

  const name = file === undefined ? '(defaults)' : displayName(file, cwd);
  const problems: string[] = [];
  let input: unknown = {};
  let origin = new Map<string, string>();
  if (text !== undefined && file !== undefined) {
    if (looksLikeIni(text)) {
      const mapped = iniToConfig(text, name, problems);
      input = mapped.input;
      origin = mapped.origin;
    } else {
      input = await parseStructured(text, file, name, problems);
    }
  }
  const config = await finish(input, {
    name,
    origin,
    env,
    baseDir: file === undefined ? cwd : path.dirname(file),
    problems,
  });
  return { config, source: file };
}

/**
 * Validates an already-parsed config object (what a file would contain) and
 * resolves secrets and defaults, as loadConfig does. For tests and embedders.
 */
export async function configFromObject(
  input: unknown,
  opts: { name?: string; env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): Promise<Config> {
  return finish(input, {
    name: opts.name ?? '(config)',
    origin: new Map(),
    env: opts.env ?? {},
    baseDir: opts.baseDir ?? process.cwd(),
    problems: [],
  });
}

function displayName(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** YAML (JSON is YAML too). `.json` files get JSON's own error messages. */
async function parseStructured(text: string, file: string, name: string, problems: string[]): Promise<unknown> {
  if (text.trim() === '') return {};
  if (path.extname(file).toLowerCase() === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      problems.push(`${name}: not valid JSON: ${errorReason(err)}`);
      return undefined;
    }
  }
  // Loaded only when there is YAML to read: it is the heaviest part of start-up otherwise.
  const { LineCounter, parseDocument } = await import('yaml');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = lineCounter.linePos(e.pos[0]);
      problems.push(`${name}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`);
    }
    return undefined;
  }
  const value = doc.toJS() as unknown;
  return value ?? {};
}

interface FinishCtx {
  name: string;
  origin: Map<string, string>;
  env: NodeJS.ProcessEnv;
  baseDir: string;
  problems: string[];
}

const SECTIONS = ['imap', 'mqtt', 'parse', 'verify', 'log', 'metrics'] as const;

async function finish(input: unknown, ctx: FinishCtx): Promise<Config> {
  const { problems, name } = ctx;
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    problems.push(`${name}: expected a mapping of sections (imap:, mqtt:, …), got ${describe(input)}`);
    input = undefined;
  }
  if (input === undefined) throw new ConfigError(problems, { file: name });

  // `imap:` with every key commented out is YAML null: take it as an empty section.
  const obj: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const s of SECTIONS) if (obj[s] === null) obj[s] = {};

  const parsed = configSchema.safeParse(obj, { reportInput: true });
  if (!parsed.success) for (const issue of parsed.error.issues) problems.push(...formatIssue(issue, ctx));

  // Cross-field rules and file checks run on the raw values too, so that one
  // run reports every problem even when some keys are already invalid.
  const imapRaw = section(obj['imap']);
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const folder = text(imapRaw['folder']) ?? 'INBOX';
  const moveTo = text(imapRaw['move_to']);
  const failed = imapRaw['failed_folder'] === undefined ? 'INBOX.failed' : text(imapRaw['failed_folder']);
  if (imapRaw['after_publish'] === 'move' && imapRaw['move_to'] === undefined) {
    problems.push(`${name}: imap.move_to: required when imap.after_publish is "move"`);
  }
  if (moveTo !== undefined && moveTo === folder) {
    problems.push(`${name}: imap.move_to: must differ from imap.folder (${JSON.stringify(folder)})`);
  }
  if (failed !== undefined && failed === folder) {
    problems.push(
      `${name}: imap.failed_folder: must differ from imap.folder (${JSON.stringify(folder)}); use null to leave failed mail flagged in place`,
    );
  }

  const resolved: Partial<Record<'imap' | 'mqtt', { password?: string; password_file?: string; ca?: string }>> = {};
  for (const sec of ['imap', 'mqtt'] as const) {
    const raw = section(obj[sec]);
    const out: { password?: string; password_file?: string; ca?: string } = {};
    resolved[sec] = out;
    const password = text(raw['password']);
    const passwordFile = text(raw['password_file']);
    const fromEnv = ctx.env[ENV_PASSWORD[sec]];
    if (password !== undefined) out.password = password;
    if (passwordFile !== undefined && passwordFile !== '') out.password_file = path.resolve(ctx.baseDir, passwordFile);
    if (raw['password'] !== undefined && raw['password_file'] !== undefined) {
      problems.push(`${name}: ${sec}.password_file: set either ${sec}.password or ${sec}.password_file, not both`);
    } else if (fromEnv !== undefined && fromEnv !== '') {
      // The environment wins over the file (systemd EnvironmentFile, container secrets).
      out.password = fromEnv;
    } else if (out.password_file !== undefined) {
      try {
        out.password = (await readFile(out.password_file, 'utf8')).replace(/\r?\n$/, '');
      } catch (err) {
        problems.push(`${name}: ${sec}.password_file: cannot read ${out.password_file}: ${errorReason(err)}`);
      }
    }
    const ca = text(raw['ca']);
    if (ca !== undefined && ca !== '') {
      out.ca = path.resolve(ctx.baseDir, ca);
      try {
        await access(out.ca, constants.R_OK);
      } catch (err) {
        problems.push(`${name}: ${sec}.ca: cannot read ${out.ca}: ${errorReason(err)}`);
      }
    }
  }
  const mqttRaw = section(obj['mqtt']);
  if (resolved.mqtt?.password !== undefined && mqttRaw['username'] === undefined) {
    problems.push(`${name}: mqtt.username: required when an MQTT password is set`);
  }

  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems, { file: name });
  const config = parsed.data;
  for (const sec of ['imap', 'mqtt'] as const) {
    const r = resolved[sec] ?? {};
    if (r.password !== undefined) config[sec].password = r.password;
    if (r.password_file !== undefined) config[sec].password_file = r.password_file;
    if (r.ca !== undefined) config[sec].ca = r.ca;
  }
  // Filled in right after `host`, where a reader of check-config looks for it.
  const { host, ...imapRest } = config.imap;
  config.imap = { host, port: imapPort(config.imap), ...imapRest };
  return config;
}

function section(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The IMAP port: as configured, else 993 with implicit TLS, else 143. The loader fills it in. */
export function imapPort(imap: Pick<Config['imap'], 'port' | 'tls'>): number {
  return imap.port ?? (imap.tls ? 993 : 143);
}

/** A copy safe to print: every password replaced by `***` (password_file paths stay, their contents never appear). */
export function maskSecrets(config: Config): Config {
  const copy = structuredClone(config);
  if (copy.imap.password !== undefined) copy.imap.password = '***';
  if (copy.mqtt.password !== undefined) copy.mqtt.password = '***';
  copy.mqtt.url = maskUrl(copy.mqtt.url);
  return copy;
}

/** A URL may carry credentials too (mqtt://user:pass@host): the password becomes `***`. */
export function maskUrl(url: string): string {
  // Users do write unencoded `/` and `@` in passwords, so the credentials run
  // from the first `:` after the scheme to the last `@`, not to the first.
  const m = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (m === null) return url;
  const at = url.lastIndexOf('@');
  const colon = url.indexOf(':', m[0].length);
  if (at < 0 || colon < 0 || colon > at) return url;
  return `${url.slice(0, colon + 1)}***${url.slice(at)}`;
}

type Issue = z.core.$ZodIssue;

function formatIssue(issue: Issue, ctx: FinishCtx): string[] {
  const dotted = issue.path.map(String).join('.');
  const where = (key: string): string => {
    const from = ctx.origin.get(key);
    return from === undefined ? key : `${from} (${key})`;
  };
  const prefix = (key: string): string => `${ctx.name}: ${key === '' ? '(top level)' : where(key)}`;
  const secret = issue.path[issue.path.length - 1] === 'password';
  // A URL that fails validation may still carry credentials: mask before echoing it.
  const input = dotted === 'mqtt.url' && typeof issue.input === 'string' ? maskUrl(issue.input) : issue.input;
  const got = (): string => (secret ? `a ${typeOf(input)}` : describe(input));

  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => {
        const key = dotted === '' ? k : `${dotted}.${k}`;
        const hint = suggest(k, knownKeys(issue.path));
        return `${ctx.name}: ${key}: unknown key${hint ? ` (did you mean ${hint}?)` : ''}`;
      });
    case 'invalid_type':
      if (issue.input === undefined) return [`${prefix(dotted)}: required`];
      return [`${prefix(dotted)}: expected ${issue.expected === 'int' ? 'a whole number' : issue.expected}, got ${got()}`];
    case 'invalid_value':
      return [`${prefix(dotted)}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got()}`];
    case 'invalid_union': {
      const values = issue.errors.flat().flatMap((e) => (e.code === 'invalid_value' ? e.values : []));
      if (values.length > 0) return [`${prefix(dotted)}: expected one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${got()}`];
      return [`${prefix(dotted)}: ${issue.message}, got ${got()}`];
    }
    case 'too_small':
      if (issue.origin === 'string') return [`${prefix(dotted)}: must not be empty`];
      return [`${prefix(dotted)}: must be ${issue.inclusive === false ? '>' : '≥'} ${String(issue.minimum)}, got ${got()}`];
    case 'too_big':
      return [`${prefix(dotted)}: must be ${issue.inclusive === false ? '<' : '≤'} ${String(issue.maximum)}, got ${got()}`];
    default:
      return [`${prefix(dotted)}: ${issue.message}, got ${got()}`];
  }
}

function knownKeys(p: readonly PropertyKey[]): string[] {
  if (p.length === 0) return Object.keys(configSchema.shape);
  const section = configSchema.shape[p[0] as keyof typeof configSchema.shape] as unknown as {
    def?: { innerType?: { shape?: Record<string, unknown> } };
  };
  return Object.keys(section?.def?.innerType?.shape ?? {});
}

/** The closest known key, when one is close enough to be a typo (or an old INI name). */
function suggest(key: string, known: string[]): string | undefined {
  const aliases: Record<string, string> = { hostname: 'host', use_ssl: 'tls', ssl: 'tls', 'delete-old': 'after_publish' };
  const alias = aliases[key];
  if (alias !== undefined && known.includes(alias)) return alias;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'mapping';
  return typeof v;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return `a ${typeOf(v)}`;
}
