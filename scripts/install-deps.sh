#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for Anvert's tests and demo:
#   - Dovecot (IMAP + POP3) from apt, for the real-server tests;
#   - for the Kotlin binding tests on the host JVM (scripts/kotlin-test.sh): a JDK
#     (default-jdk-headless, only if `java`/`javac` are missing), JNA and JUnit 4 from apt
#     (libjna-java, junit4), and kotlinc from the npm package `kotlin-compiler` (installed
#     globally; node and npm from apt if missing).
# Idempotent and quick when everything is present (no network then).
set -euo pipefail

# The kotlinc release from npm; scripts/kotlin-test.sh finds it under `npm root -g`.
KOTLIN_COMPILER_VERSION="2.4.20"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
for pkg in dovecot-imapd dovecot-pop3d libjna-java junit4; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
{ command -v java && command -v javac; } >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
{ command -v node && command -v npm; } >/dev/null 2>&1 || need_apt+=(nodejs npm)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  # The package may try to start the system Dovecot; ours runs privately, so that is harmless.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

kotlin_pkg="$(npm root -g)/kotlin-compiler"
installed_kotlin="$(node -p "require('$kotlin_pkg/package.json').version" 2>/dev/null || true)"
if [ "$installed_kotlin" != "$KOTLIN_COMPILER_VERSION" ]; then
  echo "install-deps: npm install -g kotlin-compiler@$KOTLIN_COMPILER_VERSION" >&2
  $SUDO npm install -g --no-audit --no-fund --loglevel=error "kotlin-compiler@$KOTLIN_COMPILER_VERSION" >/dev/null
fi

command -v cargo >/dev/null || { echo "install-deps: cargo (Rust 1.95) is required" >&2; exit 1; }
