// An attachment download and push, as SwiftUI sees them. The engine downloads in resumable
// chunks and reports to a listener; this turns that into a published state with cancel and
// resume (starting again continues from what is on disk).
import Anvert

public enum DownloadUiState: Equatable, Sendable {
    case idle
    /// `done` of `total` encoded bytes.
    case running(done: UInt64, total: UInt64)
    case done(path: String)
    /// It stopped; what was downloaded is kept and `start()` resumes.
    case failed(String)
    /// Cancelled by the user at `done` of `total`; `start()` resumes.
    case cancelled(done: UInt64, total: UInt64)

    public var fraction: Double {
        switch self {
        case .running(let done, let total), .cancelled(let done, let total):
            return total > 0 ? Double(done) / Double(total) : 0
        case .done: return 1
        default: return 0
        }
    }
}

enum DownloadEvent: Sendable {
    case progress(done: UInt64, total: UInt64)
    case complete(String)
    case failed(AnvertError)
}

/// Passes the engine's download callbacks, in order, into an AsyncStream.
final class DownloadSink: DownloadListener {
    private let continuation: AsyncStream<DownloadEvent>.Continuation
    init(_ continuation: AsyncStream<DownloadEvent>.Continuation) { self.continuation = continuation }

    func onProgress(done: UInt64, total: UInt64) { continuation.yield(.progress(done: done, total: total)) }

    func onComplete(path: String) {
        continuation.yield(.complete(path))
        continuation.finish()
    }

    func onError(error: AnvertError) {
        continuation.yield(.failed(error))
        continuation.finish()
    }
}

@MainActor
public final class PartDownload: ObservableObject {
    @Published public private(set) var state: DownloadUiState = .idle
    public let message: Int64
    public let section: String
    private let engine: Engine
    private let directory: String
    private let network: @Sendable () -> NetworkKind
    private var handle: TaskHandle?

    init(engine: Engine, message: Int64, section: String, directory: String, network: @escaping @Sendable () -> NetworkKind) {
        self.engine = engine
        self.message = message
        self.section = section
        self.directory = directory
        self.network = network
    }

    /// Starts, or resumes after a cancel or a failure. Does nothing while running.
    public func start() {
        if case .running = state { return }
        let (done, total) = progress
        state = .running(done: done, total: total)
        let (events, continuation) = AsyncStream.makeStream(of: DownloadEvent.self)
        do {
            handle = try engine.downloadPart(
                message: message, section: section, destination: directory,
                network: network(), listener: DownloadSink(continuation)
            )
        } catch {
            state = .failed(error.userMessage)
            return
        }
        Task { [weak self] in
            for await event in events { self?.apply(event) }
        }
    }

    /// Stops within one chunk; the state becomes `.cancelled` when the engine has stopped.
    public func cancel() {
        handle?.cancel()
    }

    private func apply(_ event: DownloadEvent) {
        switch event {
        case .progress(let done, let total):
            state = .running(done: done, total: total)
        case .complete(let path):
            state = .done(path: path)
        case .failed(.Cancelled):
            let (done, total) = progress
            state = .cancelled(done: done, total: total)
        case .failed(let error):
            state = .failed(error.userMessage)
        }
    }

    private var progress: (UInt64, UInt64) {
        switch state {
        case .running(let done, let total), .cancelled(let done, let total): return (done, total)
        default: return (0, 0)
        }
    }
}

/// Push (IDLE) while the app is active: the app calls `start()` when its scene becomes active
/// (and when the network changes) and `stop()` when it leaves.
@MainActor
public final class Push: ObservableObject {
    @Published public private(set) var running = false
    /// Why the last push ended, when it failed.
    @Published public private(set) var error: String?
    private let engine: Engine
    private let account: Int64
    private let folder: String
    private let network: @Sendable () -> NetworkKind
    private var handle: TaskHandle?
    /// Tells the current push's events from a stopped one's.
    private var generation = 0

    init(engine: Engine, account: Int64, folder: String, network: @escaping @Sendable () -> NetworkKind) {
        self.engine = engine
        self.account = account
        self.folder = folder
        self.network = network
    }

    public func start() {
        stop()
        let kind = network()
        guard kind != .offline else { return }
        let (events, continuation) = AsyncStream.makeStream(of: MailEvent.self)
        do {
            handle = try engine.startPush(account: account, folder: folder, network: kind, listener: EventSink(continuation))
            running = true
        } catch {
            self.error = error.userMessage
            return
        }
        generation += 1
        let current = generation
        Task { [weak self] in
            for await event in events {
                if case .pushStopped(let error) = event, let self, self.generation == current {
                    self.running = false
                    self.error = error
                    return
                }
            }
        }
    }

    public func stop() {
        handle?.cancel()
        handle = nil
        running = false
    }
}
