// AnvertDemoCore's stores against the dev server's Dovecot. Mirrors
// android-demo/demo-core/src/test/kotlin/dev/anvert/demo/MailRepositoryTest.kt: the message
// list fills headers-first from the engine's listener, folders carry unread counts, a
// download reports progress, completes, cancels and resumes, usage is by network kind.
import Anvert
import Combine
@testable import AnvertDemoCore
import XCTest

@MainActor
final class MailRepositoryTests: XCTestCase {
    let cellular = NetworkStatus(connected: true, expensive: true, constrained: false)
    var engine: Engine!

    override func setUp() async throws {
        engine = try TestServer.openEngine()
    }

    private func repository() async throws -> MailRepository {
        let account = try await Accounts(engine: engine, passwords: MemoryPasswords()).add(try TestServer.form())
        let status = cellular
        return try MailRepository(engine: engine, account: account.id, downloadDirectory: try tempDir("downloads")) { status }
    }

    func testMessageListFillsHeadersFirst() async throws {
        let repo = try await repository()
        // A first pass with a one-byte budget lists the folders and stops before any window of
        // headers: INBOX exists and is empty, so its list opens before its headers come.
        var probe = syncOptions(cellular, .foreground)
        probe.byteBudget = 1
        _ = try await engine.sync(account: repo.account, options: probe)
        let folders = try await first(repo.$folders, "INBOX") { $0.folders.contains { $0.name == "INBOX" } }
        let inbox = folders.folders.first { $0.name == "INBOX" }!
        XCTAssertEqual(inbox.total, 0, "the budget stopped before any header")

        let list = try repo.messageList(folder: inbox.id, limit: 50)
        let snapshot = try await first(list.$state, "the snapshot") { $0.loaded }
        XCTAssertTrue(snapshot.messages.isEmpty, "the snapshot came before the headers")
        XCTAssertEqual(snapshot.updates, 0)

        // The metered request from the network status: headers (and snippets), no bodies.
        let synced = await repo.sync(.foreground)
        let report = try XCTUnwrap(synced, "sync failed: \(repo.syncState)")
        XCTAssertEqual(report.added, UInt64(try TestServer.messages))
        let content = report.bytes.filter { $0.purpose == "bodies" || $0.purpose == "attachments" }.reduce(0) { $0 + $1.down }
        XCTAssertEqual(content, 0, "\(report.bytes)")

        // The list filled from the listener's deltas, re-queried from the store: the newest 50.
        let filled = try await first(list.$state, "50 messages") { $0.messages.count == 50 }
        XCTAssertGreaterThanOrEqual(filled.updates, 1)
        let newest = try await engine.messages(folder: inbox.id, after: nil, limit: 50).messages
        _ = try await first(list.$state, "the newest page") { $0.messages == newest }
        let dates = newest.map(\.internalDate)
        XCTAssertEqual(dates, dates.sorted(by: >))
        XCTAssertTrue(newest.allSatisfy { !$0.subject.isEmpty && !$0.from.isEmpty }, "headers missing")

        // The folder list followed with its counts.
        let messages = try TestServer.messages
        let counted = try await first(repo.$folders, "INBOX counts") { s in
            s.folders.contains { $0.name == "INBOX" && Int($0.total) == messages }
        }
        XCTAssertLessThanOrEqual(Int(counted.folders.first { $0.name == "INBOX" }!.unread), messages)

        list.showMore(5)
        _ = try await first(list.$state, "55 messages") { $0.messages.count == 55 }

        // Usage from the byte ledger, by network kind.
        let metered = repo.usage.byNetwork.first { $0.network == "metered" }?.rows ?? []
        XCTAssertTrue(metered.contains { $0.purpose == "sync_metadata" && $0.bytesDown > 0 }, "\(repo.usage.byNetwork)")
        list.close()
    }

    func testDownloadReportsProgressCompletesCancelsAndResumes() async throws {
        let repo = try await repository()
        let synced = await repo.sync(.foreground)
        XCTAssertNotNil(synced, "sync failed: \(repo.syncState)")
        let inbox = try await engine.folders(account: repo.account).first { $0.name == "INBOX" }!
        let (message, section, truth) = try await largestAttachment(folder: inbox.id)

        // The message view: the body on open, the attachment listed.
        let opened = try await repo.open(message.id)
        XCTAssertTrue(!(opened.body.text ?? "").isEmpty || !(opened.body.html ?? "").isEmpty, "empty body")
        XCTAssertTrue(opened.detail.parts.contains { $0.section == section && $0.isAttachment })

        let download = repo.download(message: message.id, section: section)
        var seen: [DownloadUiState] = []
        let recorder = download.$state.sink { seen.append($0) }
        download.start()
        let done = try await first(download.$state, within: 60, "the download") {
            if case .done = $0 { return true }
            if case .failed = $0 { return true }
            return false
        }
        guard case .done(let path) = done else { return XCTFail("download: \(done)") }
        XCTAssertEqual(try sha256(path), truth.sha256)
        let progress = seen.compactMap { state -> UInt64? in
            if case .running(let done, _) = state, done > 0 { return done }
            return nil
        }
        XCTAssertFalse(progress.isEmpty, "no progress: \(seen)")
        XCTAssertEqual(progress, progress.sorted(), "progress went backwards")
        recorder.cancel()

        // Again from nothing, cancelled at its first progress, then resumed.
        try await engine.deleteDownload(message: message.id, section: section)
        let again = repo.download(message: message.id, section: section)
        let canceller = again.$state.sink { state in
            if case .running(let done, _) = state, done > 0 { again.cancel() }
        }
        again.start()
        let stopped = try await first(again.$state, within: 60, "the cancel") {
            if case .running = $0 { return false }
            return true
        }
        canceller.cancel()
        guard case .cancelled(let doneAtCancel, let total) = stopped else { return XCTFail("expected cancelled: \(stopped)") }
        XCTAssertTrue(doneAtCancel > 0 && doneAtCancel < total, "cancelled at \(doneAtCancel) of \(total)")
        let part = try await engine.message(id: message.id).parts.first { $0.section == section }
        XCTAssertEqual(part?.downloadState, .partial)

        var after: [UInt64] = []
        let resumeRecorder = again.$state.dropFirst().sink { state in
            if case .running(let done, _) = state { after.append(done) }
        }
        again.start()
        let resumed = try await first(again.$state, within: 60, "the resume") {
            if case .done = $0 { return true }
            if case .failed = $0 { return true }
            return false
        }
        resumeRecorder.cancel()
        guard case .done(let resumedPath) = resumed else { return XCTFail("resume: \(resumed)") }
        XCTAssertEqual(try sha256(resumedPath), truth.sha256)
        XCTAssertTrue(after.allSatisfy { $0 >= doneAtCancel }, "the resume started over: \(after)")
    }

    /// The largest attachment in INBOX (the dev server's "app" mix has MiB ones).
    private func largestAttachment(folder: Int64) async throws -> (MessageSummary, String, (size: Int64, sha256: String)) {
        let truths = try TestServer.truths()
        var best: (MessageSummary, String, (size: Int64, sha256: String))?
        for m in try await engine.messages(folder: folder, after: nil, limit: 1000).messages where m.hasAttachments {
            let detail = try await engine.message(id: m.id)
            guard let id = detail.messageId?.trimmingCharacters(in: CharacterSet(charactersIn: "<>")) else { continue }
            for part in detail.parts where part.isAttachment {
                guard let truth = truths["\(id)\t\(part.section)"] else { continue }
                if best == nil || truth.size > best!.2.size { best = (m, part.section, truth) }
            }
        }
        return try XCTUnwrap(best, "the mailbox has attachments")
    }
}
