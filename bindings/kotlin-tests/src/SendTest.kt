// Sending from Kotlin (issue 18, item 6) against the private Dovecot's submission service,
// which relays to the dev server's SMTP receiver (its spool: DevServer.spool): a message
// with an attachment sent and filed in Sent, a forward whose attachments reach the receiver
// byte for byte, OutboxChanged events, and cancelling a queued entry. What each path costs on
// the wire is asserted in Rust (tests/tests); here the glue and the outcome.
package dev.anvert.tests

import dev.anvert.AccountProtocol
import dev.anvert.AccountSetup
import dev.anvert.Address
import dev.anvert.AnvertException
import dev.anvert.Draft
import dev.anvert.DraftAttachment
import dev.anvert.Engine
import dev.anvert.FolderRole
import dev.anvert.MailEvent
import dev.anvert.NetworkKind
import dev.anvert.OutboxState
import dev.anvert.Security
import dev.anvert.SubmissionServer
import dev.anvert.SyncOptions
import java.io.File
import java.security.MessageDigest
import java.util.Base64
import kotlin.random.Random
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Test

/** One message the dev server's receiver got. */
class Delivered(val recipients: List<String>, val eml: ByteArray) {
    val text: String get() = String(eml, Charsets.ISO_8859_1)
}

/** The receiver's spool: waits (bounded) until a message with `messageId` arrived. */
suspend fun delivered(messageId: String): Delivered = withTimeout(30_000) {
    var found: Delivered? = null
    while (found == null) {
        found = DevServer.spool.listFiles().orEmpty().filter { it.name.endsWith(".eml") }
            .map { eml -> Delivered(File(eml.path.removeSuffix(".eml") + ".rcpt").readLines().filter { it.isNotBlank() }, eml.readBytes()) }
            .firstOrNull { it.text.contains("Message-ID: <$messageId>", ignoreCase = true) }
        if (found == null) delay(100)
    }
    requireNotNull(found)
}

/** The decoded bodies of every base64 part of a MIME message. */
fun base64Parts(eml: ByteArray): List<ByteArray> {
    val lines = String(eml, Charsets.ISO_8859_1).split("\r\n", "\n")
    val out = mutableListOf<ByteArray>()
    var i = 0
    while (i < lines.size) {
        if (!lines[i].startsWith("--")) { i++; continue }
        var j = i + 1
        var base64 = false
        while (j < lines.size && lines[j].isNotEmpty()) {
            if (lines[j].lowercase().replace(" ", "") == "content-transfer-encoding:base64") base64 = true
            j++
        }
        if (!base64) { i = j; continue }
        val body = StringBuilder()
        var k = j + 1
        while (k < lines.size && !lines[k].startsWith("--")) body.append(lines[k++])
        out += Base64.getMimeDecoder().decode(body.toString())
        i = k
    }
    return out
}

fun sha256(bytes: ByteArray): String =
    MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

fun senderSetup(): AccountSetup = AccountSetup(
    name = "Carol", protocol = AccountProtocol.IMAP, host = DevServer.host,
    port = DevServer.imapsPort.toUShort(), security = Security.TLS, username = DevServer.sender,
)

fun submissionServer(): SubmissionServer =
    SubmissionServer(host = DevServer.host, port = DevServer.submissionsPort.toUShort(), security = Security.TLS)

class SendTest {
    private suspend fun senderEngine(name: String): Pair<Engine, Long> {
        val engine = openEngine(tempDir(name))
        val account = engine.addAccount(senderSetup(), DevServer.senderPassword)
        // The folder list (Sent) is known after a first sync.
        engine.sync(account.id, SyncOptions(network = NetworkKind.UNMETERED))
        return engine to account.id
    }

    @Test
    fun sendsAMessageWithAnAttachmentAndFilesItInSent() = runBlocking(Dispatchers.IO) {
        val (engine, account) = senderEngine("send")
        assertEquals(null, engine.submission(account))
        engine.setSubmission(account, submissionServer())
        assertEquals(submissionServer(), engine.submission(account))
        val events = Events()
        val watch = engine.watchAccount(account, events)

        val bytes = Random(18).nextBytes(300_000)
        val subject = "kt-send-${System.nanoTime()}"
        val id = engine.send(
            account,
            Draft(
                from = Address(name = "Carol", email = DevServer.sender),
                to = listOf(Address(name = "Dave", email = "dave@example.org")),
                bcc = listOf(Address(name = null, email = "hidden@example.org")),
                subject = subject,
                text = "Hello from Kotlin",
                attachments = listOf(DraftAttachment(name = "data.bin", mimeType = "application/octet-stream", bytes = bytes)),
            ),
        )
        val queued = engine.outbox(account).single { it.id == id }
        assertEquals(OutboxState.QUEUED, queued.state)
        assertEquals(listOf("dave@example.org", "hidden@example.org"), queued.recipients)

        val report = engine.flushOutbox(account, NetworkKind.UNMETERED)
        assertEquals(1u, report.sent, "${report.errors}")
        assertEquals(0u, report.failed)
        val sent = engine.outbox(account).single { it.id == id }
        assertEquals(OutboxState.SENT, sent.state)
        assertTrue(sent.rejected.isEmpty())
        assertNotNull(sent.sentAt)
        // BURL: the Sent copy is the only upload of the message (1.05x at most), where a plain
        // SMTP + APPEND uploads it twice.
        assertEquals("burl", sent.path)
        assertTrue(sent.upBytes <= sent.size * 105u / 100u, "up ${sent.upBytes} for ${sent.size}")

        // The receiver got it, for both recipients, with the attachment byte for byte and
        // without the Bcc recipient in it.
        val got = delivered(sent.messageId)
        assertEquals(setOf("dave@example.org", "hidden@example.org"), got.recipients.toSet())
        assertFalse(got.text.contains("hidden@example.org"), "a Bcc recipient appears in the message")
        assertTrue(base64Parts(got.eml).any { it.contentEquals(bytes) }, "the attachment did not arrive whole")

        // Sent has it after a sync; the submission's bytes are in the ledger under `send`.
        engine.sync(account, SyncOptions(network = NetworkKind.UNMETERED))
        val sentFolder = engine.folders(account).first { it.role == FolderRole.SENT }
        assertTrue(engine.messages(sentFolder.id, null, 100u).messages.any { it.subject == subject })
        assertTrue(engine.usage(account).any { it.purpose == "send" && it.bytesUp > 0u })

        // The account watch heard the entry change (queued, then each step to sent).
        waitFor("the entry's OutboxChanged") {
            events.all.any { it is MailEvent.OutboxChanged && it.item == id && it.account == account }
        }
        watch.cancel()
        engine.close()
    }

    @Test
    fun forwardsAMessageWithItsAttachmentsUntouchedHere() = runBlocking(Dispatchers.IO) {
        val (engine, account) = senderEngine("forward")
        engine.setSubmission(account, submissionServer())
        val truth = DevServer.senderTruth.readLines().filter { it.isNotBlank() }.map { it.split('\t') }
        val inbox = engine.folders(account).first { it.role == FolderRole.INBOX }
        // A message with a base64 attachment (what the check below decodes).
        val original = engine.messages(inbox.id, null, 50u).messages
            .map { engine.message(it.id) }
            .first { m -> m.parts.any { it.isAttachment && it.encoding.equals("base64", ignoreCase = true) } }
        val originalId = assertNotNull(original.messageId).trim('<', '>')
        // What the original's base64 attachments decode to (the dev server's truth file).
        val expected = original.parts
            .filter { it.isAttachment && it.encoding.equals("base64", ignoreCase = true) }
            .map { part -> truth.single { it[0].trim('<', '>') == originalId && it[1] == part.section }[3] }

        val id = engine.forward(original.summary.id, listOf(Address(name = null, email = "erin@example.org")), "Have a look", true)
        val report = engine.flushOutbox(account, NetworkKind.UNMETERED)
        assertEquals(1u, report.sent, "${report.errors}")
        val item = engine.outbox(account).single { it.id == id }
        assertEquals(OutboxState.SENT, item.state)
        // Assembled on the server (CATENATE + BURL): the uplink carries our text, not the
        // attachments.
        val attachmentBytes = original.parts.filter { it.isAttachment }.sumOf { it.size.toLong() }
        assertTrue(item.upBytes.toLong() < 8_192 + 2_000, "up ${item.upBytes} for $attachmentBytes B of attachments")

        val got = delivered(item.messageId)
        assertEquals(listOf("erin@example.org"), got.recipients)
        assertTrue(got.text.contains("Have a look") || base64Parts(got.eml).any { String(it).contains("Have a look") })
        val arrived = base64Parts(got.eml).map { sha256(it) }.toSet()
        assertTrue(expected.isNotEmpty())
        assertTrue(arrived.containsAll(expected), "attachments $expected, arrived $arrived")
        // Sent holds the forward after a sync.
        engine.sync(account, SyncOptions(network = NetworkKind.UNMETERED))
        val sentFolder = engine.folders(account).first { it.role == FolderRole.SENT }
        assertTrue(engine.messages(sentFolder.id, null, 100u).messages.any { it.subject.startsWith("Fwd:") })
        engine.close()
    }

    @Test
    fun cancelsAQueuedMessageAndRefusesBadOnes() = runBlocking(Dispatchers.IO) {
        val engine = openEngine(tempDir("cancel"))
        val account = engine.addAccount(senderSetup(), DevServer.senderPassword).id
        val draft = Draft(
            from = Address(name = null, email = DevServer.sender),
            to = listOf(Address(name = null, email = "frank@example.org")),
            subject = "never sent", text = "cancelled before it left",
        )
        // No submission server yet: it is queued all the same (offline works too).
        val id = engine.send(account, draft)
        assertEquals(OutboxState.QUEUED, engine.outbox(account).single { it.id == id }.state)
        assertTrue(engine.cancelSend(id))
        assertTrue(engine.outbox(account).none { it.id == id })
        engine.setSubmission(account, SubmissionServer(DevServer.host, DevServer.submissionPort.toUShort(), Security.START_TLS))
        assertEquals(Security.START_TLS, engine.submission(account)?.security)
        val report = engine.flushOutbox(account, NetworkKind.UNMETERED)
        assertEquals(0u, report.sent)
        // Bad input is refused before anything is queued; offline flushing is refused too.
        assertFailsWith<AnvertException.Other> { engine.send(account, draft.copy(to = emptyList())) }
        assertFailsWith<AnvertException.Other> { engine.send(account, draft.copy(to = listOf(Address(null, "not an address")))) }
        assertFailsWith<AnvertException> { engine.flushOutbox(account, NetworkKind.OFFLINE) }
        assertTrue(engine.outbox(account).isEmpty())
        engine.setSubmission(account, null)
        assertEquals(null, engine.submission(account))
        engine.close()
    }
}
