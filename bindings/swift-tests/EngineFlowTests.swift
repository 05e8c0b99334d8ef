// The bindings end to end from Swift against the dev server's Dovecot: the XCTest mirror of
// bindings/kotlin-tests/src/EngineFlowTest.kt, reading the same ANVERT_* variables that
// `anvert-devserver --env-file` writes (ANVERT_HOST, ANVERT_IMAPS_PORT, ANVERT_POP3S_PORT,
// ANVERT_CA, ANVERT_USER, ANVERT_PASSWORD, ANVERT_MESSAGES, ANVERT_MAILBOX_BYTES, ANVERT_TRUTH).
//
// NOT COMPILED OR RUN HERE (no Swift toolchain on the CI machine). On a Mac: build the
// XCFramework (ios-demo/build-framework.sh), add this file to a test target that links
// `Anvert` (e.g. ios-demo's AnvertDemoCoreTests), start the dev server, and run the tests on
// a simulator with the variables passed as TEST_RUNNER_ANVERT_*; see ios-demo/README.md.
import Anvert
import CryptoKit
import Foundation
import Network
import XCTest

private enum DevServer {
    static func env(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw XCTSkip("\(name) is not set: start anvert-devserver and pass its variables")
        }
        return value
    }

    static var host: String { get throws { try env("ANVERT_HOST") } }
    static var imapsPort: UInt16 { get throws { UInt16(try env("ANVERT_IMAPS_PORT"))! } }
    static var pop3sPort: UInt16 { get throws { UInt16(try env("ANVERT_POP3S_PORT"))! } }
    static var caPem: String { get throws { try String(contentsOfFile: try env("ANVERT_CA"), encoding: .utf8) } }
    static var user: String { get throws { try env("ANVERT_USER") } }
    static var password: String { get throws { try env("ANVERT_PASSWORD") } }
    static var messages: Int { get throws { Int(try env("ANVERT_MESSAGES"))! } }
    static var mailboxBytes: UInt64 { get throws { UInt64(try env("ANVERT_MAILBOX_BYTES"))! } }
}

/// One line of the dev server's truth file: what a part decodes to.
private struct PartTruth {
    let messageId: String
    let section: String
    let size: Int64
    let sha256: String
}

private func truths() throws -> [PartTruth] {
    try String(contentsOfFile: try DevServer.env("ANVERT_TRUTH"), encoding: .utf8)
        .split(separator: "\n")
        .filter { !$0.isEmpty }
        .map { line in
            let f = line.split(separator: "\t").map(String.init)
            return PartTruth(messageId: f[0], section: f[1], size: Int64(f[2])!, sha256: f[3])
        }
}

private func sha256(_ path: String) throws -> String {
    SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
}

private func tempDir(_ name: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("anvert-swift-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

private func openEngine(_ dir: String, trustTestCA: Bool = true) throws -> Engine {
    try Engine.open(config: EngineConfig(dataDir: dir, extraCaPem: trustTestCA ? try DevServer.caPem : nil, logLevel: .warn))
}

private func setup(_ accountProtocol: AccountProtocol, port: UInt16? = nil) throws -> AccountSetup {
    AccountSetup(
        name: "Alice",
        protocol: accountProtocol,
        host: try DevServer.host,
        port: try port ?? (accountProtocol == .pop3 ? DevServer.pop3sPort : DevServer.imapsPort),
        security: .tls,
        username: try DevServer.user
    )
}

private extension SyncReport {
    func down(_ purpose: String) -> UInt64 { bytes.filter { $0.purpose == purpose }.reduce(0) { $0 + $1.down } }
}

/// Records a download's progress and outcome; optionally cancels it at its first progress.
private final class Download: DownloadListener, @unchecked Sendable {
    private let lock = NSLock()
    private var _progress: [UInt64] = []
    private var continuation: CheckedContinuation<Result<String, AnvertError>, Never>?
    private var outcome: Result<String, AnvertError>?
    private let cancelOnFirstProgress: Bool
    var handle: TaskHandle? {
        get { lock.withLock { _handle } }
        set { lock.withLock { _handle = newValue } }
    }
    private var _handle: TaskHandle?

    init(cancelOnFirstProgress: Bool = false) { self.cancelOnFirstProgress = cancelOnFirstProgress }

    var progress: [UInt64] { lock.withLock { _progress } }

    func onProgress(done: UInt64, total: UInt64) {
        let first = lock.withLock { _progress.append(done); return _progress.count == 1 }
        if cancelOnFirstProgress && first {
            // The handle is set right after downloadPart returns; this callback can be faster.
            while handle == nil { usleep(1000) }
            handle?.cancel()
        }
    }

    func onComplete(path: String) { finish(.success(path)) }
    func onError(error: AnvertError) { finish(.failure(error)) }

    private func finish(_ result: Result<String, AnvertError>) {
        let waiting: CheckedContinuation<Result<String, AnvertError>, Never>? = lock.withLock {
            outcome = result
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume(returning: result)
    }

    /// The outcome (waits for it).
    func result() async -> Result<String, AnvertError> {
        await withCheckedContinuation { c in
            let ready: Result<String, AnvertError>? = lock.withLock {
                if outcome == nil { continuation = c }
                return outcome
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}

/// Every event a listener heard, in order.
private final class Events: MailListener, @unchecked Sendable {
    private let lock = NSLock()
    private var _all: [MailEvent] = []
    var all: [MailEvent] { lock.withLock { _all } }
    func onEvent(event: MailEvent) { lock.withLock { _all.append(event) } }
}

private struct Timeout: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "not met within \(seconds) s" }
}

/// Waits for events that the engine delivers from its own queue (they may trail a call's return).
private func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async throws {
    let end = Date().addingTimeInterval(seconds)
    while !condition() {
        guard Date() < end else { throw Timeout(seconds: seconds) }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}

final class EngineFlowTests: XCTestCase {
    /// The largest attachment of the folder (the dev server's "app" mix has MiB ones).
    private func largestAttachment(_ engine: Engine, folder: Int64) async throws -> (MessageSummary, PartTruth) {
        let attachments = try truths()
        var best: (MessageSummary, PartTruth)?
        var cursor: PageCursor?
        repeat {
            let page = try await engine.messages(folder: folder, after: cursor, limit: 50)
            for m in page.messages where m.hasAttachments {
                let detail = try await engine.message(id: m.id)
                guard let id = detail.messageId?.trimmingCharacters(in: CharacterSet(charactersIn: "<>")) else { continue }
                for part in detail.parts where part.isAttachment {
                    guard let truth = attachments.first(where: { $0.messageId == id && $0.section == part.section }) else { continue }
                    if best == nil || truth.size > best!.1.size { best = (m, truth) }
                }
            }
            cursor = page.next
        } while cursor != nil
        return try XCTUnwrap(best, "the mailbox has attachments")
    }

    func testImapEndToEnd() async throws {
        let engine = try openEngine(try tempDir("imap"))
        let account = try await engine.addAccount(setup: try setup(.imap), password: try DevServer.password)
        XCTAssertEqual(account.protocol, .imap)

        // Headers first on a metered network: the list, and not one byte of bodies.
        let events = Events()
        let watchAccount = try engine.watchAccount(account: account.id, listener: events)
        let report = try await engine.sync(account: account.id, options: SyncOptions(network: .metered, allMessages: true))
        XCTAssertEqual(report.added, UInt64(try DevServer.messages))
        XCTAssertEqual(report.down("bodies"), 0, "bodies on a metered headers sync: \(report.bytes)")
        XCTAssertEqual(report.down("attachments"), 0, "attachments on a metered headers sync: \(report.bytes)")
        XCTAssertLessThan(report.bytesTotal, try DevServer.mailboxBytes / 4)

        let inbox = try await engine.folders(account: account.id).first { $0.name == "INBOX" }!
        XCTAssertEqual(Int(inbox.total), try DevServer.messages)
        guard case .foldersSnapshot = events.all.first else { return XCTFail("first event: \(String(describing: events.all.first))") }
        func added() -> Int {
            events.all.reduce(0) { sum, e in
                if case .messagesAdded(let folder, let uids) = e, folder == inbox.id { return sum + uids.count }
                return sum
            }
        }
        let messages = try DevServer.messages
        try await eventually { added() >= messages }
        XCTAssertEqual(added(), messages)
        watchAccount.cancel()

        // A page of the list, newest first, then the next page from its cursor.
        let page = try await engine.messages(folder: inbox.id, after: nil, limit: 20)
        XCTAssertEqual(page.messages.count, 20)
        let dates = page.messages.map(\.internalDate)
        XCTAssertEqual(dates, dates.sorted(by: >))
        let next = try await engine.messages(folder: inbox.id, after: try XCTUnwrap(page.next), limit: 20)
        XCTAssertTrue(next.messages.allSatisfy { m in !page.messages.contains { $0.id == m.id } })

        // Open a message: its body comes on demand, then from the store.
        let opened = page.messages[0]
        let body = try await engine.fetchBody(message: opened.id, network: .metered)
        XCTAssertTrue(!(body.text ?? "").isEmpty || !(body.html ?? "").isEmpty, "an empty body")
        let again = try await engine.fetchBody(message: opened.id, network: .offline)
        XCTAssertEqual(body, again)

        // Download the largest attachment with progress, and compare it with the truth.
        let (holder, truth) = try await largestAttachment(engine, folder: inbox.id)
        let downloads = try tempDir("imap-downloads")
        let whole = Download()
        whole.handle = try engine.downloadPart(message: holder.id, section: truth.section, destination: downloads, network: .metered, listener: whole)
        let path = try await whole.result().get()
        XCTAssertEqual(try sha256(path), truth.sha256)
        XCTAssertFalse(whole.progress.isEmpty, "no progress callbacks")
        XCTAssertEqual(whole.progress, whole.progress.sorted(), "progress went backwards")

        // A second download, cancelled from its first progress, then resumed.
        try await engine.deleteDownload(message: holder.id, section: truth.section)
        let cancelled = Download(cancelOnFirstProgress: true)
        cancelled.handle = try engine.downloadPart(message: holder.id, section: truth.section, destination: downloads, network: .metered, listener: cancelled)
        let stopped = await cancelled.result()
        guard case .failure(.Cancelled) = stopped else { return XCTFail("expected Cancelled: \(stopped)") }
        let part = try await engine.message(id: holder.id).parts.first { $0.section == truth.section }
        XCTAssertEqual(part?.downloadState, .partial)
        let resumed = Download()
        resumed.handle = try engine.downloadPart(message: holder.id, section: truth.section, destination: downloads, network: .metered, listener: resumed)
        let resumedPath = try await resumed.result().get()
        XCTAssertEqual(try sha256(resumedPath), truth.sha256)
        XCTAssertGreaterThan(resumed.progress.first ?? 0, cancelled.progress.last ?? .max, "the resume started over")

        // Mark messages read while offline: applied at once, queued, written back by the sync.
        // (Another client may have read them all: mark ten unread first.)
        let unread = try await engine.messages(folder: inbox.id, after: nil, limit: 10).messages
        try await engine.setFlags(messages: unread.map(\.id), add: [], remove: [.seen])
        _ = try await engine.sync(account: account.id, options: SyncOptions(network: .metered))
        for m in unread {
            let seen = try await engine.message(id: m.id).summary.flags.seen
            XCTAssertFalse(seen)
        }
        try await engine.setFlags(messages: unread.map(\.id), add: [.seen], remove: [])
        let offline = try await engine.sync(account: account.id, options: SyncOptions(network: .offline))
        XCTAssertEqual(offline.stopped, .offline)
        for m in unread {
            let seen = try await engine.message(id: m.id).summary.flags.seen
            XCTAssertTrue(seen)
        }
        let queued = try await engine.pendingOperations(account: account.id)
        XCTAssertEqual(queued.count, unread.count)
        _ = try await engine.sync(account: account.id, options: SyncOptions(network: .metered))
        let left = try await engine.pendingOperations(account: account.id)
        XCTAssertEqual(left.count, 0)
        // The server agrees: a second engine with its own store sees the flags.
        let witness = try openEngine(try tempDir("imap-witness"))
        let other = try await witness.addAccount(setup: try setup(.imap), password: try DevServer.password)
        _ = try await witness.sync(account: other.id, options: SyncOptions(network: .metered, allMessages: true))
        let otherInbox = try await witness.folders(account: other.id).first { $0.name == "INBOX" }!
        let seenThere = try await witness.messages(folder: otherInbox.id, after: nil, limit: 60).messages
            .filter(\.flags.seen).map { "\($0.subject)|\($0.internalDate)" }
        XCTAssertTrue(unread.allSatisfy { seenThere.contains("\($0.subject)|\($0.internalDate)") }, "the server does not show the read marks")

        // The data-usage report, by network kind and purpose.
        let usage = try await engine.usage(account: account.id)
        XCTAssertTrue(usage.contains { $0.networkKind == "metered" && $0.purpose == "sync_metadata" && $0.bytesDown > 0 }, "\(usage)")
        XCTAssertTrue(usage.contains { $0.purpose == "attachments" && $0.bytesDown >= UInt64(truth.size) / 2 }, "\(usage)")
        XCTAssertTrue(usage.contains { $0.purpose == "write_back" && $0.bytesUp > 0 }, "\(usage)")
    }

    func testPop3EndToEnd() async throws {
        let engine = try openEngine(try tempDir("pop3"))
        let account = try await engine.addAccount(setup: try setup(.pop3), password: try DevServer.password)
        XCTAssertEqual(account.protocol, .pop3)

        // Roaming: TOP only, the list without a byte of bodies.
        let headers = try await engine.sync(account: account.id, options: SyncOptions(network: .roaming, allMessages: true))
        XCTAssertEqual(headers.added, UInt64(try DevServer.messages))
        XCTAssertEqual(headers.down("bodies"), 0, "bodies on a TOP pass: \(headers.bytes)")
        let inbox = try await engine.folders(account: account.id).first { $0.name == "INBOX" }!
        XCTAssertEqual(Int(inbox.total), try DevServer.messages)

        // Unmetered: the full download (RETR); POP3 has no partial fetch.
        let full = try await engine.sync(account: account.id, options: SyncOptions(network: .unmetered, allMessages: true))
        XCTAssertGreaterThan(full.down("bodies"), 0, "no RETR on unmetered: \(full.bytes)")
        let page = try await engine.messages(folder: inbox.id, after: nil, limit: 20)
        XCTAssertEqual(page.messages.count, 20)
        let body = try await engine.fetchBody(message: page.messages[0].id, network: .offline)
        XCTAssertTrue(!(body.text ?? "").isEmpty || !(body.html ?? "").isEmpty, "an empty body")

        // Attachments were stored by the full download; asking for one hands over the file.
        let (holder, truth) = try await largestAttachment(engine, folder: inbox.id)
        let got = Download()
        got.handle = try engine.downloadPart(message: holder.id, section: truth.section, destination: try tempDir("pop3-downloads"), network: .offline, listener: got)
        let gotPath = try await got.result().get()
        XCTAssertEqual(try sha256(gotPath), truth.sha256)

        // Flags are local on POP3: applied at once, nothing to write back.
        let first = try XCTUnwrap(page.messages.first { !$0.flags.flagged })
        try await engine.setFlags(messages: [first.id], add: [.flagged], remove: [])
        let flaggedAtOnce = try await engine.message(id: first.id).summary.flags.flagged
        XCTAssertTrue(flaggedAtOnce)
        _ = try await engine.sync(account: account.id, options: SyncOptions(network: .metered))
        let flaggedAfterSync = try await engine.message(id: first.id).summary.flags.flagged
        XCTAssertTrue(flaggedAfterSync)

        let usage = try await engine.usage(account: account.id)
        XCTAssertTrue(usage.contains { $0.networkKind == "unmetered" && $0.purpose == "bodies" && $0.bytesDown > 0 }, "\(usage)")
    }

    func testWrongPasswordIsAuth() async throws {
        let engine = try openEngine(try tempDir("auth"))
        for accountProtocol in [AccountProtocol.imap, .pop3] {
            let account = try await engine.addAccount(setup: try setup(accountProtocol), password: "not-" + (try DevServer.password))
            do {
                _ = try await engine.sync(account: account.id, options: SyncOptions(network: .metered))
                XCTFail("a wrong password synced")
            } catch AnvertError.Auth {
                // expected; the error carries nothing personal
            }
        }
    }

    func testUntrustedCertificateIsTls() async throws {
        // Without the test CA the server's certificate is not trusted: TLS, never a bypass.
        let engine = try openEngine(try tempDir("tls"), trustTestCA: false)
        let account = try await engine.addAccount(setup: try setup(.imap), password: try DevServer.password)
        do {
            _ = try await engine.sync(account: account.id, options: SyncOptions(network: .metered))
            XCTFail("an untrusted certificate was accepted")
        } catch AnvertError.Tls {
            // expected
        }
    }

    func testPanicBecomesAnError() async throws {
        do {
            try await dangerTestPanicBarrier(message: "forced panic")
            XCTFail("no error from the panic")
        } catch AnvertError.Other(let reason) {
            XCTAssertTrue(reason.contains("forced panic"), reason)
        }
        // The process and the library are still fine.
        try await dangerTestPanicBarrier(message: "")
        XCTAssertFalse(anvertVersion().isEmpty)
    }

    func testCancellingTheTaskCancelsTheRustWork() async throws {
        // A server that accepts and then never answers: the sync waits inside Rust for the TLS
        // handshake (its own timeout is 30 s). Cancelling the Swift task must drop the Rust
        // work, which closes the socket at once.
        let listener = try NWListener(using: .tcp, on: .any)
        let closed = expectation(description: "the engine closed the connection")
        let accepted = expectation(description: "the engine connected")
        closed.assertForOverFulfill = false
        accepted.assertForOverFulfill = false
        listener.newConnectionHandler = { connection in
            connection.start(queue: .global())
            accepted.fulfill()
            func drain() {
                connection.receive(minimumIncompleteLength: 1, maximumLength: 4096) { _, _, isComplete, error in
                    if isComplete || error != nil { closed.fulfill() } else { drain() }
                }
            }
            drain()
        }
        let ready = expectation(description: "listening")
        listener.stateUpdateHandler = { if case .ready = $0 { ready.fulfill() } }
        listener.start(queue: .global())
        await fulfillment(of: [ready], timeout: 5)
        let port = try XCTUnwrap(listener.port?.rawValue)

        let engine = try openEngine(try tempDir("cancel"))
        let account = try await engine.addAccount(setup: try setup(.imap, port: port), password: try DevServer.password)
        let sync = Task { try await engine.sync(account: account.id, options: SyncOptions(network: .metered)) }
        await fulfillment(of: [accepted], timeout: 10)
        try await Task.sleep(nanoseconds: 200_000_000) // the client has sent its TLS hello and waits
        let cancelledAt = Date()
        sync.cancel()
        await fulfillment(of: [closed], timeout: 5)
        XCTAssertLessThan(Date().timeIntervalSince(cancelledAt), 5, "the Rust work went on after the cancel")
        let result = await sync.result
        XCTAssertThrowsError(try result.get())
        listener.cancel()
        // The engine is fine and the account is free again.
        let accounts = try await engine.accounts()
        XCTAssertEqual(accounts.count, 1)
    }
}
