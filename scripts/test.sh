#!/usr/bin/env bash
# Runs every Anvert test: unit tests, store tests, and the host tests against a private
# Dovecot started per test (IMAP and POP3 over verified TLS). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export RUST_BACKTRACE=1
cargo test --workspace --locked "$@"
