#!/usr/bin/env bash
# Installs (as root, with apt-get) or names (otherwise) what atmd's build
# and tests need on a Debian machine. Usage: scripts/deps.sh [run|test]
set -euo pipefail
what=${1:-test}

need_go=1.24
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "deps: go is at /usr/local/go/bin; add it to PATH" >&2
  else
    echo "deps: Go >= $need_go is required: https://go.dev/dl/ (or: apt-get install golang-go on Debian 13+)" >&2
  fi
  exit 1
fi

# Debian packages the tests use. Kept in one list so the printed command
# and the install are the same.
pkgs=()
# build: cgo for the PC/SC driver (ebfe/scard) needs gcc, pkg-config and
# the pcsclite headers. test: also pcscd with the vpcd virtual reader, so
# the PC/SC driver is tested against a virtual card through pcscd; and
# tshark, whose ISO 8583 dissector decodes the golden host link frames as
# a third party (hostlink/thirdparty_test.go); chromium and its CJK
# fonts for the browser tests of the customer screen, and zbar-tools,
# whose zbarimg reads the QR codes on it as a standard reader
# (devices/webscreen).
build=(gcc pkg-config libpcsclite-dev)
case "$what" in
  test) pkgs=("${build[@]}" pcscd vsmartcard-vpcd chromium fonts-noto-cjk tshark zbar-tools) ;;
  run)  pkgs=("${build[@]}" fonts-noto-cjk) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  else
    echo "deps: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
