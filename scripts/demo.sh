#!/usr/bin/env bash
# The main job: start a private Dovecot with a generated mailbox on 127.0.0.1, then point the
# `anvert` CLI at it over verified TLS: a headers-first sync with the bytes that crossed the
# wire against what a full download would cost, a message opened (its body fetched on demand),
# a flag written back, a local search, one attachment fetched on demand (cut part-way, then
# resumed, checked against the generator's sha256), an unchanged resync, and `doctor`.
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
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true; rm -rf "$data_dir"' EXIT
anvert() { target/debug/anvert --data-dir "$data_dir" --ca "$ANVERT_CA" "$@"; }
export ANVERT_PASSWORD   # the CLI reads it from the environment, never from argv
anvert account add --host "$ANVERT_HOST" --port "$ANVERT_IMAPS_PORT" --security tls --user "$ANVERT_USER" >/dev/null
echo "== first sync, metered network: headers first, the whole INBOX"
anvert sync --network metered --all
echo
echo "== the newest messages, from the local store"
anvert ls INBOX --limit 8
echo
newest="$(anvert ls INBOX --limit 1 | awk 'NR == 1 { print $1 }')"
echo
echo "== anvert open $newest: the readable body, fetched on demand (only the text part)"
anvert open "$newest" --network metered >"$data_dir/open.txt"
head -n 12 "$data_dir/open.txt"
echo "   [...]"
tail -n 1 "$data_dir/open.txt"
echo
echo "== anvert flag $newest +flagged --now: applied locally, written back at once"
anvert flag "$newest" +flagged --now --network metered
anvert show "$newest" | grep '^Flags:'
# A word of a recent subject to search for (subjects may be in any script: take a Latin one).
word="$(anvert --json ls INBOX --limit 20 | sed -n 's/^ *"subject": "\(.*\)",$/\1/p' | tr -cs 'A-Za-z' '\n' | awk 'length >= 6' | head -n 1)"
if [ -n "$word" ]; then
  echo
  echo "== anvert search $word: full text over the stored mail, no network"
  anvert search "$word" --limit 5
fi
echo
echo "== attachments of the newest messages (what \`anvert get\` takes), from the local store"
anvert ls INBOX --attachments --limit 100000 >"$data_dir/attachments.txt"
head -n 7 "$data_dir/attachments.txt"
# One to fetch: the newest between 1 and 8 MiB, else the largest there is.
read -r id section size < <(awk 'NR > 1 {
    if ($3 >= 1048576 && $3 <= 8388608) { print $1, $2, $3; found = 1; exit }
    if ($3 > best) { best = $3; pick = $1 " " $2 " " $3 } }
  END { if (!found && pick != "") print pick }' "$data_dir/attachments.txt") || true
if [ -n "${id:-}" ]; then
  echo
  echo "== anvert show $id: its parts, sections and download state"
  anvert show "$id"
  dest="$data_dir/downloads"
  echo
  echo "== anvert get $id $section: cut after a third (--stop-after, as Ctrl-C would), then resumed"
  anvert get "$id" "$section" "$dest" --network metered --stop-after $((size / 3)) || [ $? -eq 130 ]
  anvert get "$id" "$section" "$dest" --network metered | tee "$data_dir/get.txt"
  message_id="$(anvert show "$id" | sed -n 's/^Message-ID: <\?\([^>]*\)>\?$/\1/p')"
  want="$(awk -F'\t' -v m="$message_id" -v s="$section" '$1 == m && $2 == s { print $4 }' "$ANVERT_TRUTH")"
  got="$(sed -n 's/^sha256 //p' "$data_dir/get.txt")"
  if [ -n "$want" ] && [ "$got" = "$want" ]; then
    echo "   = the generator's sha256 for part $section of <$message_id>"
  else
    echo "demo: sha256 $got is not the generator's ${want:-(not found)}" >&2
    exit 1
  fi
  echo
  echo "== the same get again: already downloaded, nothing is fetched"
  anvert get "$id" "$section" "$dest" --network metered
fi
echo
echo "== a second sync: nothing changed, so almost nothing moves"
anvert sync --network metered --all
echo
echo "== anvert doctor: what the server offers and what the engine does with it"
anvert doctor
echo
echo "== data usage recorded by the engine"
anvert usage
echo "(server side: $ANVERT_MESSAGES messages, $ANVERT_MAILBOX_BYTES bytes in INBOX)"
