#!/usr/bin/env bash
# The main job: start a private Dovecot with a generated mailbox on 127.0.0.1, then point the
# `anvert` CLI at it over verified TLS and show what crossed the wire.
#   scripts/demo.sh [--messages N] [--mix default|small|none]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --locked --quiet -p anvert-tests --bin anvert-devserver -p anvert-cli --bin anvert

env_file="target/anvert-devserver.env"
rm -f "$env_file"
target/debug/anvert-devserver --env-file "$env_file" "$@" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  [ -s "$env_file" ] && break
  kill -0 $server 2>/dev/null || { echo "demo: the dev server exited" >&2; exit 1; }
  sleep 0.2
done
set -a; . "$env_file"; set +a

data_dir="$(mktemp -d)"
target/debug/anvert --data-dir "$data_dir" inspect \
  --host "$ANVERT_HOST" --port "$ANVERT_IMAPS_PORT" --security tls --ca "$ANVERT_CA" --user "$ANVERT_USER"
echo "(server side: $ANVERT_MESSAGES messages, $ANVERT_MAILBOX_BYTES bytes in INBOX)"
rm -rf "$data_dir"
