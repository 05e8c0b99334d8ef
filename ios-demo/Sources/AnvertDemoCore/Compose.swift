// Composing and forwarding: the compose screen's form (recipients parsed and checked, the
// Draft built), and the outbox as published state refreshed on the engine's OutboxChanged
// events (never polled), with each entry's refused recipients in words. The same logic as
// android-demo/demo-core's Compose.kt, which the JVM tests exercise.
import Anvert
import Foundation

/// One recipient as typed; `email` is nil when it is not an address.
public struct Recipient: Equatable, Sendable {
    public let raw: String
    public let name: String?
    public let email: String?
}

/// `a@b.c, Name <d@e.f>; x@y.z`: split on commas and semicolons outside quotes.
public func parseRecipients(_ field: String) -> [Recipient] {
    var pieces: [String] = []
    var current = ""
    var quoted = false
    for c in field {
        if c == "\"" { quoted.toggle(); current.append(c) }
        else if (c == "," || c == ";") && !quoted { pieces.append(current); current = "" }
        else { current.append(c) }
    }
    pieces.append(current)
    return pieces.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { raw in
        var name: String?
        var email = raw
        if raw.hasSuffix(">"), let open = raw.lastIndex(of: "<") {
            let n = raw[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            name = n.isEmpty ? nil : n
            email = String(raw[raw.index(after: open)..<raw.index(before: raw.endIndex)]).trimmingCharacters(in: .whitespaces)
        }
        return Recipient(raw: raw, name: name, email: isAddress(email) ? email : nil)
    }
}

public func isAddress(_ s: String) -> Bool {
    let parts = s.split(separator: "@", omittingEmptySubsequences: false)
    return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
        && !s.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "\"" })
}

public func addresses(_ field: String) -> [Address] {
    parseRecipients(field).compactMap { r in r.email.map { Address(name: r.name, email: $0) } }
}

/// The compose screen's fields.
public struct ComposeForm: Equatable, Sendable {
    public var to = ""
    public var cc = ""
    public var bcc = ""
    public var subject = ""
    public var text = ""
    public var attachments: [DraftAttachment] = []

    /// What the demo lets one message carry.
    public static let maxAttachments = 20 << 20

    public init() {}

    /// What to fix before sending; empty when the message can go.
    public var problems: [String] {
        var out: [String] = []
        let fields = [("To", to), ("Cc", cc), ("Bcc", bcc)]
        for (field, value) in fields {
            for r in parseRecipients(value) where r.email == nil { out.append("\(field): \"\(r.raw)\" is not an address") }
        }
        if fields.allSatisfy({ parseRecipients($0.1).allSatisfy { $0.email == nil } }) { out.append("add at least one recipient") }
        if subject.trimmingCharacters(in: .whitespaces).isEmpty && text.trimmingCharacters(in: .whitespaces).isEmpty && attachments.isEmpty {
            out.append("the message is empty")
        }
        if attachments.reduce(0, { $0 + $1.bytes.count }) > Self.maxAttachments { out.append("attachments are over 20 MiB") }
        return out
    }

    /// The engine's Draft from `from` (the account's address). Call when `problems` is empty.
    public func draft(from: Address) -> Draft {
        precondition(problems.isEmpty, problems.joined(separator: ", "))
        return Draft(
            from: from, to: addresses(to), cc: addresses(cc), bcc: addresses(bcc),
            subject: subject.trimmingCharacters(in: .whitespaces), text: text, html: nil, attachments: attachments
        )
    }
}

/// One outbox entry as the outbox screen shows it.
public struct OutboxRow: Equatable, Sendable, Identifiable {
    public let id: Int64
    public let subject: String
    public let state: OutboxState
    public let status: String
    /// One line per refused recipient: `address: code text`.
    public let failures: [String]
    public let canCancel: Bool

    public init(_ item: OutboxItem) {
        id = item.id
        subject = item.subject.isEmpty ? "(no subject)" : item.subject
        state = item.state
        switch item.state {
        case .sent: status = item.rejected.isEmpty ? "Sent" : "Sent, \(item.rejected.count) recipient(s) refused"
        case .failed: status = "Failed: \(item.lastError ?? "refused")"
        case .queued:
            if item.parked { status = "Not sent: \(item.lastError ?? "retry later")" }
            else if let e = item.lastError { status = "Waiting to retry (\(e))" }
            else { status = "Waiting to send" }
        default: status = "Sending…"
        }
        failures = item.rejected.map { "\($0.address): \($0.code) \($0.text)" }
        canCancel = [.queued, .sent, .failed].contains(item.state)
    }
}

/// The account's outbox and the send actions.
@MainActor
public final class Outbox: ObservableObject {
    @Published public private(set) var rows: [OutboxRow] = []
    @Published public private(set) var error: String?

    public let account: Int64
    let engine: Engine
    private let from: Address
    private let network: @Sendable () -> NetworkStatus
    private var watch: TaskHandle?
    private var consumer: Task<Void, Never>?
    private lazy var refresh = Refresher { [weak self] in await self?.reload() }

    public init(engine: Engine, account: Int64, from: Address, network: @escaping @Sendable () -> NetworkStatus) throws {
        self.engine = engine
        self.account = account
        self.from = from
        self.network = network
        let (events, continuation) = AsyncStream.makeStream(of: MailEvent.self)
        watch = try engine.watchAccount(account: account, listener: EventSink(continuation))
        consumer = Task { [weak self] in
            for await event in events {
                switch event {
                case .foldersSnapshot: self?.refresh.request()
                case .outboxChanged(let account, _) where account == self?.account: self?.refresh.request()
                default: break
                }
            }
        }
    }

    deinit {
        watch?.cancel()
        consumer?.cancel()
    }

    private func reload() async {
        if let list = try? await engine.outbox(account: account) { rows = list.map(OutboxRow.init) }
    }

    /// Queues the form's message, then sends now when there is a network.
    @discardableResult
    public func send(_ form: ComposeForm) async throws -> Int64 {
        let id = try await engine.send(account: account, message: form.draft(from: from))
        await sendNow()
        return id
    }

    /// Forwards a stored message (its attachments taken from the server, not downloaded).
    @discardableResult
    public func forward(message: Int64, to: String, text: String, includeAttachments: Bool) async throws -> Int64 {
        let id = try await engine.forward(message: message, to: addresses(to), text: text, includeAttachments: includeAttachments)
        await sendNow()
        return id
    }

    /// "Send now": flushes the outbox, unless offline (the next sync sends then).
    @discardableResult
    public func sendNow() async -> SendReport? {
        let kind = network().networkKind
        guard kind != .offline else { return nil }
        do {
            let report = try await engine.flushOutbox(account: account, network: kind)
            error = report.errors.first?.error
            return report
        } catch {
            self.error = "\(error)"
            return nil
        }
    }

    public func cancel(_ id: Int64) async -> Bool {
        (try? await engine.cancelSend(item: id)) ?? false
    }
}
