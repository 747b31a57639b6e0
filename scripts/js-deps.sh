#!/usr/bin/env bash
# Installs the pinned npm packages of the browser SDK (hls.js for the end-to-end tests) from its lockfile.
set -euo pipefail
cd "$(dirname "$0")/../player-sdk/js"
[ -f package-lock.json ] || exit 0
if ! command -v npm >/dev/null 2>&1; then
  echo "js-deps: npm is missing; the browser SDK tests skip without it" >&2
  exit 0
fi
stamp=node_modules/.lock-$(cksum < package-lock.json | cut -d' ' -f1)
[ -f "$stamp" ] && exit 0
npm ci --no-audit --no-fund --loglevel=error
touch "$stamp"
