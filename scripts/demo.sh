#!/usr/bin/env bash
# The main job: start a private Dovecot with a generated mailbox on 127.0.0.1, then point the
# `anvert` CLI at it over verified TLS: a headers-first sync, then an unchanged resync,
# each with the bytes that crossed the wire against what a full download would cost.
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
anvert() { target/debug/anvert --data-dir "$data_dir" --ca "$ANVERT_CA" "$@"; }
export ANVERT_PASSWORD   # the CLI reads it from the environment, never from argv
anvert account add --host "$ANVERT_HOST" --port "$ANVERT_IMAPS_PORT" --security tls --user "$ANVERT_USER" >/dev/null
echo "== first sync, metered network: headers first, the whole INBOX"
anvert sync --network metered --all
echo
echo "== the newest messages, from the local store"
anvert ls INBOX --limit 8
echo
echo "== a second sync: nothing changed, so almost nothing moves"
anvert sync --network metered --all
echo
echo "== data usage recorded by the engine"
anvert usage
echo "(server side: $ANVERT_MESSAGES messages, $ANVERT_MAILBOX_BYTES bytes in INBOX)"
rm -rf "$data_dir"
