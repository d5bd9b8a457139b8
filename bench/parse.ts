/**
 * Parse benchmark: parseMail against mailparser's simpleParser on the same
 * corpus of realistic ~5.5 KB Launchpad bug mails (QP body, 1–3 targets).
 * Prints numbers; asserts nothing.
 *
 *   node --import tsx bench/parse.ts [count]
 */
import { pathToFileURL } from 'node:url';
import { simpleParser } from 'mailparser';
import { DEFAULT_PARSE_OPTIONS, parseMail } from '../src/core/index.js';

const PRODUCTS = ['qemu', 'cloud-init', 'nova', 'libstdc++', 'apparmor', 'snapd', 'mesa', 'systemd'];
const STATUSES = ['New', 'Confirmed', 'Triaged', 'In Progress', 'Fix Committed', 'Fix Released', "Won't Fix"];
const SERIES = ['noble', 'jammy', 'focal', 'oracular'];

function qp(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let enc = '';
    for (const b of Buffer.from(line, 'utf8')) {
      enc += b === 0x3d || b > 0x7e ? `=${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
    }
    while (enc.length > 76) {
      let cut = 75;
      // Do not split an =XX escape.
      if (enc[cut - 1] === '=') cut -= 1;
      else if (enc[cut - 2] === '=') cut -= 2;
      out.push(`${enc.slice(0, cut)}=`);
      enc = enc.slice(cut);
    }
    out.push(enc);
  }
  return out.join('\n');
}

/** One realistic Launchpad bug mail (deterministic in `i`). */
export function benchMail(i: number): Buffer {
  const bug = 1_800_000 + i;
  const product = PRODUCTS[i % PRODUCTS.length] as string;
  const status = STATUSES[i % STATUSES.length] as string;
  const targets = 1 + (i % 3);
  const tasks: string[] = [`X-Launchpad-Bug: product=${product}; status=${status}; importance=Undecided;\n assignee=None; `];
  if (targets >= 2) {
    tasks.push(
      `X-Launchpad-Bug: distribution=ubuntu; sourcepackage=${product}; component=main;\n status=Confirmed; importance=Medium;\n assignee=dev${i % 17}@example.com; `,
    );
    tasks.push(
      `X-Launchpad-Bug: distribution=ubuntu; distroseries=${SERIES[i % SERIES.length]}; sourcepackage=${product};\n component=main; status=In Progress; importance=Medium;\n assignee=dev${i % 17}@example.com; `,
    );
  }
  if (targets >= 3) tasks.push(`X-Launchpad-Bug: distribution=debian; sourcepackage=${product}; component=None;\n status=New; importance=Unknown; assignee=None; `);
  const para =
    `The guest crashes when ${product} handles request #${i} under load. Steps to reproduce: start the VM, ` +
    'run the stress test for a while and watch dmesg. Jürgen confirmed it on arm64 as well — see the attached log.\n';
  const body =
    `${para}\n** Changed in: ${product}\n       Status: New => ${status}\n\n` +
    `${para.repeat(9)}\n-- \nYou received this bug notification because you are a member of qemu-\n` +
    `devel-ml, which is subscribed to QEMU.\nhttps://bugs.launchpad.net/bugs/${bug}\n\nTitle:\n  ${product} crashes under load\n\n` +
    `To manage notifications about this bug go to:\nhttps://bugs.launchpad.net/${product}/+bug/${bug}/+subscriptions\n`;
  const headers = [
    'Return-Path: <qemu-devel-bounces+lists+qemu-devel=lfdr.de@nongnu.org>',
    'Delivered-To: lists+qemu-devel@lfdr.de',
    'Received: from lists.gnu.org (lists.gnu.org [209.51.188.17])\n\tby mail.lfdr.de (Postfix) with ESMTPS id F0DC0A5E214\n\tfor <lists+qemu-devel@lfdr.de>; Wed, 12 Mar 2025 17:54:18 +0100 (CET)',
    'Received: from eggs.gnu.org ([2001:470:142:3::10])\n by lists.gnu.org with esmtps (TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256)\n (Exim 4.90_1) (envelope-from <noreply@launchpad.net>)\n id 1tsPJE-0005vu-RA\n for qemu-devel@nongnu.org; Wed, 12 Mar 2025 12:51:58 -0400',
    'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=launchpad.net;\n s=20210803; t=1741798309;\n bh=A5UmkWd9FtdVHDRLd5ZJsPAV2f8dx5g8mShKbuZqAsU=;\n h=MIME-Version:Content-Type:Date:From:To:Reply-To:References:\n Message-Id:Subject;\n b=Wx/YcvTs6gCs7f9Ta6VaWaCwytabfn0zVu2+evj5lu5sfB0k1mM3g2BfpwTOsLiH+\n JjyffdKKhHcIW6zgUVrRxfQnFcKqYf/sSLdmIU52oKKx04ylQ6ju/Dhi6g6tfMZazX',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset="utf-8"',
    'Content-Transfer-Encoding: quoted-printable',
    `Date: Wed, 12 Mar 2025 16:${String(i % 60).padStart(2, '0')}:23 -0000`,
    `From: =?utf-8?q?J=C3=BCrgen_Tester?= <${bug}@bugs.launchpad.net>`,
    'To: qemu-devel@nongnu.org',
    'X-Launchpad-Notification-Type: bug',
    ...tasks.map((t) => t.replace(/\n$/, '')),
    'X-Launchpad-Bug-Tags: patch arm64',
    'X-Launchpad-Bug-Information-Type: Public',
    'X-Launchpad-Bug-Private: no',
    'X-Launchpad-Bug-Security-Vulnerability: no',
    'X-Launchpad-Bug-Commenters: crichton dimitry janitor\n michal.fita paelzer sergiodj',
    'X-Launchpad-Bug-Reporter: Dimitry Andric (dimitry)',
    'X-Launchpad-Bug-Modifier: =?utf-8?q?J=C3=BCrgen_Tester_=28jtester=29?=',
    `Message-Id: <${1741797926 + i}.1191754.5109307186334923964.launchpad@juju-98d295-prod-launchpad-2>`,
    `Subject: [Bug ${bug}] Re: ${product} crashes under load when handling\n request ${i}`,
    'X-Launchpad-Message-Rationale: Subscriber (QEMU) @qemu-devel-ml',
    'X-Launchpad-Message-For: qemu-devel-ml',
    'Precedence: bulk',
    'X-Generated-By: Launchpad (canonical.com);\n Revision="aa29ae0fff49e4e804b39147c9f259d2fb023199";\n Instance="launchpad-scripts"',
    'X-Launchpad-Hash: c48317723122d0fe7f8169bf89561d95682da916',
    'List-Id: <qemu-devel.nongnu.org>',
    'List-Unsubscribe: <https://lists.nongnu.org/mailman/options/qemu-devel>,\n <mailto:qemu-devel-request@nongnu.org?subject=unsubscribe>',
    `Reply-To: Bug ${bug} <${bug}@bugs.launchpad.net>`,
    'Sender: qemu-devel-bounces+lists+qemu-devel=lfdr.de@nongnu.org',
  ];
  return Buffer.from(`${headers.join('\n')}\n\n${qp(body)}\n`, 'utf8');
}

function mb(n: number): number {
  return Math.round((n / 1048576) * 10) / 10;
}

/** Run the benchmark; returns the numbers it printed. */
export async function benchParse(count = 10_000, simpleCount = 1_000): Promise<Record<string, number>> {
  const corpus = Array.from({ length: count }, (_, i) => benchMail(i));
  const avgBytes = corpus.reduce((a, b) => a + b.length, 0) / corpus.length;
  // Warm up the JIT on a slice of the corpus.
  for (let i = 0; i < Math.min(2000, count); i++) parseMail(corpus[i] as Buffer, DEFAULT_PARSE_OPTIONS);
  let events = 0;
  const t0 = process.hrtime.bigint();
  for (const raw of corpus) {
    const o = parseMail(raw, DEFAULT_PARSE_OPTIONS);
    if (o.kind === 'events') events += o.events.length;
  }
  const parseMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const mem = process.memoryUsage();
  const sample = corpus.slice(0, simpleCount);
  const t1 = process.hrtime.bigint();
  for (const raw of sample) await simpleParser(raw);
  const simpleMs = Number(process.hrtime.bigint() - t1) / 1e6;
  const result = {
    mails: count,
    avgMailBytes: Math.round(avgBytes),
    events,
    parseMailPerSec: Math.round((count / parseMs) * 1000),
    parseMailUsPerMail: Math.round((parseMs / count) * 1000 * 10) / 10,
    simpleParserPerSec: Math.round((sample.length / simpleMs) * 1000),
    heapUsedMB: mb(mem.heapUsed),
    rssMB: mb(mem.rss),
  };
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 10_000);
  const r = await benchParse(n);
  for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(20)} ${v}`);
}
