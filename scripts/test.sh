#!/usr/bin/env bash
# Runs every Anvert test: unit tests, store tests, and the host tests against a private
# Dovecot or Cyrus started per test (IMAP and POP3 over verified TLS); then the Kotlin tests of the
# bindings on the host JVM against a private Dovecot (scripts/kotlin-test.sh). Installs what
# is missing first. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export RUST_BACKTRACE=1
cargo test --workspace --locked "$@"
bash scripts/kotlin-test.sh
