// The platform's charsets for the library: Anvert carries no tables for the multi-byte
// charsets (Shift_JIS, EUC-JP, ISO-2022-JP, Big5, GBK, gb18030, EUC-KR, and windows-874,
// IBM866, x-mac-cyrillic), and java.nio.charset has every one. Install once, before the first
// sync (AnvertApp.onCreate); the JVM tests install the same object.
package dev.anvert.demo

import dev.anvert.CharsetDecoder
import dev.anvert.setCharsetDecoder
import java.nio.ByteBuffer
import java.nio.charset.Charset
import java.nio.charset.CodingErrorAction

object PlatformCharsets : CharsetDecoder {
    /** WHATWG names Java spells otherwise. */
    private val javaNames = mapOf(
        "x-mac-cyrillic" to "x-MacCyrillic",
        "windows-874" to "x-windows-874",
    )

    override fun decode(charset: String, bytes: ByteArray): String? {
        val decoder = try {
            Charset.forName(javaNames[charset] ?: charset).newDecoder()
        } catch (e: IllegalArgumentException) {
            return null // unknown or unsupported here: the library reads the bytes as UTF-8
        }
        return decoder
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE)
            .decode(ByteBuffer.wrap(bytes))
            .toString()
    }

    fun install() = setCharsetDecoder(this)
}
