// scenePhase and NWPath updates to the engine's lifecycle calls (no server). Mirrors
// android-demo/demo-core/src/test/kotlin/dev/anvert/demo/EngineLifecycleTest.kt.
import Anvert
@testable import AnvertDemoCore
import XCTest

final class EngineLifecycleTests: XCTestCase {
    final class Recorder: LifecycleSink {
        var calls: [String] = []
        func setForeground(foreground: Bool) { calls.append("foreground=\(foreground)") }
        func networkChanged(network: NetworkKind) { calls.append("network=\(network)") }
    }

    let wifi = NetworkStatus(connected: true, expensive: false, constrained: false, networkId: "en0 192.168.1.1")
    let otherWifi = NetworkStatus(connected: true, expensive: false, constrained: false, networkId: "en0 10.0.0.1")
    let cellular = NetworkStatus(connected: true, expensive: true, constrained: false, networkId: "pdp_ip0")

    func testForegroundChangesArePassedOnOnce() {
        let sink = Recorder()
        let lifecycle = EngineLifecycle(engine: sink)
        lifecycle.onForeground(false)
        lifecycle.onForeground(false)
        lifecycle.onForeground(true)
        lifecycle.onForeground(true)
        lifecycle.onForeground(false)
        XCTAssertEqual(sink.calls, ["foreground=false", "foreground=true", "foreground=false"])
    }

    func testOnlyAnotherNetworkOrKindIsANetworkChange() {
        let sink = Recorder()
        let lifecycle = EngineLifecycle(engine: sink)
        lifecycle.onNetwork(wifi)
        lifecycle.onNetwork(wifi)
        XCTAssertEqual(sink.calls, [])
        lifecycle.onNetwork(otherWifi)
        lifecycle.onNetwork(cellular)
        var lowData = cellular
        lowData.constrained = true
        lifecycle.onNetwork(lowData)
        lifecycle.onNetwork(.offline)
        lifecycle.onNetwork(.offline)
        lifecycle.onNetwork(wifi)
        XCTAssertEqual(sink.calls, [
            "network=unmetered", "network=metered", "network=roaming", "network=offline", "network=unmetered",
        ])
    }
}
