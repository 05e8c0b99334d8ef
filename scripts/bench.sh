#!/usr/bin/env bash
# Runs the benchmarks against a private Dovecot (installed with apt if missing):
# the header sync of a 10,000-message INBOX beside a bare `UID FETCH 1:*` of the same items,
# printed as a markdown table with messages per second, peak memory and the 2x verdict.
#   scripts/bench.sh                         # 10,000 messages, 3 runs per contender
#   ANVERT_BENCH_MESSAGES=2000 scripts/bench.sh
#   ANVERT_BENCH_PHASES=1 scripts/bench.sh   # also when each window of the sync was committed
#   scripts/bench.sh --large                 # issue 19's scale run: only the header sync and
#                                            # the store queries, at 100,000 messages
# A missed target is reported, not fatal: the exit status is non-zero only for a broken run.
# Generated mailboxes are kept in target/bench-cache (generating 100,000 messages takes
# minutes once); delete it to regenerate.
set -euo pipefail
cd "$(dirname "$0")/.."
large=0
if [ "${1:-}" = "--large" ]; then
  large=1
  shift
  export ANVERT_BENCH_MESSAGES="${ANVERT_BENCH_MESSAGES:-100000}"
fi
bash scripts/install-deps.sh
# Building with lto can take a few minutes the first time; the run itself is bounded by the
# bench (every child process is killed after 10 minutes, Dovecot stops when it exits).
timeout --kill-after=30 3600 cargo bench --locked -p anvert-tests --bench header_sync "$@"
# Then the store's queries (issue 19): page, deep page, unread counts of 50 folders, thread,
# FTS, detail and a 1,000-change flag delta, median and p99, over a store filled by a real sync
# of the same size beside a 1,000-message baseline; the database size per message.
#   ANVERT_BENCH_QUERY_RUNS=500 scripts/bench.sh      # more runs per query
timeout --kill-after=30 3600 cargo bench --locked -p anvert-tests --bench store_queries "$@"
if [ "$large" = 1 ]; then
  exit 0
fi
# Then the attachment download: peak RSS while the engine downloads one 100 MiB attachment,
# beside a naive client that FETCHes the whole part in one response; the 32 MiB verdict.
#   ANVERT_BENCH_ATTACHMENT_MIB=20 scripts/bench.sh   # a smaller attachment
#   ANVERT_BENCH_TRACE=1 scripts/bench.sh             # also each child's RSS over time
timeout --kill-after=30 3600 cargo bench --locked -p anvert-tests --bench download_memory "$@"
# Then the POP3 download: peak RSS while the engine downloads one 50 MB message over POP3
# (RETR spooled to disk, skeleton parse, attachment decoded from the spool), beside a bare
# RETR into /dev/null and the old in-memory parse of the same message.
#   ANVERT_BENCH_POP3_MIB=20 scripts/bench.sh         # a smaller message
timeout --kill-after=30 3600 cargo bench --locked -p anvert-tests --bench pop3_memory "$@"
# Then opening messages on a slow link (the tap at 75 ms each way and 2 Mbit/s): 20 synced
# messages opened one after another over a warm account session, beside the cold path (every
# open connects, logs in and logs out); the warm/cold ratio against the 0.25 target.
#   ANVERT_BENCH_OPENS=50 scripts/bench.sh            # more opens per variant
timeout --kill-after=30 3600 cargo bench --locked -p anvert-tests --bench open_latency "$@"
# Then the download throughput (issue 16): a 10 MiB attachment through the tap at 75 ms each
# way and 2.5 MB/s per direction: the engine's pipelined BINARY download beside a bare
# single-response `UID FETCH n (BINARY.PEEK[2])` and the old one-chunk-per-round-trip BODY path;
# the pipelined/bare ratio against the 1.15 target.
#   ANVERT_BENCH_RATE=5000000 scripts/bench.sh        # another link rate (bytes per second)
#   ANVERT_BENCH_RUNS=3 scripts/bench.sh              # the median of more runs
timeout --kill-after=30 3600 cargo bench --locked -p anvert-tests --bench download_throughput "$@"
# Then many accounts (issue 19): ten accounts of one engine on its two runtime workers, synced
# all at once beside one after another (a fresh store each run, headers only); the
# concurrent/sequential ratio of the medians.
#   ANVERT_BENCH_ACCOUNT_MESSAGES=500 scripts/bench.sh   # messages per account (default 2,000)
timeout --kill-after=30 3600 cargo bench --locked -p anvert-tests --bench many_accounts "$@"
