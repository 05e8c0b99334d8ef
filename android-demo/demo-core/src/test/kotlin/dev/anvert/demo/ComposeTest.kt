// The compose screen's logic: recipients parsed and checked, the Draft built, outbox rows
// with per-recipient failures in words; and against the real Dovecot (scripts/kotlin-test.sh)
// a message queued offline, shown waiting, then sent when the network is back, the outbox
// following the engine's OutboxChanged events.
package dev.anvert.demo

import dev.anvert.Address
import dev.anvert.NetworkKind
import dev.anvert.OutboxItem
import dev.anvert.OutboxState
import dev.anvert.RejectedRecipient
import dev.anvert.SyncOptions
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Test

class ComposeTest {
    @Test
    fun recipientsAreParsedAndChecked() {
        val list = parseRecipients("a@example.org, \"Smith, Bob\" <bob@example.org>; nobody, <c@example.org>")
        assertEquals(listOf("a@example.org", "bob@example.org", null, "c@example.org"), list.map { it.email })
        assertEquals("Smith, Bob", list[1].name)
        assertEquals(listOf("To: \"nobody\" is not an address"), ComposeForm(to = "a@example.org, nobody", text = "x").problems())
        assertEquals(listOf("add at least one recipient"), ComposeForm(text = "hello").problems())
        assertEquals(listOf("the message is empty"), ComposeForm(to = "a@example.org").problems())
        val big = ComposeAttachment("big.bin", "application/octet-stream", ByteArray((ComposeForm.MAX_ATTACHMENTS + 1).toInt()))
        assertEquals(1, ComposeForm(to = "a@example.org", attachments = listOf(big)).problems().size)
        // Bcc alone is enough.
        assertTrue(ComposeForm(bcc = "a@example.org", subject = "s").problems().isEmpty())
    }

    @Test
    fun theDraftCarriesEveryField() {
        val att = ComposeAttachment("a.txt", "text/plain", "hi".toByteArray())
        val form = ComposeForm(to = "Dave <dave@example.org>", cc = "e@example.org", bcc = "f@example.org", subject = " Hi ", text = "body", attachments = listOf(att))
        val draft = form.toDraft(Address(name = null, email = "me@example.org"))
        assertEquals(listOf(Address("Dave", "dave@example.org")), draft.to)
        assertEquals(listOf("e@example.org"), draft.cc.map { it.email })
        assertEquals(listOf("f@example.org"), draft.bcc.map { it.email })
        assertEquals("Hi", draft.subject)
        assertEquals(listOf("a.txt"), draft.attachments.map { it.name })
        assertFailsWith<IllegalArgumentException> { ComposeForm(to = "x").toDraft(Address(null, "me@example.org")) }
    }

    @Test
    fun outboxRowsNameEachRefusedRecipient() {
        val item = OutboxItem(
            id = 3, account = 1, createdAt = 0, messageId = "m@x", subject = "", recipients = listOf("a@x.org", "b@x.org"),
            pending = emptyList(), rejected = listOf(RejectedRecipient("b@x.org", 550u.toUShort(), "5.1.1", "no such user")),
            state = OutboxState.SENT, size = 10u, attempts = 0u, nextAttemptAt = 0, lastError = null, parked = false,
            resends = 0u, upBytes = 10u, path = "burl", sentAt = 1,
        )
        val row = item.toRow()
        assertEquals("(no subject)", row.subject)
        assertEquals("Sent, 1 recipient(s) refused", row.status)
        assertEquals(listOf("b@x.org: 550 no such user"), row.failures)
        val failed = item.copy(state = OutboxState.FAILED, lastError = "the SMTP server refused end of DATA: 552 too big").toRow()
        assertTrue(failed.status.startsWith("Failed: "))
        assertEquals("Waiting to retry (421 busy)", item.copy(state = OutboxState.QUEUED, lastError = "421 busy").toRow().status)
        assertEquals(false, item.copy(state = OutboxState.SUBMITTING).toRow().canCancel)
    }

    @Test
    fun aMessageQueuedOfflineIsSentWhenTheNetworkComesBack() = runBlocking(Dispatchers.IO) {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
        val engine = TestServer.openEngine()
        try {
            val account = Accounts(engine, MemoryPasswords()).add(TestServer.senderForm())
            engine.sync(account.id, SyncOptions(network = NetworkKind.UNMETERED))
            engine.setSubmission(account.id, TestServer.submission())
            val network = MutableStateFlow(NetworkStatus.Offline)
            val outbox = Outbox(engine, account.id, Address(null, account.username), network, scope)
            val form = ComposeForm(to = "Grace <grace@example.org>", subject = "demo ${System.nanoTime()}", text = "from the demo")
            val id = outbox.send(form)
            // Offline: queued, shown waiting, nothing sent.
            val waiting = withTimeout(10_000) { outbox.state.first { s -> s.rows.any { it.id == id } } }
            assertEquals("Waiting to send", waiting.rows.single { it.id == id }.status)
            assertNull(outbox.sendNow())
            // Back online: "send now"; the row follows the engine's events to Sent.
            network.value = NetworkStatus(connected = true, metered = false, roaming = false)
            val report = outbox.sendNow()
            assertEquals(1u, report?.sent, "${report?.errors}")
            val sent = withTimeout(10_000) { outbox.state.first { s -> s.rows.any { it.id == id && it.state == OutboxState.SENT } } }
            assertEquals("Sent", sent.rows.single { it.id == id }.status)
            assertTrue(outbox.cancel(id), "a sent entry can be dismissed")
            withTimeout(10_000) { outbox.state.first { s -> s.rows.none { it.id == id } } }
            outbox.close()
        } finally {
            scope.cancel()
            engine.close()
        }
    }
}
