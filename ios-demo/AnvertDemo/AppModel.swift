import Anvert
import AnvertDemoCore
import BackgroundTasks
import Foundation
import os

/// What the screens and background refresh share: one engine per process, the network
/// monitor and the Keychain.
enum Shared {
    static let engine: Engine? = {
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("anvert", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        setLogger(logger: OSLogger(), level: .info)
        PlatformCharsets.install()
        var extraCA: String?
        #if DEBUG
        // Trying the app against anvert-devserver: set ANVERT_CA (its ca.pem) in the scheme's
        // environment; the simulator shares the Mac's 127.0.0.1. Certificates are always verified.
        extraCA = ProcessInfo.processInfo.environment["ANVERT_CA"].flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        #endif
        return try? Engine.open(config: EngineConfig(dataDir: dir.path, cacheBudgetBytes: 256 << 20, extraCaPem: extraCA, logLevel: .info))
    }()
    static let network = NetworkMonitor()
    static let passwords = KeychainPasswords()
    /// What the engine hears of scenePhase and of NWPathMonitor (warm connections in the
    /// foreground, closed after the work in the background, dropped on a new network).
    static let lifecycle: EngineLifecycle? = {
        guard let engine else { return nil }
        let lifecycle = EngineLifecycle(engine: engine)
        network.onUpdate = { lifecycle.onNetwork($0) }
        return lifecycle
    }()
}

/// The app's account store, push in the foreground and background refresh.
@MainActor
final class AppModel: ObservableObject {
    static let refreshTask = "dev.anvert.demo.refresh"

    @Published private(set) var ready = false
    @Published private(set) var repository: MailRepository?
    @Published var error: String?
    private var push: Push?

    var engine: Engine? { Shared.engine }

    func start() async {
        guard !ready else { return }
        guard let engine else {
            error = "The mail store could not be opened."
            ready = true
            return
        }
        do {
            let accounts = try await Accounts(engine: engine, passwords: Shared.passwords).restore()
            if let first = accounts.first { try use(first.id) }
        } catch {
            self.error = error.userMessage
        }
        ready = true
        enterForeground()
    }

    func add(_ form: AccountForm) async throws {
        guard let engine else { return }
        let accounts = Accounts(engine: engine, passwords: Shared.passwords)
        let account = try await accounts.add(form)
        let repo = try makeRepository(account.id)
        // The first sync proves the password; a rejected one removes the account again.
        await repo.sync()
        if case .failed(let message, true) = repo.syncState {
            try await accounts.remove(account.id)
            throw SetupError(message: message)
        }
        repository = repo
        enterForeground()
    }

    private func use(_ account: Int64) throws {
        repository = try makeRepository(account)
    }

    private func makeRepository(_ account: Int64) throws -> MailRepository {
        let downloads = FileManager.default.urls(for: .cachesDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("downloads", isDirectory: true)
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        let network = Shared.network
        return try MailRepository(engine: engine!, account: account, downloadDirectory: downloads.path) { network.status }
    }

    func enterForeground() {
        Shared.lifecycle?.onForeground(true)
        guard let repository else { return }
        let push = self.push ?? repository.push()
        self.push = push
        push.start()
        Shared.network.onChange = { [weak push] _ in Task { @MainActor in push?.start() } } // new kind: restart
    }

    func enterBackground() {
        Shared.lifecycle?.onForeground(false)
        push?.stop()
        Shared.network.onChange = nil
        Self.scheduleRefresh()
    }

    nonisolated static func scheduleRefresh() {
        let request = BGAppRefreshTaskRequest(identifier: refreshTask)
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    /// Background refresh: every account, with the current network kind and a 25 s deadline
    /// (the engine stops at a clean point; the next refresh continues).
    nonisolated static func handleRefresh(_ task: BGAppRefreshTask) {
        scheduleRefresh()
        let work = Task {
            guard let engine = Shared.engine else { return task.setTaskCompleted(success: false) }
            // A process launched for the refresh is in the background: no warm connections.
            Shared.lifecycle?.onForeground(false)
            do {
                let accounts = try await Accounts(engine: engine, passwords: Shared.passwords).restore()
                for account in accounts {
                    _ = try await engine.sync(account: account.id, options: syncOptions(Shared.network.status, .appRefresh))
                }
                task.setTaskCompleted(success: true)
            } catch {
                task.setTaskCompleted(success: false)
            }
        }
        // Cancelling the Swift task drops the Rust work at once.
        task.expirationHandler = { work.cancel() }
    }
}

struct SetupError: LocalizedError {
    let message: String
    var errorDescription: String? { message }
}

/// The engine's tracing, into os_log (nothing personal at info level and above).
final class OSLogger: Anvert.Logger {
    private let log = os.Logger(subsystem: "dev.anvert.demo", category: "anvert")

    func log(level: LogLevel, target: String, message: String) {
        switch level {
        case .error: log.error("\(target, privacy: .public): \(message, privacy: .public)")
        case .warn: log.warning("\(target, privacy: .public): \(message, privacy: .public)")
        case .debug: log.debug("\(target, privacy: .public): \(message, privacy: .public)")
        default: log.info("\(target, privacy: .public): \(message, privacy: .public)")
        }
    }
}
