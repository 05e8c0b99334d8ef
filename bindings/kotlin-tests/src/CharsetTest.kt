// Mail in the charsets the library leaves to the platform (Shift_JIS, EUC-JP, ISO-2022-JP,
// Big5, GBK, gb18030, EUC-KR, windows-874, IBM866, x-mac-cyrillic), read through the
// library as shipped: without a decoder it cannot read them; with the Android demo's
// PlatformCharsets (java.nio.charset) every subject, sender's name, body and file name
// decodes to what the dev server wrote.
package dev.anvert.tests

import dev.anvert.AccountProtocol
import dev.anvert.Engine
import dev.anvert.MessageDetail
import dev.anvert.NetworkKind
import dev.anvert.SyncOptions
import dev.anvert.demo.PlatformCharsets
import dev.anvert.setCharsetDecoder
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue

class CharsetTest {
    data class Truth(
        val messageId: String,
        val charset: String,
        val subject: String,
        val fromName: String,
        val body: String,
        val filename: String,
    )

    private val truths: Map<String, Truth> = DevServer.charsetTruth.readLines()
        .filter { it.isNotBlank() }
        .map { line -> line.split('\t').let { Truth(it[0], it[1], it[2], it[3], it[4], it[5]) } }
        .associateBy { it.messageId }

    /** Adds the charset user's account to [engine], syncs its headers, and returns each
     *  message's detail with the truth it must decode to. */
    private suspend fun inbox(engine: Engine): List<Pair<MessageDetail, Truth>> {
        val account = engine.addAccount(
            setup(AccountProtocol.IMAP).copy(name = "Dora", username = DevServer.charsetUser),
            DevServer.charsetPassword,
        )
        engine.sync(account.id, SyncOptions(network = NetworkKind.METERED, allMessages = true))
        val folder = engine.folders(account.id).first { it.name == "INBOX" }
        val list = engine.messages(folder.id, null, 50u).messages
        assertEquals(truths.size, list.size, "the charset mailbox")
        return list.map { summary ->
            val detail = engine.message(summary.id)
            val id = detail.messageId?.trim('<', '>')
            detail to (truths[id] ?: error("no truth for $id"))
        }
    }

    @Test
    fun multiByteCharsetsAreDecodedByThePlatform() = runBlocking(Dispatchers.IO) {
        // The library carries no tables for these charsets: with no decoder, text in them is
        // read as UTF-8 with U+FFFD (if this fails, encoding_rs is back in the library).
        setCharsetDecoder(null)
        val bare = openEngine(tempDir("charsets-bare"))
        for ((detail, truth) in inbox(bare)) {
            assertNotEquals(truth.subject, detail.summary.subject, "${truth.charset} without a decoder")
        }
        bare.close()

        PlatformCharsets.install()
        try {
            val engine = openEngine(tempDir("charsets"))
            val seen = mutableSetOf<String>()
            for ((detail, truth) in inbox(engine)) {
                val summary = detail.summary
                assertEquals(truth.subject, summary.subject, truth.charset)
                assertEquals(truth.fromName, summary.from.firstOrNull()?.name, truth.charset)
                val attachment = detail.parts.firstOrNull { it.isAttachment }
                assertEquals(truth.filename, attachment?.filename, truth.charset)
                val body = engine.fetchBody(summary.id, NetworkKind.METERED)
                assertEquals(truth.body, body.text?.trim(), truth.charset)
                seen += truth.charset
            }
            assertEquals(truths.values.map { it.charset }.toSet(), seen)
            assertTrue(seen.size >= 10, "charsets: $seen")
            engine.close()
        } finally {
            setCharsetDecoder(null)
        }
    }
}
