#!/usr/bin/env bash
# iOS packaging: the anvert-ffi static library for aarch64-apple-ios (devices),
# aarch64-apple-ios-sim and x86_64-apple-ios (simulators, joined into one fat library with
# lipo), wrapped with the generated C header and module map in Anvert.xcframework; beside it
# the generated Swift (UniFFI library mode) that the app or a Swift package compiles.
#
# NOT RUN HERE: it needs macOS with Xcode (xcodebuild, lipo) and the three Rust targets; this
# machine has none of them. It is kept correct by reading, and fails at once with a clear
# message when a tool is missing. Needs:
#   - Xcode command line tools (xcodebuild, lipo);
#   - rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
#
# Output (generated, not committed), in ANVERT_IOS_OUT (default target/ios):
#   Anvert.xcframework/          ios-arm64 and ios-arm64_x86_64-simulator slices, each with
#                                libanvert_ffi.a, Headers/AnvertFFI.h and Headers/module.modulemap
#   Sources/Anvert/Anvert.swift  `import AnvertFFI`; add it to the app target or a Swift package
#                                target that depends on the XCFramework (binaryTarget).
#   scripts/ios-xcframework.sh [--debug]   # release profile by default
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
for arg in "$@"; do
  case "$arg" in
    --debug) profile=debug ;;
    --release) profile=release ;;
    *) echo "usage: scripts/ios-xcframework.sh [--debug|--release]" >&2; exit 2 ;;
  esac
done

out="${ANVERT_IOS_OUT:-target/ios}"
device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"

die() { echo "ios-xcframework: $*" >&2; exit 1; }
[ "$(uname -s)" = Darwin ] || die "needs macOS with Xcode; this is $(uname -s). It cannot run on the CI machine."
command -v xcodebuild >/dev/null || die "xcodebuild is missing: install Xcode and run xcode-select --install"
command -v lipo >/dev/null || die "lipo is missing: install the Xcode command line tools"
installed_targets="$(rustup target list --installed 2>/dev/null || true)"
for target in "$device" "${simulators[@]}"; do
  grep -qx "$target" <<<"$installed_targets" || die "Rust target $target is missing: rustup target add $target"
done

release_flag=()
[ "$profile" = release ] && release_flag=(--release)
for target in "$device" "${simulators[@]}"; do
  # The staticlib is not in the crate's `crate-type` (that would double every release link
  # on Linux and Android); it is asked for here.
  cargo rustc --locked "${release_flag[@]}" -p anvert-ffi --lib --crate-type staticlib --target "$target"
done

rm -rf "$out"
mkdir -p "$out/headers" "$out/simulator" "$out/Sources/Anvert"

# Swift, header and module map, generated (and checked) from the host's dev-profile library:
# the metadata is the same for every target and profile (see gen-bindings.sh).
bash scripts/gen-bindings.sh --debug >/dev/null
cp target/bindings/swift/Anvert.swift "$out/Sources/Anvert/"
cp target/bindings/swift/AnvertFFI.h "$out/headers/"
# Xcode looks for a module map named module.modulemap among an XCFramework's headers.
cp target/bindings/swift/AnvertFFI.modulemap "$out/headers/module.modulemap"

# One fat static library for both simulator architectures.
lipo -create \
  "target/aarch64-apple-ios-sim/$profile/libanvert_ffi.a" \
  "target/x86_64-apple-ios/$profile/libanvert_ffi.a" \
  -output "$out/simulator/libanvert_ffi.a"

xcodebuild -create-xcframework \
  -library "target/$device/$profile/libanvert_ffi.a" -headers "$out/headers" \
  -library "$out/simulator/libanvert_ffi.a" -headers "$out/headers" \
  -output "$out/Anvert.xcframework"

echo "ios-xcframework: $out/Anvert.xcframework and $out/Sources/Anvert/Anvert.swift"
