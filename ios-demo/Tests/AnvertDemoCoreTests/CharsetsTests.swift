// Foundation decodes what the library hands over by WHATWG name (no server). The library
// side, a whole mailbox in ten charsets, is the Kotlin CharsetTest's.
import Anvert
@testable import AnvertDemoCore
import XCTest

final class CharsetsTests: XCTestCase {
    let decoder = PlatformCharsets()

    func testMultiByteCharsetsByTheirWhatwgNames() throws {
        // "你好" in GBK and Big5, "こんにちは" in Shift_JIS, "안녕" in EUC-KR.
        XCTAssertEqual(try decoder.decode(charset: "GBK", bytes: Data([0xC4, 0xE3, 0xBA, 0xC3])), "你好")
        XCTAssertEqual(try decoder.decode(charset: "Big5", bytes: Data([0xA7, 0x41, 0xA6, 0x6E])), "你好")
        XCTAssertEqual(
            try decoder.decode(charset: "Shift_JIS", bytes: Data([0x82, 0xB1, 0x82, 0xF1, 0x82, 0xC9, 0x82, 0xBF, 0x82, 0xCD])),
            "こんにちは")
        XCTAssertEqual(try decoder.decode(charset: "EUC-KR", bytes: Data([0xBE, 0xC8, 0xB3, 0xE7])), "안녕")
    }

    func testAnUnknownCharsetIsDeclined() throws {
        XCTAssertNil(try decoder.decode(charset: "x-no-such-charset", bytes: Data([0x41])))
    }
}
