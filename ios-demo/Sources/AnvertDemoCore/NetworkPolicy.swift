// What NWPathMonitor says about the network, and what the app asks the engine for because of
// it. The engine decides what each network kind fetches; the app only names the kind and,
// for background work, the time it has.
import Anvert

/// The facts of an `NWPath`: `status == .satisfied`, `isExpensive` (cellular, a phone's
/// hotspot), `isConstrained` (Low Data Mode). `networkId` tells one network from another (the
/// interface and its gateways; nil when offline or unknown): a new one means the engine's
/// connections are stale.
public struct NetworkStatus: Equatable, Sendable {
    public var connected: Bool
    public var expensive: Bool
    public var constrained: Bool
    public var networkId: String?

    public init(connected: Bool, expensive: Bool, constrained: Bool, networkId: String? = nil) {
        self.connected = connected
        self.expensive = expensive
        self.constrained = constrained
        self.networkId = networkId
    }

    public static let offline = NetworkStatus(connected: false, expensive: false, constrained: false)

    /// No connection wins over everything. iOS does not tell apps about roaming; Low Data
    /// Mode is the user asking for the least, which is the engine's roaming policy (headers
    /// only). Expensive is metered.
    public var networkKind: NetworkKind {
        if !connected { return .offline }
        if constrained { return .roaming }
        if expensive { return .metered }
        return .unmetered
    }
}

/// Why the app syncs, which decides how long the sync may take.
public enum SyncTrigger: Equatable, Sendable {
    /// The user is looking (app start, pull to refresh): no deadline.
    case foreground
    /// The OS gave the app a slot: the engine stops at a clean point before it ends.
    case background(deadlineMs: UInt64)

    /// A BGAppRefreshTask gets about 30 seconds.
    public static let appRefresh = SyncTrigger.background(deadlineMs: 25_000)
}

/// The request the app passes to `Engine.sync(account:options:)`.
public func syncOptions(_ status: NetworkStatus, _ trigger: SyncTrigger) -> SyncOptions {
    switch trigger {
    case .foreground:
        return SyncOptions(network: status.networkKind)
    case .background(let deadlineMs):
        return SyncOptions(network: status.networkKind, deadlineMs: deadlineMs)
    }
}
