// The app's life as the engine should hear it: foreground or background (scenePhase), and real
// network changes (NWPathMonitor). No UIKit or Network types, so it is tested with the package.
// Mirrors android-demo/demo-core/src/main/kotlin/dev/anvert/demo/EngineLifecycle.kt.
import Anvert
import Foundation

/// The two engine calls the lifecycle drives (an `Engine`, or a recorder in tests).
public protocol LifecycleSink: AnyObject {
    func setForeground(foreground: Bool)
    func networkChanged(network: NetworkKind)
}

extension Engine: LifecycleSink {}

/// Passes foreground/background on when it changes (the first state always). Tells the engine
/// about a network change when the device moved to another network (another interface or
/// gateway: another Wi-Fi, Wi-Fi to cellular, lost, back) or the kind changed; the first path
/// seen is not a change (the engine connects on it anyway), nor is an update of the same path
/// that keeps its kind: warm connections survive those. Both engine calls return at once.
public final class EngineLifecycle: @unchecked Sendable {
    private let engine: LifecycleSink
    private let lock = NSLock()
    private var foreground: Bool?
    private var network: NetworkStatus?

    public init(engine: LifecycleSink) {
        self.engine = engine
    }

    public func onForeground(_ foreground: Bool) {
        lock.withLock {
            guard self.foreground != foreground else { return }
            self.foreground = foreground
            engine.setForeground(foreground: foreground)
        }
    }

    public func onNetwork(_ status: NetworkStatus) {
        lock.withLock {
            let previous = network
            network = status
            guard let previous else { return }
            if previous.networkId != status.networkId || previous.networkKind != status.networkKind {
                engine.networkChanged(network: status.networkKind)
            }
        }
    }
}
