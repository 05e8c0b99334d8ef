// One account's state, as published properties SwiftUI observes. Every list is filled from
// the engine's listener: a watch starts with a snapshot, and each later event names a change
// already committed to the store, so the list is re-queried from the store then (never
// polled, never computed here). Listener callbacks arrive on the engine's threads; they are
// queued in order into an AsyncStream and applied on the main actor.
import Anvert

public struct FoldersState: Equatable, Sendable {
    public var loaded = false
    /// INBOX first, then the other roles, then by name; each with its unread count.
    public var folders: [Folder] = []
}

public struct MessageListState: Equatable, Sendable {
    /// The watch's snapshot has arrived.
    public var loaded = false
    /// Newest first, at most the list's limit.
    public var messages: [MessageSummary] = []
    /// Re-queries made because the engine reported committed changes.
    public var updates = 0
    /// Headers-first progress of the folder's current sync, when one runs.
    public var progress: (synced: UInt32, total: UInt32)?
    public var error: String?

    public static func == (a: Self, b: Self) -> Bool {
        a.loaded == b.loaded && a.messages == b.messages && a.updates == b.updates
            && a.progress?.synced == b.progress?.synced && a.progress?.total == b.progress?.total && a.error == b.error
    }
}

public enum SyncState: Equatable, Sendable {
    case idle
    case running
    case finished(SyncReport)
    case failed(message: String, needsPassword: Bool)
}

public struct UsageState: Equatable, Sendable {
    /// Network kind ("unmetered", "metered", "roaming") to its rows by purpose.
    public var byNetwork: [(network: String, rows: [UsageRow])] = []
    public var totalBytes: UInt64 { byNetwork.flatMap(\.rows).reduce(0) { $0 + $1.bytesUp + $1.bytesDown } }

    public static func == (a: Self, b: Self) -> Bool {
        a.byNetwork.map(\.network) == b.byNetwork.map(\.network) && a.byNetwork.map(\.rows) == b.byNetwork.map(\.rows)
    }
}

public struct OpenedMessage: Sendable {
    public let detail: MessageDetail
    public let body: Body
}

/// Passes the engine's events, in order, into an AsyncStream.
final class EventSink: MailListener {
    private let continuation: AsyncStream<MailEvent>.Continuation
    init(_ continuation: AsyncStream<MailEvent>.Continuation) { self.continuation = continuation }
    func onEvent(event: MailEvent) { continuation.yield(event) }
}

/// Runs `query` after each `request()`; requests made while it runs merge into one more run.
@MainActor
final class Refresher {
    private var running = false
    private var again = false
    private let query: @MainActor () async -> Void

    init(_ query: @escaping @MainActor () async -> Void) { self.query = query }

    func request() {
        guard !running else { again = true; return }
        running = true
        Task { @MainActor in
            repeat {
                again = false
                await query()
            } while again
            running = false
        }
    }
}

@MainActor
public final class MailRepository: ObservableObject {
    @Published public private(set) var folders = FoldersState()
    @Published public private(set) var syncState: SyncState = .idle
    @Published public private(set) var usage = UsageState()

    public let account: Int64
    let engine: Engine
    private let network: @Sendable () -> NetworkStatus
    private let downloadDirectory: String
    private var watch: TaskHandle?
    private var consumer: Task<Void, Never>?
    private lazy var folderRefresh = Refresher { [weak self] in await self?.reloadFolders() }

    /// `network` reads the current NWPathMonitor status; `downloadDirectory` is inside the
    /// app's container (Caches or Application Support).
    public init(engine: Engine, account: Int64, downloadDirectory: String, network: @escaping @Sendable () -> NetworkStatus) throws {
        self.engine = engine
        self.account = account
        self.downloadDirectory = downloadDirectory
        self.network = network
        let (events, continuation) = AsyncStream.makeStream(of: MailEvent.self)
        watch = try engine.watchAccount(account: account, listener: EventSink(continuation))
        consumer = Task { [weak self] in
            for await event in events { self?.apply(event) }
        }
    }

    deinit {
        watch?.cancel()
        consumer?.cancel()
    }

    private func apply(_ event: MailEvent) {
        switch event {
        case .foldersSnapshot(_, let list):
            folders = FoldersState(loaded: true, folders: Self.sorted(list))
        case .foldersChanged, .messagesAdded, .messagesChanged, .messagesRemoved, .messagesIncomplete,
             .folderReset:
            folderRefresh.request()
        default:
            break
        }
    }

    /// The account's outbox and send actions; new messages go out from the account's user
    /// name (an address).
    public func outbox() async throws -> Outbox {
        let username = try await engine.accounts().first { $0.id == account }?.username ?? ""
        return try Outbox(engine: engine, account: account, from: Address(name: nil, email: username), network: network)
    }

    private func reloadFolders() async {
        if let list = try? await engine.folders(account: account) {
            folders = FoldersState(loaded: true, folders: Self.sorted(list))
        }
    }

    /// One sync pass with the current network kind; `trigger` sets the deadline.
    @discardableResult
    public func sync(_ trigger: SyncTrigger = .foreground) async -> SyncReport? {
        syncState = .running
        do {
            let report = try await engine.sync(account: account, options: syncOptions(network(), trigger))
            syncState = .finished(report)
            await refreshUsage()
            return report
        } catch {
            syncState = .failed(message: error.userMessage, needsPassword: (error as? AnvertError) == .Auth)
            return nil
        }
    }

    /// The message list of `folder`, headers first: the newest `limit` messages.
    public func messageList(folder: Int64, limit: UInt32 = 50) throws -> MessageList {
        try MessageList(engine: engine, folder: folder, limit: limit)
    }

    /// The message with its parts and readable body (fetched on open if not cached), marked read.
    public func open(_ message: Int64) async throws -> OpenedMessage {
        let body = try await engine.fetchBody(message: message, network: network().networkKind)
        let detail = try await engine.message(id: message)
        if !detail.summary.flags.seen {
            try await engine.setFlags(messages: [message], add: [.seen], remove: [])
        }
        return OpenedMessage(detail: detail, body: body)
    }

    /// A download of one part into the app's download directory; `start()` it.
    public func download(message: Int64, section: String) -> PartDownload {
        let network = self.network
        return PartDownload(engine: engine, message: message, section: section, directory: downloadDirectory) {
            network().networkKind
        }
    }

    /// Push (IDLE) on `folder` while the app is active (scenePhase).
    public func push(folder: String = "INBOX") -> Push {
        let network = self.network
        return Push(engine: engine, account: account, folder: folder) { network().networkKind }
    }

    public func refreshUsage() async {
        guard let rows = try? await engine.usage(account: account) else { return }
        let grouped = Dictionary(grouping: rows, by: \.networkKind)
        usage = UsageState(byNetwork: grouped.keys.sorted().map { (network: $0, rows: grouped[$0] ?? []) })
    }

    private static func sorted(_ list: [Folder]) -> [Folder] {
        func rank(_ f: Folder) -> Int {
            if f.role == .inbox || f.name.caseInsensitiveCompare("INBOX") == .orderedSame { return 0 }
            return f.role == nil ? 2 : 1
        }
        return list.filter(\.selectable).sorted { (rank($0), $0.name) < (rank($1), $1.name) }
    }
}

/// A folder's message list: the watch's snapshot first, then a re-query from the store on
/// each committed change.
@MainActor
public final class MessageList: ObservableObject {
    @Published public private(set) var state = MessageListState()
    public let folder: Int64
    private let engine: Engine
    private var limit: UInt32
    private var watch: TaskHandle?
    private var consumer: Task<Void, Never>?
    private lazy var refresher = Refresher { [weak self] in await self?.reload() }

    init(engine: Engine, folder: Int64, limit: UInt32) throws {
        self.engine = engine
        self.folder = folder
        self.limit = limit
        let (events, continuation) = AsyncStream.makeStream(of: MailEvent.self)
        watch = try engine.watchFolder(folder: folder, limit: limit, listener: EventSink(continuation))
        consumer = Task { [weak self] in
            for await event in events { self?.apply(event) }
        }
    }

    deinit {
        watch?.cancel()
        consumer?.cancel()
    }

    /// Show `more` older messages.
    public func showMore(_ more: UInt32 = 50) {
        limit += more
        refresher.request()
    }

    public func close() {
        watch?.cancel()
        consumer?.cancel()
    }

    private func apply(_ event: MailEvent) {
        switch event {
        case .messagesSnapshot(_, let messages):
            state.loaded = true
            state.messages = messages
        case .messagesAdded, .messagesChanged, .messagesRemoved, .messagesIncomplete, .folderReset:
            refresher.request()
        case .syncProgress(_, let synced, let total):
            state.progress = synced < total ? (synced, total) : nil
        case .pushStopped(let error?):
            state.error = error
        default:
            break
        }
    }

    private func reload() async {
        guard let page = try? await engine.messages(folder: folder, after: nil, limit: limit) else { return }
        state.loaded = true
        state.messages = page.messages
        state.updates += 1
        state.error = nil
    }
}
