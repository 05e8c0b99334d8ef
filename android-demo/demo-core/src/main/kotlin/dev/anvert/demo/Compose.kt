// Composing and forwarding: the compose screen's form (recipients parsed and checked, the
// Draft built), and the outbox as a StateFlow filled from the engine's `OutboxChanged`
// events (never polled), with each entry's per-recipient failures in words. Sending is the
// engine's: `send` queues at once (offline too) and the outbox sends on the next connection;
// "send now" flushes when there is a network.
package dev.anvert.demo

import dev.anvert.Address
import dev.anvert.AnvertException
import dev.anvert.Draft
import dev.anvert.DraftAttachment
import dev.anvert.Engine
import dev.anvert.MailEvent
import dev.anvert.MailListener
import dev.anvert.NetworkKind
import dev.anvert.OutboxItem
import dev.anvert.OutboxState
import dev.anvert.SendReport
import dev.anvert.TaskHandle
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow

/** A file the user attached. */
data class ComposeAttachment(val name: String, val mimeType: String, val bytes: ByteArray) {
    override fun equals(other: Any?): Boolean =
        other is ComposeAttachment && name == other.name && mimeType == other.mimeType && bytes.contentEquals(other.bytes)
    override fun hashCode(): Int = 31 * name.hashCode() + bytes.contentHashCode()
}

/** The compose screen's fields; recipients as typed: `a@b.c, Name <d@e.f>`. */
data class ComposeForm(
    val to: String = "",
    val cc: String = "",
    val bcc: String = "",
    val subject: String = "",
    val text: String = "",
    val attachments: List<ComposeAttachment> = emptyList(),
) {
    /** What to fix before sending; empty when the message can go. */
    fun problems(): List<String> = buildList {
        val all = listOf("To" to to, "Cc" to cc, "Bcc" to bcc)
        for ((field, value) in all) {
            parseRecipients(value).filter { it.email == null }.forEach { add("$field: \"${it.raw}\" is not an address") }
        }
        if (all.all { (_, v) -> parseRecipients(v).none { it.email != null } }) add("add at least one recipient")
        if (subject.isBlank() && text.isBlank() && attachments.isEmpty()) add("the message is empty")
        val total = attachments.sumOf { it.bytes.size.toLong() }
        if (total > MAX_ATTACHMENTS) add("attachments are over ${MAX_ATTACHMENTS / (1 shl 20)} MiB")
    }

    /** The engine's Draft, from `from` (the account's address). Call when `problems()` is empty. */
    fun toDraft(from: Address): Draft {
        require(problems().isEmpty()) { problems().joinToString() }
        return Draft(
            from = from,
            to = addresses(to),
            cc = addresses(cc),
            bcc = addresses(bcc),
            subject = subject.trim(),
            text = text,
            attachments = attachments.map { DraftAttachment(name = it.name, mimeType = it.mimeType, bytes = it.bytes) },
        )
    }

    companion object {
        /** What the demo lets one message carry (servers commonly take 25 MB or so). */
        const val MAX_ATTACHMENTS: Long = 20L shl 20
    }
}

/** One recipient as typed; `email` is null when it is not an address. */
data class Recipient(val raw: String, val name: String?, val email: String?)

/** `a@b.c, Name <d@e.f>; x@y.z`: split on commas and semicolons outside quotes. */
fun parseRecipients(field: String): List<Recipient> {
    val pieces = mutableListOf<String>()
    val current = StringBuilder()
    var quoted = false
    for (c in field) {
        when {
            c == '"' -> { quoted = !quoted; current.append(c) }
            (c == ',' || c == ';') && !quoted -> { pieces += current.toString(); current.clear() }
            else -> current.append(c)
        }
    }
    pieces += current.toString()
    return pieces.map { it.trim() }.filter { it.isNotEmpty() }.map { raw ->
        val open = raw.lastIndexOf('<')
        val (name, email) = if (open >= 0 && raw.endsWith(">")) {
            raw.substring(0, open).trim().trim('"').trim().ifEmpty { null } to raw.substring(open + 1, raw.length - 1).trim()
        } else {
            null to raw
        }
        Recipient(raw, name, email.takeIf { isAddress(it) })
    }
}

private val ADDRESS = Regex("^[^\\s@<>\"]+@[^\\s@<>\"]+\\.?[^\\s@<>\"]*$")

fun isAddress(s: String): Boolean = ADDRESS.matches(s) && !s.endsWith("@") && !s.startsWith("@")

fun addresses(field: String): List<Address> =
    parseRecipients(field).mapNotNull { r -> r.email?.let { Address(name = r.name, email = it) } }

/** One outbox entry as the outbox screen shows it. */
data class OutboxRow(
    val id: Long,
    val subject: String,
    val state: OutboxState,
    /** "Sending…", "Sent", "Waiting (…)", "Failed: …". */
    val status: String,
    /** One line per refused recipient: `address: code text`. */
    val failures: List<String>,
    val canCancel: Boolean,
)

data class OutboxUiState(
    val loaded: Boolean = false,
    val rows: List<OutboxRow> = emptyList(),
    /** The last send or "send now" error, in words. */
    val error: String? = null,
)

fun OutboxItem.toRow(): OutboxRow = OutboxRow(
    id = id,
    subject = subject.ifBlank { "(no subject)" },
    state = state,
    status = when (state) {
        OutboxState.SENT -> if (rejected.isEmpty()) "Sent" else "Sent, ${rejected.size} recipient(s) refused"
        OutboxState.FAILED -> "Failed: ${lastError ?: "refused"}"
        OutboxState.QUEUED -> when {
            parked -> "Not sent: ${lastError ?: "retry later"}"
            lastError != null -> "Waiting to retry ($lastError)"
            else -> "Waiting to send"
        }
        else -> "Sending…"
    },
    failures = rejected.map { "${it.address}: ${it.code} ${it.text}".trim() },
    canCancel = state == OutboxState.QUEUED || state == OutboxState.SENT || state == OutboxState.FAILED,
)

/**
 * The account's outbox and the send actions. The list is re-read from the store on each
 * `OutboxChanged` the account watch delivers (one query per burst).
 */
class Outbox(
    private val engine: Engine,
    val account: Long,
    /** The account's address: the sender of new messages. */
    private val from: Address,
    private val network: StateFlow<NetworkStatus>,
    scope: CoroutineScope,
) : AutoCloseable {
    private val _state = MutableStateFlow(OutboxUiState())
    val state: StateFlow<OutboxUiState> = _state.asStateFlow()

    private val refresh = Refresher(scope) {
        val rows = engine.outbox(account).map { it.toRow() }
        _state.value = _state.value.copy(loaded = true, rows = rows)
    }

    private val watch: TaskHandle = engine.watchAccount(account, object : MailListener {
        override fun onEvent(event: MailEvent) {
            when (event) {
                is MailEvent.FoldersSnapshot -> refresh.request()
                is MailEvent.OutboxChanged -> if (event.account == account) refresh.request()
                else -> Unit
            }
        }
    })

    /** Queues the form's message; then sends now when there is a network. The entry's id. */
    suspend fun send(form: ComposeForm): Long {
        val id = engine.send(account, form.toDraft(from))
        sendNow()
        return id
    }

    /** Forwards a stored message (its attachments taken from the server, not downloaded). */
    suspend fun forward(message: Long, to: String, text: String, includeAttachments: Boolean): Long {
        val recipients = addresses(to)
        require(recipients.isNotEmpty() && parseRecipients(to).all { it.email != null }) { "check the recipients" }
        val id = engine.forward(message, recipients, text, includeAttachments)
        sendNow()
        return id
    }

    /** "Send now" / "Retry": flushes the outbox, unless offline (then the next sync sends). */
    suspend fun sendNow(): SendReport? {
        val kind = network.value.toNetworkKind()
        if (kind == NetworkKind.OFFLINE) return null
        return try {
            engine.flushOutbox(account, kind).also {
                _state.value = _state.value.copy(error = it.errors.firstOrNull()?.error)
            }
        } catch (e: AnvertException) {
            _state.value = _state.value.copy(error = e.userMessage())
            null
        }
    }

    /** Takes a waiting entry out (or dismisses a sent or failed one); false while it is being sent. */
    suspend fun cancel(id: Long): Boolean = engine.cancelSend(id)

    override fun close() {
        watch.cancel()
        watch.close()
        refresh.close()
    }
}
