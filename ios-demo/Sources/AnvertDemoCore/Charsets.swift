// The platform's charsets for the library: Anvert carries no tables for the multi-byte
// charsets (Shift_JIS, EUC-JP, ISO-2022-JP, Big5, GBK, gb18030, EUC-KR, and windows-874,
// IBM866, x-mac-cyrillic), and Foundation has every one. Install once, before the first sync.
import Anvert
import Foundation

public final class PlatformCharsets: CharsetDecoder {
    public init() {}

    public func decode(charset: String, bytes: Data) throws -> String? {
        let cf = CFStringConvertIANACharSetNameToEncoding(charset as CFString)
        guard cf != kCFStringEncodingInvalidId else { return nil }
        let encoding = String.Encoding(rawValue: CFStringConvertEncodingToNSStringEncoding(cf))
        // Foundation refuses a malformed sequence as a whole (nil): the library then reads
        // the bytes as UTF-8 with U+FFFD.
        return String(data: bytes, encoding: encoding)
    }

    public static func install() { setCharsetDecoder(decoder: PlatformCharsets()) }
}
