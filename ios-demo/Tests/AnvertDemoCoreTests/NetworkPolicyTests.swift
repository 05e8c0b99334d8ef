// NWPath facts to the engine's network kind and sync request (no server). Mirrors
// android-demo/demo-core/src/test/kotlin/dev/anvert/demo/NetworkPolicyTest.kt.
import Anvert
@testable import AnvertDemoCore
import XCTest

final class NetworkPolicyTests: XCTestCase {
    let wifi = NetworkStatus(connected: true, expensive: false, constrained: false)
    let cellular = NetworkStatus(connected: true, expensive: true, constrained: false)
    let lowData = NetworkStatus(connected: true, expensive: true, constrained: true)

    func testExpensivePathGivesTheMeteredSyncRequest() {
        XCTAssertEqual(cellular.networkKind, .metered)
        XCTAssertEqual(syncOptions(cellular, .foreground), SyncOptions(network: .metered))
    }

    func testLowDataModeIsTheRoamingPolicy() {
        XCTAssertEqual(lowData.networkKind, .roaming)
        XCTAssertEqual(NetworkStatus(connected: true, expensive: false, constrained: true).networkKind, .roaming)
    }

    func testNoConnectionIsOffline() {
        XCTAssertEqual(NetworkStatus.offline.networkKind, .offline)
        XCTAssertEqual(NetworkStatus(connected: false, expensive: true, constrained: true).networkKind, .offline)
        XCTAssertEqual(syncOptions(.offline, .appRefresh).network, .offline)
    }

    func testUnconstrainedWifiIsUnmetered() {
        XCTAssertEqual(wifi.networkKind, .unmetered)
    }

    func testAppRefreshCarriesTheDeadline() {
        XCTAssertNil(syncOptions(wifi, .foreground).deadlineMs)
        XCTAssertEqual(syncOptions(cellular, .appRefresh), SyncOptions(network: .metered, deadlineMs: 25_000))
    }

    func testAccountFormChecksAndConverts() {
        XCTAssertEqual(AccountForm().problems.count, 3) // server, user, password (an empty port is the standard one)
        var form = AccountForm()
        form.accountProtocol = .imap
        form.host = " mail.example.org "
        form.port = "993"
        form.username = "me@example.org"
        form.password = "pw"
        XCTAssertEqual(form.problems, [])
        XCTAssertEqual(form.setup.host, "mail.example.org")
        XCTAssertEqual(form.setup.port, 993)
        XCTAssertEqual(form.setup.name, "me@example.org")
        form.port = "99999"
        XCTAssertEqual(form.problems, ["port must be 1 to 65535"])
        form.port = ""
        XCTAssertNil(form.setup.port)
    }
}
