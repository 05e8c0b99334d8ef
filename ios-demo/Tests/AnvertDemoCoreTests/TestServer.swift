// The private Dovecot that anvert-devserver starts (scripts/kotlin-test.sh on Linux; on a Mac
// run it by hand, see ios-demo/README.md), from the ANVERT_* variables it writes.
import Anvert
import CryptoKit
@testable import AnvertDemoCore
import Foundation
import XCTest

enum TestServer {
    static func env(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw XCTSkip("\(name) is not set: start anvert-devserver and pass its variables (see ios-demo/README.md)")
        }
        return value
    }

    static var messages: Int { get throws { Int(try env("ANVERT_MESSAGES"))! } }

    /// The form a user would fill in for the dev server's IMAP account.
    static func form() throws -> AccountForm {
        var form = AccountForm()
        form.name = "Demo"
        form.accountProtocol = .imap
        form.host = try env("ANVERT_HOST")
        form.port = try env("ANVERT_IMAPS_PORT")
        form.security = .tls
        form.username = try env("ANVERT_USER")
        form.password = try env("ANVERT_PASSWORD")
        return form
    }

    static func openEngine() throws -> Engine {
        let pem = try String(contentsOfFile: try env("ANVERT_CA"), encoding: .utf8)
        return try Engine.open(config: EngineConfig(dataDir: try tempDir("engine"), extraCaPem: pem, logLevel: .warn))
    }

    /// (Message-ID without brackets, section) to (decoded size, sha256).
    static func truths() throws -> [String: (size: Int64, sha256: String)] {
        let text = try String(contentsOfFile: try env("ANVERT_TRUTH"), encoding: .utf8)
        var out: [String: (Int64, String)] = [:]
        for line in text.split(separator: "\n") where !line.isEmpty {
            let f = line.split(separator: "\t").map(String.init)
            out["\(f[0])\t\(f[1])"] = (Int64(f[2])!, f[3])
        }
        return out
    }
}

/// Passwords in memory, for tests (the app uses the Keychain).
final class MemoryPasswords: PasswordStore, @unchecked Sendable {
    private var map: [Int64: String] = [:]
    private let lock = NSLock()
    func put(_ password: String, account: Int64) { lock.withLock { map[account] = password } }
    func get(account: Int64) -> String? { lock.withLock { map[account] } }
    func remove(account: Int64) { lock.withLock { _ = map.removeValue(forKey: account) } }
}

func tempDir(_ name: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("anvert-demo-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

func sha256(_ path: String) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// The first value of `publisher` (a store's `$state`) that satisfies `predicate`, like
/// Kotlin's `StateFlow.first { }`; fails after `seconds`.
func first<T: Sendable>(
    _ publisher: Published<T>.Publisher, within seconds: Double = 10, _ what: String,
    where predicate: @escaping (T) -> Bool
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            for await value in publisher.values where predicate(value) { return value }
            return nil
        }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            throw TimeoutError(what: what)
        }
        defer { group.cancelAll() }
        guard let value = try await group.next() ?? nil else { throw TimeoutError(what: what) }
        return value
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}
