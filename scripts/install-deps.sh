#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for Anvert's tests and demo:
# Dovecot (IMAP + POP3) from apt. Idempotent and quick when everything is present.
set -euo pipefail

need_apt=()
for pkg in dovecot-imapd dovecot-pop3d; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # The package may try to start the system Dovecot; ours runs privately, so that is harmless.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "install-deps: cargo (Rust 1.95) is required" >&2; exit 1; }
