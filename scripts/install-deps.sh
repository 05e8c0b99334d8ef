#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for Anvert's tests and demo:
#   - Dovecot (IMAP + POP3, and its submission service for the sending tests) from apt, for
#     the real-server tests;
#   - Cyrus IMAP as the second real server: cyrus-common and sasl2-bin from apt, and the
#     imapd, pop3d and idled binaries taken out of the cyrus-imapd/cyrus-pop3d packages with
#     `apt-get download` + `dpkg -x` into $ANVERT_CYRUS_DIR (default
#     /usr/local/lib/anvert-cyrus), because Debian's cyrus-imapd conflicts with
#     dovecot-imapd (both provide imap-server). tests/src/cyrus.rs finds them there;
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
for pkg in dovecot-imapd dovecot-pop3d dovecot-submissiond cyrus-common sasl2-bin libjna-java junit4; do
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

# Cyrus' imapd, pop3d and idled, of exactly the installed cyrus-common's version (they depend
# on it with `=`). Fetched again only when that version changes.
CYRUS_DIR="${ANVERT_CYRUS_DIR:-/usr/local/lib/anvert-cyrus}"
cyrus_version="$(dpkg-query -W -f='${Version}' cyrus-common)"
if [ "$(cat "$CYRUS_DIR/VERSION" 2>/dev/null || true)" != "$cyrus_version" ] \
    || [ ! -x "$CYRUS_DIR/bin/imapd" ] || [ ! -x "$CYRUS_DIR/bin/pop3d" ]; then
  echo "install-deps: Cyrus imapd/pop3d $cyrus_version into $CYRUS_DIR" >&2
  work="$(mktemp -d)"
  chmod 755 "$work" # apt-get download runs as _apt when it can
  download() { (cd "$work" && apt-get download -qq "cyrus-imapd=$1" "cyrus-pop3d=$1" 2>/dev/null); }
  if ! download "$cyrus_version"; then
    # Stale package lists, or the archive moved on (a security update): refresh, and bring
    # cyrus-common to the version the archive has if the installed one is gone from it.
    $SUDO apt-get update -qq
    if ! download "$cyrus_version"; then
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends cyrus-common >/dev/null
      cyrus_version="$(dpkg-query -W -f='${Version}' cyrus-common)"
      download "$cyrus_version"
    fi
  fi
  for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/x"; done
  $SUDO mkdir -p "$CYRUS_DIR/bin"
  for bin in imapd pop3d idled; do
    $SUDO install -m 755 "$work/x/usr/lib/cyrus/bin/$bin" "$CYRUS_DIR/bin/$bin"
  done
  echo "$cyrus_version" | $SUDO tee "$CYRUS_DIR/VERSION" >/dev/null
  rm -rf "$work"
fi

kotlin_pkg="$(npm root -g)/kotlin-compiler"
installed_kotlin="$(node -p "require('$kotlin_pkg/package.json').version" 2>/dev/null || true)"
if [ "$installed_kotlin" != "$KOTLIN_COMPILER_VERSION" ]; then
  echo "install-deps: npm install -g kotlin-compiler@$KOTLIN_COMPILER_VERSION" >&2
  $SUDO npm install -g --no-audit --no-fund --loglevel=error "kotlin-compiler@$KOTLIN_COMPILER_VERSION" >/dev/null
fi

command -v cargo >/dev/null || { echo "install-deps: cargo (Rust 1.95) is required" >&2; exit 1; }
