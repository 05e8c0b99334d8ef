#!/usr/bin/env bash
# Android packaging: the anvert-ffi cdylib for arm64-v8a and x86_64 (cargo-ndk) into the
# demo app's jniLibs, and the generated Kotlin (UniFFI library mode) into the demo's source
# tree.
#
# NOT RUN HERE: this machine has no Android NDK (and no cargo-ndk). It is kept correct by
# reading, and fails at once with a clear message when a tool is missing. Needs:
#   - ANDROID_NDK_HOME (or ANDROID_NDK_ROOT) pointing at an NDK (r25 or later);
#   - cargo-ndk:   cargo install cargo-ndk
#   - the targets: rustup target add aarch64-linux-android x86_64-linux-android
#
# Output (generated, not committed; both paths can be overridden):
#   ANVERT_JNILIBS_DIR  default android-demo/app/src/main/jniLibs
#                       -> <dir>/arm64-v8a/libanvert_ffi.so, <dir>/x86_64/libanvert_ffi.so
#   ANVERT_KOTLIN_DIR   default android-demo/anvert-bindings/src/main/kotlin
#                       -> <dir>/dev/anvert/anvert_ffi.kt (package dev.anvert)
# The generated Kotlin loads the library through JNA: the app depends on
# `net.java.dev.jna:jna:5.x@aar` and on kotlinx-coroutines-core (for the async functions).
#   scripts/android-build.sh [--debug]      # release profile by default (LTO, opt-level z, stripped)
#   ANDROID_API=26 scripts/android-build.sh # minSdk passed to cargo-ndk (default 24)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
for arg in "$@"; do
  case "$arg" in
    --debug) profile=debug ;;
    --release) profile=release ;;
    *) echo "usage: scripts/android-build.sh [--debug|--release]" >&2; exit 2 ;;
  esac
done

jnilibs="${ANVERT_JNILIBS_DIR:-android-demo/app/src/main/jniLibs}"
kotlin_dir="${ANVERT_KOTLIN_DIR:-android-demo/anvert-bindings/src/main/kotlin}"
api="${ANDROID_API:-24}"

die() { echo "android-build: $*" >&2; exit 1; }
ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
[ -n "$ndk" ] && [ -d "$ndk" ] ||
  die "no Android NDK: set ANDROID_NDK_HOME to an NDK directory (r25 or later). This script cannot run on the CI machine."
export ANDROID_NDK_HOME="$ndk"
cargo ndk --version >/dev/null 2>&1 || die "cargo-ndk is missing: cargo install cargo-ndk"
installed_targets="$(rustup target list --installed 2>/dev/null || true)"
for target in aarch64-linux-android x86_64-linux-android; do
  grep -qx "$target" <<<"$installed_targets" || die "Rust target $target is missing: rustup target add $target"
done

release_flag=()
[ "$profile" = release ] && release_flag=(--release)
# cargo-ndk sets the NDK's clang as linker and C compiler (ring, zstd and SQLite have C code)
# for each ABI, and copies each libanvert_ffi.so into <jnilibs>/<abi>/.
cargo ndk -t arm64-v8a -t x86_64 --platform "$api" -o "$jnilibs" \
  build --locked "${release_flag[@]}" -p anvert-ffi --lib

# The Kotlin, generated from the host's dev-profile library (the metadata is the same for
# every target and profile; a stripped release library has none left to read, see
# gen-bindings.sh).
bash scripts/gen-bindings.sh --debug >/dev/null
mkdir -p "$kotlin_dir/dev/anvert"
cp target/bindings/kotlin/dev/anvert/anvert_ffi.kt "$kotlin_dir/dev/anvert/"

for abi in arm64-v8a x86_64; do
  [ -s "$jnilibs/$abi/libanvert_ffi.so" ] || die "missing $jnilibs/$abi/libanvert_ffi.so"
  echo "android-build: $jnilibs/$abi/libanvert_ffi.so ($(wc -c <"$jnilibs/$abi/libanvert_ffi.so") bytes)"
done
[ -s "$kotlin_dir/dev/anvert/anvert_ffi.kt" ] || die "no Kotlin generated in $kotlin_dir"
echo "android-build: Kotlin in $kotlin_dir/dev/anvert/"
