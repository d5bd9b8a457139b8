#!/usr/bin/env bash
# lpmqtt quickstart: from a fresh clone on Debian (root, or a user with sudo),
# install what is missing, start a local Cyrus IMAP (mailbox user.lpmqtt,
# idled) and Mosquitto on free loopback ports, start the bridge, deliver the
# samples/ mails through LMTP and show the events as a subscriber sees them.
# Runs until Ctrl-C, then stops everything and removes its temp dirs.
#
#   bash scripts/quickstart.sh
#
# Idempotent: a second run installs nothing and reuses node_modules and dist/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

NODE_MIN=20.18.0
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b,c]=process.versions.node.split(".").map(Number),[x,y,z]=process.argv[1].split(".").map(Number);process.exit(a!==x?(a>x?0:1):b!==y?(b>y?0:1):c>=z?0:1)' "$NODE_MIN"
}

# --- Debian packages: only the missing ones --------------------------------
packages=(cyrus-imapd sasl2-bin mosquitto mosquitto-clients)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi

if ((${#missing[@]} > 0)); then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get: this script is for Debian (or install them by hand)"
  if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    die "missing ${missing[*]}: run as root or install sudo"
  fi
  say "installing ${missing[*]} (apt-get)"
  # Keep the packages' own daemons from starting on 143/1883 (Debian's
  # policy-rc.d mechanism); the quickstart runs its own on free ports.
  policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    trap '"${SUDO[@]}" rm -f "$policy"' EXIT
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null
  if [[ -n "$policy" ]]; then
    "${SUDO[@]}" rm -f "$policy"
    trap - EXIT
  fi
else
  say "system packages present: ${packages[*]}"
fi

node_ok || die "lpmqtt needs Node >= $NODE_MIN, found $(node --version 2>/dev/null || echo none). On Debian 12 use the NodeSource packages or Debian 13's nodejs."

# --- the project ----------------------------------------------------------
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "npm ci"
  npm ci --prefer-offline --no-audit --no-fund </dev/null >&2
fi
if [[ ! -f dist/cli.js || -n "$(find src package.json tsconfig.json tsconfig.build.json -newer dist/cli.js -print -quit)" ]]; then
  say "npm run build"
  npm run --silent build >&2
fi

# --- the stack: replaces this shell, so Ctrl-C goes straight to it ---------
say "starting the stack (Ctrl-C stops it)"
exec node --import tsx scripts/quickstart/stack.ts
