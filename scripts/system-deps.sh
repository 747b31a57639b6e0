#!/usr/bin/env bash
# Installs the system programs the browser and video tests drive (Chromium, its driver, ffmpeg)
# from Debian's packages when they are missing. Browser downloads by test tools fail offline,
# so we never use them.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# wrk drives the HTTP benchmarks (`make bench`).
[ "${1:-}" = "bench" ] && ! command -v wrk >/dev/null 2>&1 && missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: please install ${missing[*]} (browser and video tests skip without them)" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "system-deps: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
