#!/usr/bin/env bash
# Builds what Package.swift expects under ios-demo/Generated (macOS with Xcode only):
#   Generated/AnvertFFI.xcframework      the Rust library for device and simulator
#   Generated/Sources/Anvert/Anvert.swift the generated bindings
# scripts/ios-xcframework.sh does the work; the XCFramework is renamed after the C module it
# carries (AnvertFFI), so that the Swift module `Anvert` can keep its name in the package.
#   ios-demo/build-framework.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."
out=ios-demo/Generated
ANVERT_IOS_OUT="$out" bash scripts/ios-xcframework.sh "$@"
rm -rf "$out/AnvertFFI.xcframework"
mv "$out/Anvert.xcframework" "$out/AnvertFFI.xcframework"
rm -rf "$out/headers" "$out/simulator"
echo "ios-demo: $out/AnvertFFI.xcframework and $out/Sources/Anvert/Anvert.swift"
