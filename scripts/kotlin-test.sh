#!/usr/bin/env bash
# The Kotlin tests of the bindings, on the host JVM against a private Dovecot:
#   1. scripts/gen-bindings.sh: builds the anvert-ffi cdylib (release by default, with the
#      5 MB size check; --debug for a quick dev-profile build) and generates the Kotlin;
#   2. starts `anvert-devserver` (a private Dovecot with a generated INBOX of 60 messages) and exports
#      its connection details to the JVM as environment variables (ANVERT_HOST,
#      ANVERT_IMAPS_PORT, ANVERT_IMAP_PORT, ANVERT_POP3S_PORT, ANVERT_POP3_PORT, ANVERT_CA,
#      ANVERT_USER, ANVERT_PASSWORD, ANVERT_MESSAGES, ANVERT_MAILBOX_BYTES, ANVERT_TRUTH; see
#      bindings/kotlin-tests/src/DevServer.kt);
#   3. compiles the generated Kotlin with every bindings/kotlin-tests/src/**/*.kt using kotlinc
#      (npm `kotlin-compiler`) against JNA, JUnit 4, kotlinx-coroutines and kotlin-test;
#   4. runs every `*Test.kt` class there with JUnit 4 (class name = `package` + file name),
#      loading the cdylib through -Djna.library.path;
#   5. ends with `Kotlin: N passed, M failed`, non-zero on any failure (and when gen-bindings.sh
#      failed its size check, reported after the tests); stops the server on exit.
# The demo apps' shared logic (android-demo/demo-core, plain Kotlin) is compiled in the same
# kotlinc run, main and test sources, and its `*Test.kt` classes run in the same JUnit run.
#   scripts/kotlin-test.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."

gen_args=()
for arg in "$@"; do
  case "$arg" in
    --debug|--release) gen_args+=("$arg") ;;
    *) echo "usage: scripts/kotlin-test.sh [--debug|--release]" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh

# The dev server's mailbox: 60 messages, the "app" mix (a third with attachments, about half
# of those 1-4 MiB), which the download tests need.
messages="${ANVERT_KT_MESSAGES:-60}"
mix="${ANVERT_KT_MIX:-app}"
tests_src="bindings/kotlin-tests/src"
demo_src="android-demo/demo-core/src"
# Each run in a directory of its own (runs may overlap in a shared checkout), removed at the
# end; the JUnit log is kept as target/kotlin-test/junit.log.
mkdir -p target/kotlin-test
work="$PWD/target/kotlin-test-run-$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# 1. The library and its Kotlin.
# A failed size check fails this script too, but at the end, after the tests have run.
gen_status=0
gen_out="$(bash scripts/gen-bindings.sh "${gen_args[@]}" --out-dir "$work/bindings")" || gen_status=$?
lib="$(sed -n 's/^gen-bindings: lib=//p' <<<"$gen_out")"
[ -n "$lib" ] && [ -f "$lib" ] || { echo "kotlin-test: gen-bindings.sh gave no library" >&2; exit 1; }
lib_dir="$(cd "$(dirname "$lib")" && pwd)"

# 2. The server (built by `cargo test --workspace` already when run from scripts/test.sh).
cargo build --locked --quiet -p anvert-tests --bin anvert-devserver
env_file="$work/devserver.env"
target/debug/anvert-devserver --env-file "$env_file" --messages "$messages" --mix "$mix" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true; cp "$work/junit.log" target/kotlin-test/ 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do
  [ -s "$env_file" ] && break
  kill -0 $server 2>/dev/null || { echo "kotlin-test: the dev server exited" >&2; exit 1; }
  sleep 0.2
done
[ -s "$env_file" ] || { echo "kotlin-test: the dev server wrote no $env_file" >&2; exit 1; }
set -a; . "$env_file"; set +a

# 3. Compile.
kotlin_home="$(npm root -g)/kotlin-compiler"
kotlinc="$kotlin_home/bin/kotlinc"
[ -x "$kotlinc" ] || { echo "kotlin-test: $kotlinc is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
classpath="/usr/share/java/jna.jar:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar"
for jar in kotlinx-coroutines-core-jvm kotlin-test kotlin-test-junit; do
  [ -f "$kotlin_home/lib/$jar.jar" ] || { echo "kotlin-test: $kotlin_home/lib/$jar.jar is missing" >&2; exit 1; }
  classpath="$classpath:$kotlin_home/lib/$jar.jar"
done
source_dirs=("$work/bindings/kotlin" "$tests_src")
test_dirs=("$tests_src")
[ -d "$demo_src" ] && source_dirs+=("$demo_src")
[ -d "$demo_src/test" ] && test_dirs+=("$demo_src/test")
mapfile -t sources < <(find "${source_dirs[@]}" -name '*.kt' | sort)
start=$(date +%s)
# -nowarn: the generated code has many (unchecked casts, unused parameters).
"$kotlinc" -nowarn -jvm-target 17 -classpath "$classpath" -d "$work/tests.jar" "${sources[@]}"
echo "kotlin-test: kotlinc of ${#sources[@]} files took $(( $(date +%s) - start )) s" >&2

# 4. Run every *Test.kt class.
classes=()
while IFS= read -r file; do
  package="$(sed -n 's/^package[[:space:]]\{1,\}\([A-Za-z0-9_.]*\).*/\1/p' "$file" | head -n 1)"
  name="$(basename "$file" .kt)"
  classes+=("${package:+$package.}$name")
done < <(find "${test_dirs[@]}" -name '*Test.kt' | sort)
[ ${#classes[@]} -gt 0 ] || { echo "kotlin-test: no *Test.kt in $tests_src" >&2; exit 1; }

start=$(date +%s)
status=0
# The tests' temporary directories (engines' data, downloads) go under the run's directory,
# which the exit trap removes.
mkdir -p "$work/tmp"
timeout --kill-after=30 1200 java \
  -Djna.library.path="$lib_dir" \
  -Djava.io.tmpdir="$work/tmp" \
  -cp "$work/tests.jar:$classpath:$kotlin_home/lib/kotlin-stdlib.jar" \
  org.junit.runner.JUnitCore "${classes[@]}" 2>&1 | tee "$work/junit.log" || status=$?
echo "kotlin-test: JUnit run took $(( $(date +%s) - start )) s" >&2

# 5. JUnitCore ends with "OK (N tests)" or "Tests run: N,  Failures: M".
passed=0 failed=0
if line="$(grep -E '^OK \([0-9]+ tests?\)' "$work/junit.log" | tail -n 1)" && [ -n "$line" ]; then
  passed="$(echo "$line" | sed -E 's/^OK \(([0-9]+) tests?\).*/\1/')"
elif line="$(grep -E '^Tests run: [0-9]+, +Failures: [0-9]+' "$work/junit.log" | tail -n 1)" && [ -n "$line" ]; then
  run="$(echo "$line" | sed -E 's/^Tests run: ([0-9]+),.*/\1/')"
  failed="$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')"
  passed=$(( run - failed ))
else
  failed=1   # JUnit did not finish (a crash, a timeout): count the run as one failure
fi
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "Kotlin: $passed passed, $failed failed"
if [ "$gen_status" -ne 0 ]; then
  echo "kotlin-test: FAIL: scripts/gen-bindings.sh failed (see its message above: the cdylib size check)" >&2
  exit 1
fi
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
