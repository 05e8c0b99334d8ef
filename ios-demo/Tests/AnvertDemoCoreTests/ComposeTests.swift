// The compose screen's logic (no server). Mirrors
// android-demo/demo-core/src/test/kotlin/dev/anvert/demo/ComposeTest.kt, whose JVM run also
// sends through the real Dovecot.
import Anvert
@testable import AnvertDemoCore
import XCTest

final class ComposeTests: XCTestCase {
    func testRecipientsAreParsedAndChecked() {
        let list = parseRecipients("a@example.org, \"Smith, Bob\" <bob@example.org>; nobody, <c@example.org>")
        XCTAssertEqual(list.map(\.email), ["a@example.org", "bob@example.org", nil, "c@example.org"])
        XCTAssertEqual(list[1].name, "Smith, Bob")
        var form = ComposeForm()
        form.text = "hello"
        XCTAssertEqual(form.problems, ["add at least one recipient"])
        form.to = "a@example.org, nobody"
        XCTAssertEqual(form.problems, ["To: \"nobody\" is not an address"])
    }

    func testTheDraftCarriesEveryField() {
        var form = ComposeForm()
        form.to = "Dave <dave@example.org>"
        form.bcc = "f@example.org"
        form.subject = " Hi "
        let draft = form.draft(from: Address(name: nil, email: "me@example.org"))
        XCTAssertEqual(draft.to, [Address(name: "Dave", email: "dave@example.org")])
        XCTAssertEqual(draft.bcc.map(\.email), ["f@example.org"])
        XCTAssertEqual(draft.subject, "Hi")
    }

    func testOutboxRowsNameEachRefusedRecipient() {
        let item = OutboxItem(
            id: 3, account: 1, createdAt: 0, messageId: "m@x", subject: "", recipients: ["a@x.org", "b@x.org"],
            pending: [], rejected: [RejectedRecipient(address: "b@x.org", code: 550, enhanced: "5.1.1", text: "no such user")],
            state: .sent, size: 10, attempts: 0, nextAttemptAt: 0, lastError: nil, parked: false,
            resends: 0, upBytes: 10, path: "burl", sentAt: 1
        )
        let row = OutboxRow(item)
        XCTAssertEqual(row.subject, "(no subject)")
        XCTAssertEqual(row.status, "Sent, 1 recipient(s) refused")
        XCTAssertEqual(row.failures, ["b@x.org: 550 no such user"])
    }
}
