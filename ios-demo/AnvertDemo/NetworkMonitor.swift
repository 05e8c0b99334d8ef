import AnvertDemoCore
import Foundation
import Network

/// The current path's facts from NWPathMonitor; AnvertDemoCore maps them to a NetworkKind.
final class NetworkMonitor: @unchecked Sendable {
    private let monitor = NWPathMonitor()
    private let lock = NSLock()
    private var current = NetworkStatus.offline
    private var handler: ((NetworkStatus) -> Void)?

    init() {
        monitor.pathUpdateHandler = { [weak self] path in
            let status = NetworkStatus(
                connected: path.status == .satisfied,
                expensive: path.isExpensive,
                constrained: path.isConstrained
            )
            guard let self else { return }
            let (changed, handler) = self.lock.withLock { () -> (Bool, ((NetworkStatus) -> Void)?) in
                let changed = self.current.networkKind != status.networkKind
                self.current = status
                return (changed, self.handler)
            }
            if changed { handler?(status) }
        }
        monitor.start(queue: DispatchQueue(label: "dev.anvert.demo.network"))
    }

    var status: NetworkStatus { lock.withLock { current } }

    /// Called (on the monitor's queue) when the network kind changes.
    var onChange: ((NetworkStatus) -> Void)? {
        get { lock.withLock { handler } }
        set { lock.withLock { handler = newValue } }
    }
}
