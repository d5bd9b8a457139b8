/**
 * Deterministic generator of realistic Launchpad bug notification mails (and
 * foreign mails for filter tests), shaped like the archived real ones in
 * ../shared/launchpad-mails (Received chain, DKIM-Signature, folded
 * X-Launchpad-Bug per task, X-Generated-By, quoted-printable UTF-8 body).
 *
 * Same `i` → same bytes (seeded PRNG, no Math.random, no clock). Fast enough
 * for benchmarks of 10,000–20,000 mails (~0.1–0.2 ms per mail).
 */

/** mulberry32: tiny, fast, reproducible; the one seeded generator of the tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const HEX = '0123456789abcdef';
// Random-looking strings are slices of per-alphabet pools built once: one PRNG
// call per string instead of one per character keeps generation fast.
const POOL_SIZE = 1 << 16;
const pools = new Map<string, string>();
function pool(alphabet: string): string {
  let p = pools.get(alphabet);
  if (p === undefined) {
    const rng = prng(alphabet.length * 7919);
    const chars: string[] = [];
    for (let k = 0; k < POOL_SIZE; k++) chars.push(alphabet[Math.floor(rng() * alphabet.length)] as string);
    p = chars.join('');
    pools.set(alphabet, p);
  }
  return p;
}
const randStr = (rng: Rng, alphabet: string, n: number): string => {
  const p = pool(alphabet);
  const at = Math.floor(rng() * (p.length - n));
  return p.slice(at, at + n);
};

const PRODUCTS = [
  'qemu', 'nova', 'cloud-init', 'mesa', 'apparmor', 'snapd', 'launchpad', 'juju', 'lxd', 'netplan',
  'ubuntu-manual-tests', 'subiquity', 'openstack-community', 'networking-calico', 'maas', 'charm-helpers',
] as const;
const PRODUCT_TITLES: Record<string, string> = {
  qemu: 'QEMU', nova: 'OpenStack Compute (nova)', mesa: 'Mesa', apparmor: 'AppArmor', launchpad: 'Launchpad itself',
};
const PACKAGES = ['qemu', 'linux', 'systemd', 'mesa', 'cloud-init', 'apparmor', 'glibc', 'openssh', 'python3.12', 'gnome-shell', 'libvirt', 'netplan.io'] as const;
const UBUNTU_SERIES = ['jammy', 'noble', 'oracular', 'plucky', 'focal'] as const;
const PRODUCT_SERIES = ['trunk', 'stable-9.2', '1.0', 'main'] as const;
const STATUSES = ['New', 'Incomplete', 'Confirmed', 'Triaged', 'In Progress', 'Fix Committed', 'Fix Released', "Won't Fix", 'Invalid', 'Opinion', 'Expired'] as const;
const IMPORTANCES = ['Undecided', 'Wishlist', 'Low', 'Medium', 'High', 'Critical', 'Unknown'] as const;
const PEOPLE: readonly { display: string; name: string; email: string }[] = [
  { display: 'Lukas Märdian', name: 'slyon', email: 'lukas.maerdian@canonical.com' },
  { display: 'Thomas Huth', name: 'th-huth', email: 'thomas.huth@example.org' },
  { display: 'Philippe Mathieu-Daudé', name: 'philmd', email: 'philmd@example.org' },
  { display: 'Christian Ehrhardt', name: 'paelzer', email: 'christian.ehrhardt@canonical.com' },
  { display: 'Sebastien Bacher', name: 'seb128', email: 'seb128@ubuntu.com' },
  { display: 'Chris S.', name: 'chriscjsus', email: 'chris@example.net' },
  { display: 'Zoë Ångström', name: 'zoe-a', email: 'zoe@example.se' },
  { display: 'Jürgen Groß', name: 'jgross', email: 'jgross@example.de' },
  { display: 'Vasili', name: 'vasili.namatov', email: 'vasili@example.com' },
  { display: 'Sergio Durigan Junior', name: 'sergiodj', email: 'sergio.durigan@canonical.com' },
];
const ROBOTS = [
  { display: 'Launchpad Bug Tracker', name: 'janitor' },
  { display: 'Bug Watch Updater', name: 'bug-watch-updater' },
] as const;
const TAGS = ['patch', 'amd64', 'arm64', 'apport-crash', 'regression-update', 'server-todo', 'verification-needed', 'noble', 'security', 'bot-comment', 'wayland-session', 'focal'] as const;
const TITLE_WORDS = [
  'segfault', 'when', 'running', 'ldconfig.real', 'on', 'amd64', 'host', 'migration', 'fails', 'with', 'virtio-net',
  'after', 'upgrade', 'to', 'kernel', 'crash', 'in', 'nested', 'KVM', 'guest', 'timeout', 'during', 'boot', 'of', 'the',
  'cloud', 'image', 'regression', 'TCG', 'discard', 'commands', 'not', 'passed', 'through', 'résumé', 'naïve', 'façade',
] as const;
const SENTENCES = [
  'I can reproduce this reliably on a fresh installation with the default configuration.',
  'The attached log shows the failure right after the guest starts its init process.',
  'Downgrading the package to the previous version makes the problem go away.',
  'This looks like a regression introduced by the last stable update.',
  'Steps to reproduce: start the VM, wait for the login prompt, then run the test suite.',
  'Expected result: the command completes. Actual result: it hangs for about 30 seconds and then crashes.',
  'Zoë tested the proposed package and confirmed that it fixes the issue — thanks!',
  'Upstream discussion: https://lists.example.org/archive/2024-03/msg01234.html',
  'Der Fehler tritt nur auf, wenn die Größe des Speichers über 4 GiB liegt.',
  'Le problème est résolu dans la version 9.2 ; merci pour le rapport…',
  '  $ qemu-system-x86_64 -enable-kvm -m 4096 -drive file=disk.img,if=virtio',
  'Kernel version is 6.8.0-45-generic; the host CPU is an AMD EPYC 7763.',
  'ProblemType: Bug  DistroRelease: Ubuntu 24.04  Architecture: amd64',
  'Marking this as Triaged since the root cause is understood; a fix is in the queue.',
  'The workaround is to set the option to 0 = off until the update lands.',
  'Stack trace: #0 0x00007ffff7a4d3f0 in __pthread_setaffinity_new () at pthread_setaffinity.c:34',
] as const;
const LISTS = [
  { id: 'qemu-devel.nongnu.org', addr: 'qemu-devel@nongnu.org', team: 'qemu-devel-ml', host: 'lists.gnu.org' },
  { id: 'apparmor.lists.ubuntu.com', addr: 'apparmor@lists.ubuntu.com', team: 'apparmor-dev', host: 'lists.ubuntu.com' },
] as const;
const DAY = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/** RFC 5322 date of a fixed base + i·37 s (deterministic). */
function mailDate(i: number, offsetSec = 0): string {
  const d = new Date(Date.UTC(2025, 0, 6, 8, 0, 0) + (i * 37 + offsetSec) * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${DAY[(d.getUTCDay() + 6) % 7]}, ${p(d.getUTCDate())} ${MON[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** Fold a header at spaces near 76 columns, continuation starting with `ws` (' ' or '\t'). */
function fold(name: string, value: string, ws: string): string {
  const words = value.split(' ');
  let line = `${name}:`;
  const out: string[] = [];
  for (const w of words) {
    if (line.length + 1 + w.length > 76 && line.trim().length > name.length + 1) {
      out.push(line);
      line = ws + w;
    } else {
      line += ' ' + w;
    }
  }
  out.push(line);
  return out.join('\r\n');
}

const Q_SAFE = /[A-Za-z0-9!*+\-/]/;

/**
 * RFC 2047 q-encoding of a phrase when it has non-ASCII; encoded-words stay
 * within 75 characters (2047 section 2) and are joined by folding white space.
 */
function encodeWord(s: string, ws = ' '): string {
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  const words: string[] = [];
  let cur = '';
  for (const ch of s) {
    let enc = '';
    if (Q_SAFE.test(ch)) enc = ch;
    else if (ch === ' ') enc = '_';
    else for (const byte of Buffer.from(ch, 'utf8')) enc += '=' + HEX[byte >> 4]!.toUpperCase() + HEX[byte & 15]!.toUpperCase();
    if (cur.length + enc.length > 75 - 12) {
      words.push(`=?utf-8?q?${cur}?=`);
      cur = '';
    }
    cur += enc;
  }
  if (cur) words.push(`=?utf-8?q?${cur}?=`);
  return words.join(`\r\n${ws}`);
}

/** A display name as a phrase: encoded when non-ASCII, quoted when it has specials. */
function phrase(display: string): string {
  if (!/^[\x20-\x7e]*$/.test(display)) return encodeWord(display);
  return /[()<>\[\]:;@\\,."]/.test(display) ? `"${display.replace(/["\\]/g, '\\$&')}"` : display;
}

const QP_SAFE = /^[\x20-\x3c\x3e-\x7e]*$/;

/** Quoted-printable (RFC 2045 6.7) of UTF-8 text with CRLF line breaks, soft breaks at 76. */
function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    // Fast path: most lines are short printable ASCII without '=' or trailing blank.
    if (line.length <= 76 && QP_SAFE.test(line) && !line.endsWith(' ')) {
      out.push(line);
      continue;
    }
    const bytes = Buffer.from(line, 'utf8');
    let cur = '';
    for (let k = 0; k < bytes.length; k++) {
      const b = bytes[k]!;
      const last = k === bytes.length - 1;
      let enc: string;
      if ((b >= 33 && b <= 126 && b !== 61) || (b === 32 && !last)) enc = String.fromCharCode(b);
      else enc = '=' + HEX[b >> 4]!.toUpperCase() + HEX[b & 15]!.toUpperCase();
      if (cur.length + enc.length > 75) {
        out.push(cur + '=');
        cur = '';
      }
      cur += enc;
    }
    out.push(cur);
  }
  return out.join('\r\n');
}

interface Task {
  header: string;
  target: string;
  label: string;
  status: string;
}

export interface BugMailOptions {
  /** Number of distinct targets (1–7); default drawn from 1–3. */
  targets?: number;
  /** Approximate size of the decoded body text; default drawn so that mails average ~5.5 KB. */
  bodyBytes?: number;
  /** Bug number; default 1800000 + i. */
  bug?: number;
  /** Private bug (Information-Type Private, X-Launchpad-Bug-Private: yes); default false. */
  private?: boolean;
  /** Message-Id without or with angle brackets; default unique from i. */
  messageId?: string;
}

export interface GeneratedBugMail {
  raw: Buffer;
  /** Bug number as a string of digits. */
  bug: string;
  /** Distinct targets (product, else distribution) in order of first appearance. */
  targets: string[];
  /** Message-Id with angle brackets. */
  messageId: string;
  /** The X-Launchpad-Bug values (unfolded), one per task. */
  tasks: string[];
  /** Decoded Subject. */
  subject: string;
}

function makeTasks(rng: Rng, nTargets: number): Task[] {
  const tasks: Task[] = [];
  const products = [...PRODUCTS];
  const assignee = (): string => (rng() < 0.6 ? 'None' : pick(rng, PEOPLE).email);
  const rest = (): { s: string; status: string } => {
    const status = pick(rng, STATUSES);
    return { s: ` status=${status}; importance=${pick(rng, IMPORTANCES)}; assignee=${assignee()};`, status };
  };
  // About a third of mails have an Ubuntu task (and then often series tasks); it goes last like Launchpad sorts it.
  const withUbuntu = nTargets > 1 ? rng() < 0.6 : rng() < 0.3;
  const nProducts = withUbuntu ? nTargets - 1 : nTargets;
  for (let k = 0; k < nProducts; k++) {
    const idx = Math.floor(rng() * products.length);
    const product = products.splice(idx, 1)[0] ?? `product${k}`;
    const r = rest();
    tasks.push({ header: `product=${product};${r.s}`, target: product, label: PRODUCT_TITLES[product] ?? product, status: r.status });
    if (rng() < 0.12) {
      const series = pick(rng, PRODUCT_SERIES);
      const r2 = rest();
      tasks.push({ header: `product=${product}; productseries=${series};${r2.s}`, target: product, label: `${product} ${series} series`, status: r2.status });
    }
  }
  if (withUbuntu) {
    const pkg = pick(rng, PACKAGES);
    const component = rng() < 0.8 ? 'main' : 'universe';
    const milestone = rng() < 0.1 ? ' milestone=ubuntu-24.10;' : '';
    const r = rest();
    tasks.push({ header: `distribution=ubuntu; sourcepackage=${pkg}; component=${component};${milestone}${r.s}`, target: 'ubuntu', label: `${pkg} package in Ubuntu`, status: r.status });
    const nSeries = rng() < 0.35 ? int(rng, 1, 2) : 0;
    const series = [...UBUNTU_SERIES];
    for (let k = 0; k < nSeries; k++) {
      const s = series.splice(Math.floor(rng() * series.length), 1)[0] ?? 'noble';
      const r2 = rest();
      tasks.push({ header: `distribution=ubuntu; distroseries=${s}; sourcepackage=${pkg}; component=${component};${r2.s}`, target: 'ubuntu', label: `${pkg} source package in ${s[0]!.toUpperCase()}${s.slice(1)}`, status: r2.status });
    }
  }
  return tasks;
}

/** One realistic Launchpad bug notification, deterministic from `i`. */
export function makeBugMail(i: number, opts: BugMailOptions = {}): GeneratedBugMail {
  const rng = prng(Math.imul(i + 1, 0x9e3779b1) ^ 0x5bd1e995);
  const bug = String(opts.bug ?? 1_800_000 + i);
  const nTargets = Math.max(1, Math.min(7, opts.targets ?? (rng() < 0.55 ? 1 : rng() < 0.67 ? 2 : 3)));
  const tasks = makeTasks(rng, nTargets);
  const targets = [...new Set(tasks.map((t) => t.target))];
  const ws = rng() < 0.25 ? '\t' : ' ';
  const list = pick(rng, LISTS);
  const robot = rng() < 0.12 ? pick(rng, ROBOTS) : undefined;
  const person = pick(rng, PEOPLE);
  const fromDisplay = robot ? robot.display : person.display;
  const modifier = robot ? `${robot.display} (${robot.name})` : `${person.display} (${person.name})`;
  const isNew = rng() < 0.25;
  const nWords = int(rng, 5, 13);
  const titleWords: string[] = [];
  for (let k = 0; k < nWords; k++) titleWords.push(pick(rng, TITLE_WORDS));
  const title = titleWords.join(' ');
  const subject = `[Bug ${bug}] ${isNew ? '[NEW]' : 'Re:'} ${title}`;
  const ts = 1736150400 + i * 37;
  const messageId = opts.messageId
    ? opts.messageId.startsWith('<') ? opts.messageId : `<${opts.messageId}>`
    : `<${ts}${randStr(rng, '0123456789', 5)}.${1000000 + (i % 9000000)}.${randStr(rng, '0123456789', 19)}.launchpad@juju-98d295-prod-launchpad-${int(rng, 1, 7)}>`;
  const priv = opts.private === true;
  const infoType = priv ? 'Private' : rng() < 0.06 ? 'Public Security' : 'Public';
  const commenters = [...new Set(Array.from({ length: int(rng, 1, 9) }, () => pick(rng, PEOPLE).name))].sort();
  const tags = rng() < 0.6 ? [...new Set(Array.from({ length: int(rng, 1, 5) }, () => pick(rng, TAGS)))] : [];
  const date = mailDate(i);
  const relayId = randStr(rng, '0123456789ABCDEF', 10);

  const h: string[] = [];
  h.push(`Return-Path: <${list.team}-bounces@${list.host}>`);
  h.push(`Received: from ${list.host} (${list.host} [209.51.188.17])\r\n\tby mx.example.org (Postfix) with ESMTPS id ${randStr(rng, '0123456789ABCDEF', 11)}\r\n\tfor <lpmqtt@example.org>; ${mailDate(i, 9)} +0000 (UTC)`);
  h.push(`Received: from eggs.gnu.org ([2001:470:142:3::10])\r\n by ${list.host} with esmtps (TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256)\r\n (Exim 4.90_1) (envelope-from <noreply@launchpad.net>)\r\n id 1ts${randStr(rng, B64.slice(0, 62), 4)}-000${int(rng, 1, 9)}yr-Ux\r\n for ${list.addr}; ${mailDate(i, 7)} +0000`);
  h.push(`Received: from smtp-relay-services-0.canonical.com ([185.125.188.250])\r\n by eggs.gnu.org with esmtps (TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256)\r\n (Exim 4.90_1) (envelope-from <noreply@launchpad.net>)\r\n id 1ts${randStr(rng, B64.slice(0, 62), 4)}-0006xv-HR\r\n for ${list.addr}; ${mailDate(i, 6)} +0000`);
  h.push(`Received: from scripts.lp.internal (scripts.lp.internal [10.131.215.246])\r\n (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n (No client certificate requested)\r\n by smtp-relay-services-0.canonical.com (Postfix) with ESMTPSA id ${relayId}\r\n for <${list.addr}>; ${date} +0000 (UTC)`);
  const sig = randStr(rng, B64, 342) + '==';
  h.push(
    `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=launchpad.net;\r\n s=20210803; t=${ts};\r\n bh=${randStr(rng, B64, 43)}=;\r\n h=MIME-Version:Content-Type:Date:From:To:Reply-To:References:\r\n Message-Id:Subject;\r\n b=` +
      sig.match(/.{1,66}/g)!.join('\r\n '),
  );
  h.push(`Received: from scripts.lp.internal (localhost [127.0.0.1])\r\n by scripts.lp.internal (Postfix) with ESMTP id ${randStr(rng, '0123456789ABCDEF', 10)}\r\n for <${list.addr}>; ${date} +0000 (UTC)`);
  h.push('MIME-Version: 1.0');
  h.push('Content-Type: text/plain; charset="utf-8"');
  h.push('Content-Transfer-Encoding: quoted-printable');
  h.push(`Date: ${mailDate(i, -300)} -0000`);
  h.push(`From: ${phrase(fromDisplay)} <${bug}@bugs.launchpad.net>`);
  h.push(`To: ${list.addr}`);
  h.push('X-Launchpad-Notification-Type: bug');
  for (const t of tasks) h.push(fold('X-Launchpad-Bug', t.header, ws) + ' ');
  if (tags.length) h.push(fold('X-Launchpad-Bug-Tags', tags.join(' '), ws));
  h.push(`X-Launchpad-Bug-Information-Type: ${infoType}`);
  h.push(`X-Launchpad-Bug-Private: ${priv ? 'yes' : 'no'}`);
  h.push(`X-Launchpad-Bug-Security-Vulnerability: ${infoType.includes('Security') ? 'yes' : 'no'}`);
  h.push(fold('X-Launchpad-Bug-Commenters', commenters.join(' '), ws));
  const reporter = pick(rng, PEOPLE);
  h.push(`X-Launchpad-Bug-Reporter: ${encodeWord(`${reporter.display} (${reporter.name})`)}`);
  h.push(`X-Launchpad-Bug-Modifier: ${encodeWord(modifier)}`);
  if (!isNew) h.push(`References: <${ts - 86400 * int(rng, 1, 400)}.${int(rng, 1000, 99999)}.${randStr(rng, '0123456789', 19)}.malonedeb@juju-98d295-prod-launchpad-7>`);
  h.push(`Message-Id: ${messageId}`);
  h.push(/^[\x20-\x7e]*$/.test(subject) ? fold('Subject', subject, ' ') : `Subject: ${encodeWord(subject)}`);
  h.push(`X-Launchpad-Message-Rationale: Subscriber (${tasks[0]?.label ?? 'Launchpad'}) @${list.team}`);
  h.push(`X-Launchpad-Message-For: ${list.team}`);
  h.push('Precedence: bulk');
  h.push(`X-Generated-By: Launchpad (canonical.com);${ws}Revision="${randStr(rng, HEX, 40)}";\r\n${ws}Instance="launchpad-scripts"`.replace(`;${ws}Revision`, ';\r\n' + ws + 'Revision'));
  h.push(`X-Launchpad-Hash: ${randStr(rng, HEX, 40)}`);
  h.push(`Received-SPF: pass client-ip=185.125.188.250;\r\n envelope-from=noreply@launchpad.net; helo=smtp-relay-services-0.canonical.com`);
  h.push(`X-BeenThere: ${list.addr}`);
  h.push('X-Mailman-Version: 2.1.29');
  h.push(`List-Id: <${list.id}>`);
  h.push(`List-Unsubscribe: <https://${list.host}/mailman/options/${list.team}>,\r\n <mailto:${list.team}-request@${list.host}?subject=unsubscribe>`);
  h.push(`List-Archive: <https://${list.host}/archive/html/${list.team}>`);
  h.push(`List-Post: <mailto:${list.addr}>`);
  h.push(`Reply-To: Bug ${bug} <${bug}@bugs.launchpad.net>`);
  h.push(`Sender: ${list.team}-bounces@${list.host}`);

  // Body: change notes, free text filler up to the target size, the Launchpad footer.
  const bodyTarget = opts.bodyBytes ?? int(rng, 300, 2300);
  const parts: string[] = [];
  if (isNew) {
    parts.push(`${priv ? 'Private' : 'Public'} bug reported:\n`);
  } else {
    for (const t of tasks.slice(0, int(rng, 1, tasks.length))) {
      parts.push(`** Changed in: ${t.label}\n       Status: ${pick(rng, STATUSES)} => ${t.status}\n`);
    }
  }
  const footer: string[] = ['-- ', `You received this bug notification because you are a member of ${list.team},`, `which is subscribed to ${tasks[0]?.label ?? 'Launchpad'}.`, `https://bugs.launchpad.net/bugs/${bug}`, '', 'Title:', `  ${title}`, ''];
  for (const t of tasks) footer.push(`Status in ${t.label}:`, `  ${t.status}`);
  footer.push('', 'Bug description:');
  let size = parts.join('\n').length + footer.join('\n').length + 200;
  const filler: string[] = [];
  while (size < bodyTarget) {
    let para = '';
    const n = int(rng, 1, 4);
    for (let k = 0; k < n; k++) para += (k ? ' ' : '') + pick(rng, SENTENCES);
    filler.push(para);
    size += para.length + 2;
  }
  const wrapped = filler.map((p) => wrap(p, 72)).join('\n\n');
  const body = [
    parts.join('\n'),
    wrapped,
    '',
    footer.join('\n'),
    wrap(filler[0] ?? title, 70, '  '),
    '',
    'To manage notifications about this bug go to:',
    `https://bugs.launchpad.net/${targets[0] ?? 'launchpad'}/+bug/${bug}/+subscriptions`,
    '',
  ].join('\n');

  const raw = Buffer.from(h.join('\r\n') + '\r\n\r\n' + quotedPrintable(body), 'latin1');
  return { raw, bug, targets, messageId, tasks: tasks.map((t) => t.header), subject };
}

function wrap(text: string, width: number, indent = ''): string {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + 1 + w.length > width) {
      out.push(indent + line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(indent + line);
  return out.join('\n');
}

export interface GeneratedForeignMail {
  raw: Buffer;
  messageId: string;
  subject: string;
  /** Which kind of look-alike this is. */
  kind: 'list-patch' | 'human-bug-reply' | 'bug-word-subject';
}

/**
 * A mail that is NOT a Launchpad notification, deterministic from `i`:
 * a list patch mail, a human reply to a bug address with "[Bug N]" in the
 * Subject (like 028.eml), or a subject starting with "[BUG]" (like 023.eml).
 */
export function makeForeignMail(i: number): GeneratedForeignMail {
  const rng = prng(Math.imul(i + 7, 0x85ebca6b) ^ 0x27d4eb2f);
  const kinds = ['list-patch', 'human-bug-reply', 'bug-word-subject'] as const;
  const kind = kinds[i % 3] as GeneratedForeignMail['kind'];
  const person = pick(rng, PEOPLE);
  const messageId = `<20250106${String(100000 + i)}.${randStr(rng, HEX, 12)}@${person.email.split('@')[1]}>`;
  const bug = 1_800_000 + int(rng, 0, 99999);
  const title = Array.from({ length: int(rng, 4, 9) }, () => pick(rng, TITLE_WORDS)).join(' ');
  const subject =
    kind === 'list-patch' ? `[PATCH v${int(rng, 1, 4)} ${int(rng, 1, 9)}/9] hw/virtio: ${title}`
    : kind === 'human-bug-reply' ? `Re: [Qemu-devel] [Bug ${bug}] Re: ${title}`
    : `[BUG] ${title}`;
  const to = kind === 'human-bug-reply' ? `Bug ${bug} <${bug}@bugs.launchpad.net>` : 'qemu-devel@nongnu.org';
  const h = [
    'Return-Path: <qemu-devel-bounces@nongnu.org>',
    `Received: from lists.gnu.org (lists.gnu.org [209.51.188.17])\r\n\tby mx.example.org (Postfix) with ESMTPS id ${randStr(rng, '0123456789ABCDEF', 11)}\r\n\tfor <lpmqtt@example.org>; ${mailDate(i, 5)} +0000 (UTC)`,
    `Received: from ${person.email.split('@')[1]} ([198.51.100.${int(rng, 1, 254)}])\r\n by eggs.gnu.org with esmtps (TLS1.3) id 1t${randStr(rng, B64.slice(0, 62), 6)}\r\n for qemu-devel@nongnu.org; ${mailDate(i, 2)} +0000`,
    `From: ${phrase(person.display)} <${person.email}>`,
    `To: ${to}`,
    'Cc: qemu-devel@nongnu.org',
    /^[\x20-\x7e]*$/.test(subject) ? fold('Subject', subject, ' ') : `Subject: ${encodeWord(subject)}`,
    `Date: ${mailDate(i)} +0000`,
    `Message-Id: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset="utf-8"',
    'Content-Transfer-Encoding: quoted-printable',
    'List-Id: <qemu-devel.nongnu.org>',
    'Precedence: list',
  ];
  const paras = Array.from({ length: int(rng, 3, 10) }, () => wrap(pick(rng, SENTENCES) + ' ' + pick(rng, SENTENCES), 72));
  const body = (kind === 'list-patch' ? `Signed-off-by: ${person.display} <${person.email}>\n---\n` : '') + paras.join('\n\n') + '\n';
  return { raw: Buffer.from(h.join('\r\n') + '\r\n\r\n' + quotedPrintable(body), 'latin1'), messageId, subject, kind };
}
