// Sending from Swift against the dev server's Dovecot submission service: the XCTest mirror
// of bindings/kotlin-tests/src/SendTest.kt (send with an attachment, filed in Sent and
// delivered; a queued entry cancelled), reading the variables `anvert-devserver` writes
// (ANVERT_SENDER, ANVERT_SENDER_PASSWORD, ANVERT_SUBMISSIONS_PORT, ANVERT_SPOOL, ...).
//
// NOT COMPILED OR RUN HERE (no Swift toolchain on the CI machine); see EngineFlowTests.swift
// for how to run it on a Mac.
import Anvert
import Foundation
import XCTest

private func env(_ name: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw XCTSkip("\(name) is not set: start anvert-devserver and pass its variables")
    }
    return value
}

final class SendTests: XCTestCase {
    private func senderEngine() async throws -> (Engine, Int64) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("anvert-swift-send-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ca = try String(contentsOfFile: try env("ANVERT_CA"), encoding: .utf8)
        let engine = try Engine.open(config: EngineConfig(dataDir: dir.path, extraCaPem: ca, logLevel: .warn))
        let setup = AccountSetup(
            name: "Carol", protocol: .imap, host: try env("ANVERT_HOST"), port: UInt16(try env("ANVERT_IMAPS_PORT")),
            security: .tls, username: try env("ANVERT_SENDER")
        )
        let account = try await engine.addAccount(setup: setup, password: try env("ANVERT_SENDER_PASSWORD"))
        _ = try await engine.sync(account: account.id, options: SyncOptions(network: .unmetered))
        let server = SubmissionServer(host: try env("ANVERT_HOST"), port: UInt16(try env("ANVERT_SUBMISSIONS_PORT"))!, security: .tls)
        try await engine.setSubmission(account: account.id, server: server)
        return (engine, account.id)
    }

    func testSendsWithAnAttachmentAndFilesItInSent() async throws {
        let (engine, account) = try await senderEngine()
        let bytes = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let subject = "swift-send-\(UUID().uuidString)"
        let id = try await engine.send(account: account, message: Draft(
            from: Address(name: nil, email: try env("ANVERT_SENDER")),
            to: [Address(name: "Dave", email: "dave@example.org")],
            subject: subject, text: "Hello from Swift",
            attachments: [DraftAttachment(name: "data.bin", mimeType: "application/octet-stream", bytes: bytes)]
        ))
        let report = try await engine.flushOutbox(account: account, network: .unmetered)
        XCTAssertEqual(report.sent, 1, "\(report.errors)")
        let item = try await engine.outbox(account: account).first { $0.id == id }
        XCTAssertEqual(item?.state, .sent)
        XCTAssertEqual(item?.path, "burl")
        // The receiver's spool has it (the relay may take a moment).
        let spool = URL(fileURLWithPath: try env("ANVERT_SPOOL"))
        var delivered = false
        for _ in 0..<300 where !delivered {
            let files = (try? FileManager.default.contentsOfDirectory(at: spool, includingPropertiesForKeys: nil)) ?? []
            delivered = files.filter { $0.pathExtension == "eml" }.contains { url in
                (try? String(contentsOf: url, encoding: .isoLatin1))?.contains(item?.messageId ?? "-") == true
            }
            if !delivered { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        XCTAssertTrue(delivered)
        _ = try await engine.sync(account: account, options: SyncOptions(network: .unmetered))
        let sent = try await engine.folders(account: account).first { $0.role == .sent }!
        let page = try await engine.messages(folder: sent.id, after: nil, limit: 100)
        XCTAssertTrue(page.messages.contains { $0.subject == subject })
    }

    func testCancelsAQueuedMessage() async throws {
        let (engine, account) = try await senderEngine()
        let id = try await engine.send(account: account, message: Draft(
            from: Address(name: nil, email: try env("ANVERT_SENDER")),
            to: [Address(name: nil, email: "frank@example.org")], subject: "never sent", text: "x"
        ))
        let cancelled = try await engine.cancelSend(item: id)
        XCTAssertTrue(cancelled)
        let left = try await engine.outbox(account: account)
        XCTAssertFalse(left.contains { $0.id == id })
    }
}
