// demo-core's state holders against the real Dovecot (scripts/kotlin-test.sh): the message
// list fills headers-first from the engine's listener, folders carry unread counts, a
// download reports progress, completes, cancels and resumes, and usage is by network kind.
package dev.anvert.demo

import dev.anvert.DownloadState
import dev.anvert.Engine
import dev.anvert.MessageSummary
import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Test

class MailRepositoryTest {
    private val cellular = MutableStateFlow(NetworkStatus(connected = true, metered = true, roaming = false))
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val engine: Engine = TestServer.openEngine()

    @After
    fun tearDown() {
        scope.cancel()
        engine.close()
    }

    private suspend fun repository(): MailRepository {
        val account = Accounts(engine, MemoryPasswords()).add(TestServer.form())
        return MailRepository(engine, account.id, cellular, tempDir("downloads").path, scope)
    }

    @Test
    fun messageListFillsHeadersFirst() = runBlocking(Dispatchers.IO) {
        val repo = repository()
        // A first pass with a one-byte budget lists the folders and stops before any window of
        // headers: INBOX exists and is empty, so its list opens before its headers come (in the
        // app the user opens it whenever; here the order is made certain).
        engine.sync(repo.account, syncOptions(cellular.value, SyncTrigger.Foreground).copy(byteBudget = 1uL))
        val inbox = withTimeout(10_000) { repo.folders.first { s -> s.folders.any { it.name == "INBOX" } } }
            .folders.first { it.name == "INBOX" }
        assertEquals(0u, inbox.total, "the budget stopped before any header: $inbox")

        val list = repo.messageList(inbox.id, limit = 50)
        val snapshot = withTimeout(10_000) { list.state.first { it.loaded } }
        assertTrue(snapshot.messages.isEmpty(), "the snapshot came before the headers: ${snapshot.messages.size}")
        assertEquals(0, snapshot.updates)

        // The metered request from the network status: headers (and snippets), no bodies.
        val report = assertNotNull(repo.sync(SyncTrigger.Foreground), "sync failed: ${repo.sync.value}")
        assertEquals(TestServer.messages.toULong(), report.added)
        assertEquals(0uL, report.bytes.filter { it.purpose == "bodies" || it.purpose == "attachments" }.sumOf { it.down }, "${report.bytes}")

        // The list filled from the listener's deltas, re-queried from the store: the newest 50.
        val filled = withTimeout(10_000) { list.state.first { it.messages.size == 50 } }
        assertTrue(filled.updates >= 1, "filled without a delta: $filled")
        val newest = engine.messages(inbox.id, null, 50u).messages
        withTimeout(10_000) { list.state.first { it.messages == newest } }
        val dates = newest.map { it.internalDate }
        assertEquals(dates.sortedDescending(), dates)
        assertTrue(newest.all { it.subject.isNotBlank() && it.from.isNotEmpty() }, "headers missing")

        // The folder list followed with its counts.
        val counted = withTimeout(10_000) { repo.folders.first { s -> s.folders.any { it.name == "INBOX" && it.total.toInt() == TestServer.messages } } }
        val unread = counted.folders.first { it.name == "INBOX" }.unread
        assertTrue(unread.toInt() in 0..TestServer.messages)

        // More of the list on demand.
        list.showMore(5)
        withTimeout(10_000) { list.state.first { it.messages.size == 55 } }

        // Usage from the byte ledger, by network kind.
        val usage = repo.usage.value.byNetwork
        assertTrue(usage["metered"].orEmpty().any { it.purpose == "sync_metadata" && it.bytesDown > 0uL }, "usage: $usage")
        assertTrue(repo.usage.value.totalBytes > 0)
        list.close()
        repo.close()
    }

    @Test
    fun downloadReportsProgressCompletesCancelsAndResumes() = runBlocking(Dispatchers.IO) {
        val repo = repository()
        assertNotNull(repo.sync(SyncTrigger.Foreground), "sync failed: ${repo.sync.value}")
        val inbox = engine.folders(repo.account).first { it.name == "INBOX" }
        val (message, section, truth) = largestAttachment(inbox.id)

        // The message view: the body on open, the attachment listed with its state.
        val opened = repo.open(message.id)
        assertTrue(!opened.body.text.isNullOrEmpty() || !opened.body.html.isNullOrEmpty(), "empty body")
        assertTrue(opened.detail.parts.any { it.section == section && it.isAttachment })

        val download = repo.download(message.id, section)
        val seen = record(download)
        assertEquals(DownloadUiState.Idle, download.state.value)
        download.start()
        val done = withTimeout(60_000) { download.state.first { it is DownloadUiState.Done || it is DownloadUiState.Failed } }
        assertTrue(done is DownloadUiState.Done, "download: $done")
        assertEquals(truth.second, sha256(File(done.path)))
        val progress = seen.filterIsInstance<DownloadUiState.Running>().filter { it.done > 0 }
        assertTrue(progress.isNotEmpty(), "no progress: $seen")
        assertEquals(progress.map { it.done }.sorted(), progress.map { it.done }, "progress went backwards")
        download.close()

        // Again from nothing, cancelled at its first progress, then resumed.
        engine.deleteDownload(message.id, section)
        val again = repo.download(message.id, section)
        val states = record(again, cancelAtFirstProgress = true)
        again.start()
        val stopped = withTimeout(60_000) { again.state.first { it !is DownloadUiState.Running } }
        assertTrue(stopped is DownloadUiState.Cancelled, "expected Cancelled: $stopped")
        assertTrue(stopped.done in 1 until stopped.total, "cancelled at ${stopped.done} of ${stopped.total}")
        assertEquals(DownloadState.PARTIAL, engine.message(message.id).parts.first { it.section == section }.downloadState)

        states.clear()
        again.start()
        val resumed = withTimeout(60_000) { again.state.first { it is DownloadUiState.Done || it is DownloadUiState.Failed } }
        assertTrue(resumed is DownloadUiState.Done, "resume: $resumed")
        assertEquals(truth.second, sha256(File(resumed.path)))
        val running = states.filterIsInstance<DownloadUiState.Running>()
        assertTrue(running.all { it.done >= stopped.done }, "the resume started over after $stopped: $running")
        assertTrue(running.any { it.done > stopped.done }, "no progress after the resume: $states")
        again.close()
        repo.close()
    }

    @Test
    fun pushRunsOnlyWhileStartedAndNotOffline() = runBlocking(Dispatchers.IO) {
        val repo = repository()
        assertNotNull(repo.sync(SyncTrigger.Foreground), "sync failed: ${repo.sync.value}")
        val push = repo.push("INBOX")
        push.start()
        assertTrue(push.running.value)
        delay(1_000) // IDLE is up (or it failed, which would have set the error)
        assertNull(push.error.value, "push failed")
        assertTrue(push.running.value)
        push.stop()
        assertFalse(push.running.value)

        // No network: nothing starts.
        cellular.value = NetworkStatus.Offline
        push.start()
        assertFalse(push.running.value)
        repo.close()
    }

    /**
     * Every state the download goes through. The collector runs unconfined, so it runs inside
     * the engine's progress callback; cancelling there stops the download within a chunk.
     */
    private fun record(download: PartDownload, cancelAtFirstProgress: Boolean = false): MutableList<DownloadUiState> {
        val states = CopyOnWriteArrayList<DownloadUiState>()
        var cancelled = false
        scope.launch(Dispatchers.Unconfined) {
            download.state.collect { state ->
                states.add(state)
                if (cancelAtFirstProgress && !cancelled && state is DownloadUiState.Running && state.done > 0) {
                    cancelled = true
                    download.cancel()
                }
            }
        }
        return states
    }

    private data class Holder(val message: MessageSummary, val section: String, val truth: Pair<Long, String>)

    /** The largest attachment in INBOX (the dev server's "app" mix has MiB ones). */
    private suspend fun largestAttachment(folder: Long): Holder {
        val truths = TestServer.truths()
        var best: Holder? = null
        for (m in engine.messages(folder, null, 1000u).messages.filter { it.hasAttachments }) {
            val detail = engine.message(m.id)
            val id = detail.messageId?.trim('<', '>') ?: continue
            for (part in detail.parts.filter { it.isAttachment }) {
                val truth = truths[id to part.section] ?: continue
                if (best == null || truth.first > best.truth.first) best = Holder(m, part.section, truth)
            }
        }
        return assertNotNull(best, "the mailbox has attachments")
    }
}
