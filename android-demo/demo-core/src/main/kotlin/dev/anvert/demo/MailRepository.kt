// The app's state for one account, as StateFlows the UI collects. Every list is filled from
// the engine's listener: a watch starts with a snapshot, and each later event names a change
// already committed to the store, so the list is re-queried from the store then (never
// polled, never computed here).
package dev.anvert.demo

import dev.anvert.AnvertException
import dev.anvert.Body
import dev.anvert.Engine
import dev.anvert.Flag
import dev.anvert.Folder
import dev.anvert.FolderRole
import dev.anvert.MailEvent
import dev.anvert.MailListener
import dev.anvert.MessageDetail
import dev.anvert.MessageSummary
import dev.anvert.NetworkKind
import dev.anvert.SyncReport
import dev.anvert.TaskHandle
import dev.anvert.UsageRow
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

data class FoldersUiState(
    val loaded: Boolean = false,
    /** INBOX first, then the other roles, then by name; each with its unread count. */
    val folders: List<Folder> = emptyList(),
    val error: String? = null,
)

data class MessageListUiState(
    /** The watch's snapshot has arrived. */
    val loaded: Boolean = false,
    /** Newest first, at most the list's limit. */
    val messages: List<MessageSummary> = emptyList(),
    /** Re-queries made because the engine reported committed changes. */
    val updates: Int = 0,
    /** Headers-first progress of the folder's current sync, when one runs. */
    val progress: Pair<Int, Int>? = null,
    val error: String? = null,
)

sealed interface SyncUiState {
    data object Idle : SyncUiState
    data object Running : SyncUiState
    data class Finished(val report: SyncReport) : SyncUiState
    data class Failed(val message: String, val needsPassword: Boolean) : SyncUiState
}

data class UsageUiState(
    /** Network kind ("unmetered", "metered", "roaming") to its rows by purpose. */
    val byNetwork: Map<String, List<UsageRow>> = emptyMap(),
) {
    val totalBytes: Long get() = byNetwork.values.flatten().sumOf { (it.bytesUp + it.bytesDown).toLong() }
}

data class OpenedMessage(val detail: MessageDetail, val body: Body)

/** Words for the user; `Auth` is the one that sends them back to the account screen. */
fun Throwable.userMessage(): String = when (this) {
    is AnvertException.Auth -> "The server rejected the user name or password."
    is AnvertException.Network -> "No connection to the server (${reason})."
    is AnvertException.Tls -> "The server's certificate is not trusted (${reason})."
    is AnvertException.Server -> "The server said: ${text}"
    is AnvertException.Storage -> "Storage problem: ${reason}"
    is AnvertException.Cancelled -> "Cancelled."
    is AnvertException.MessageTooLarge -> "The message is too large for the server (${size} bytes; it takes ${limit})."
    is AnvertException.SmtpRejected -> "The mail server refused it: ${code} ${text}"
    is AnvertException.NotFound -> "It is no longer there."
    is AnvertException -> message ?: toString()
    else -> message ?: toString()
}

/**
 * One account's state. `network` is the platform's current status (ConnectivityManager,
 * NWPathMonitor); every engine call that may touch the network passes its kind.
 */
class MailRepository(
    private val engine: Engine,
    val account: Long,
    private val network: StateFlow<NetworkStatus>,
    private val downloadDir: String,
    private val scope: CoroutineScope,
) : AutoCloseable {
    private val _folders = MutableStateFlow(FoldersUiState())
    val folders: StateFlow<FoldersUiState> = _folders.asStateFlow()

    private val _sync = MutableStateFlow<SyncUiState>(SyncUiState.Idle)
    val sync: StateFlow<SyncUiState> = _sync.asStateFlow()

    private val _usage = MutableStateFlow(UsageUiState())
    val usage: StateFlow<UsageUiState> = _usage.asStateFlow()

    private val networkKind: NetworkKind get() = network.value.toNetworkKind()

    /** Folder changes (and unread counts, which change with messages) re-query the list. */
    private val folderRefresh = Refresher(scope) {
        val list = sorted(engine.folders(account))
        _folders.update { it.copy(loaded = true, folders = list, error = null) }
    }
    private val accountWatch: TaskHandle = engine.watchAccount(account, object : MailListener {
        override fun onEvent(event: MailEvent) {
            when (event) {
                is MailEvent.FoldersSnapshot ->
                    _folders.update { it.copy(loaded = true, folders = sorted(event.folders)) }
                is MailEvent.FoldersChanged, is MailEvent.MessagesAdded, is MailEvent.MessagesChanged,
                is MailEvent.MessagesRemoved, is MailEvent.MessagesIncomplete, is MailEvent.FolderReset ->
                    folderRefresh.request()
                else -> Unit
            }
        }
    })

    /** One sync pass with the current network kind; `trigger` sets the deadline. */
    suspend fun sync(trigger: SyncTrigger = SyncTrigger.Foreground): SyncReport? {
        _sync.value = SyncUiState.Running
        return try {
            engine.sync(account, syncOptions(network.value, trigger)).also {
                _sync.value = SyncUiState.Finished(it)
                refreshUsage()
            }
        } catch (e: AnvertException) {
            _sync.value = SyncUiState.Failed(e.userMessage(), needsPassword = e is AnvertException.Auth)
            null
        }
    }

    /** The message list of `folder`, headers first: the newest `limit` messages. */
    fun messageList(folder: Long, limit: Int = 50): MessageList = MessageList(engine, folder, limit, scope)

    /** The message with its parts and readable body (fetched on open if not cached), marked read. */
    suspend fun open(message: Long): OpenedMessage {
        val body = engine.fetchBody(message, networkKind)
        val detail = engine.message(message)
        if (!detail.summary.flags.seen) {
            engine.setFlags(listOf(message), listOf(Flag.Seen), emptyList())
        }
        return OpenedMessage(detail, body)
    }

    /** A download of one part into the app's download directory; `start()` it. */
    fun download(message: Long, section: String): PartDownload =
        PartDownload(engine, message, section, downloadDir) { networkKind }

    /** Push (IDLE) on `folder` for as long as the app is in the foreground. */
    fun push(folder: String = "INBOX"): Push = Push(engine, account, folder) { networkKind }

    /** The account's outbox and send actions; new messages go out from the account's user
     *  name (an address). Close it with the screen. */
    suspend fun outbox(): Outbox {
        val username = engine.accounts().first { it.id == account }.username
        return Outbox(engine, account, dev.anvert.Address(name = null, email = username), network, scope)
    }

    suspend fun refreshUsage() {
        val rows = engine.usage(account)
        _usage.value = UsageUiState(rows.groupBy { it.networkKind }.toSortedMap())
    }

    override fun close() {
        accountWatch.cancel()
        accountWatch.close()
        folderRefresh.close()
    }

    private fun sorted(list: List<Folder>): List<Folder> =
        list.filter { it.selectable }.sortedWith(
            compareBy<Folder>({ if (it.role == FolderRole.INBOX || it.name.equals("INBOX", true)) 0 else if (it.role != null) 1 else 2 }, { it.name }),
        )
}

/**
 * A folder's message list. The watch delivers the snapshot (the first state), then each
 * committed change, on which the page is re-queried from the store.
 */
class MessageList internal constructor(
    private val engine: Engine,
    val folder: Long,
    limit: Int,
    scope: CoroutineScope,
) : AutoCloseable {
    private val _state = MutableStateFlow(MessageListUiState())
    val state: StateFlow<MessageListUiState> = _state.asStateFlow()

    @Volatile
    private var limit: Int = limit

    private val refresh = Refresher(scope) {
        val page = engine.messages(folder, null, this.limit.toUInt())
        _state.update { it.copy(loaded = true, messages = page.messages, updates = it.updates + 1, error = null) }
    }

    private val watch: TaskHandle = engine.watchFolder(folder, limit.toUInt(), object : MailListener {
        override fun onEvent(event: MailEvent) {
            when (event) {
                is MailEvent.MessagesSnapshot -> _state.update { it.copy(loaded = true, messages = event.messages) }
                is MailEvent.MessagesAdded, is MailEvent.MessagesChanged, is MailEvent.MessagesRemoved,
                is MailEvent.MessagesIncomplete, is MailEvent.FolderReset -> refresh.request()
                is MailEvent.SyncProgress -> _state.update {
                    it.copy(progress = if (event.synced < event.total) event.synced.toInt() to event.total.toInt() else null)
                }
                is MailEvent.PushStopped -> if (event.error != null) _state.update { it.copy(error = event.error) }
                else -> Unit
            }
        }
    })

    /** Show `more` older messages (a sync fetches older headers when the user pages back). */
    fun showMore(more: Int = 50) {
        limit += more
        refresh.request()
    }

    override fun close() {
        watch.cancel()
        watch.close()
        refresh.close()
    }
}

/**
 * Runs `query` after each `request()`; requests that arrive while it runs are merged into
 * one more run (a burst of events costs one or two queries, and the last one always sees
 * the last committed change).
 */
internal class Refresher(scope: CoroutineScope, private val query: suspend () -> Unit) : AutoCloseable {
    private val requests = Channel<Unit>(Channel.CONFLATED)
    private val job: Job = scope.launch {
        for (ignored in requests) {
            try {
                query()
            } catch (e: AnvertException) {
                // The store is local: a failure here is rare; the next event retries.
            }
        }
    }

    fun request() {
        requests.trySend(Unit)
    }

    override fun close() {
        requests.close()
        job.cancel()
    }
}
