import AnvertDemoCore
import Foundation
import Network

/// The current path's facts from NWPathMonitor; AnvertDemoCore maps them to a NetworkKind and
/// tells the engine when the network really changed (EngineLifecycle).
final class NetworkMonitor: @unchecked Sendable {
    private let monitor = NWPathMonitor()
    private let lock = NSLock()
    private var current = NetworkStatus.offline
    private var handler: ((NetworkStatus) -> Void)?
    private var updateHandler: ((NetworkStatus) -> Void)?
    /// Serial: path updates and the first status of `onUpdate` arrive in order.
    private let queue = DispatchQueue(label: "dev.anvert.demo.network")

    init() {
        monitor.pathUpdateHandler = { [weak self] path in
            // Another interface (Wi-Fi, cellular) or another gateway (another Wi-Fi) is
            // another network.
            let satisfied = path.status == .satisfied
            let id = satisfied
                ? ([path.availableInterfaces.first?.name ?? "?"] + path.gateways.map { "\($0)" }).joined(separator: " ")
                : nil
            let status = NetworkStatus(
                connected: satisfied,
                expensive: path.isExpensive,
                constrained: path.isConstrained,
                networkId: id
            )
            guard let self else { return }
            let (changed, handler, update) = self.lock.withLock {
                () -> (Bool, ((NetworkStatus) -> Void)?, ((NetworkStatus) -> Void)?) in
                let changed = self.current.networkKind != status.networkKind
                self.current = status
                return (changed, self.handler, self.updateHandler)
            }
            update?(status)
            if changed { handler?(status) }
        }
        monitor.start(queue: queue)
    }

    var status: NetworkStatus { lock.withLock { current } }

    /// Called (on the monitor's queue) when the network kind changes.
    var onChange: ((NetworkStatus) -> Void)? {
        get { lock.withLock { handler } }
        set { lock.withLock { handler = newValue } }
    }

    /// Called (on the monitor's queue) with the current status, then on every path update.
    var onUpdate: ((NetworkStatus) -> Void)? {
        get { lock.withLock { updateHandler } }
        set {
            lock.withLock { updateHandler = newValue }
            guard let newValue else { return }
            queue.async { [weak self] in
                guard let self else { return }
                newValue(self.status)
            }
        }
    }
}
