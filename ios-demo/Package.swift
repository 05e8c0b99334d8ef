// swift-tools-version:5.9
// AnvertDemoCore: the demo app's logic without SwiftUI (stores, network mapping, deadlines),
// over the generated Swift bindings (`Anvert`) and the Rust library in an XCFramework
// (`AnvertFFI`). Both are generated, not committed: run ./build-framework.sh first (macOS).
import PackageDescription

let package = Package(
    name: "AnvertDemo",
    platforms: [.iOS(.v16)],
    products: [
        .library(name: "AnvertDemoCore", targets: ["AnvertDemoCore"]),
        // The bindings themselves, for the app's views (records such as Folder, Part).
        .library(name: "Anvert", targets: ["Anvert"]),
    ],
    targets: [
        // libanvert_ffi.a for device and simulator, with AnvertFFI.h and its module map.
        .binaryTarget(name: "AnvertFFI", path: "Generated/AnvertFFI.xcframework"),
        // The generated Anvert.swift (`import AnvertFFI`).
        .target(name: "Anvert", dependencies: ["AnvertFFI"], path: "Generated/Sources/Anvert"),
        .target(name: "AnvertDemoCore", dependencies: ["Anvert"]),
        .testTarget(name: "AnvertDemoCoreTests", dependencies: ["AnvertDemoCore"]),
    ]
)
