// The bindings end to end from Kotlin against the private Dovecot (scripts/kotlin-test.sh):
// an IMAP account and a POP3 account through the same generated API, called from
// Dispatchers.IO, with listeners, cancellation, errors and the panic barrier.
package dev.anvert.tests

import dev.anvert.AccountProtocol
import dev.anvert.AccountSetup
import dev.anvert.AnvertException
import dev.anvert.DownloadListener
import dev.anvert.DownloadState
import dev.anvert.Engine
import dev.anvert.EngineConfig
import dev.anvert.Flag
import dev.anvert.LogLevel
import dev.anvert.Logger
import dev.anvert.setLogger
import dev.anvert.MailEvent
import dev.anvert.MailListener
import dev.anvert.MessageSummary
import dev.anvert.NetworkKind
import dev.anvert.Security
import dev.anvert.SyncOptions
import dev.anvert.SyncReport
import dev.anvert.TaskHandle
import dev.anvert.dangerTestPanicBarrier
import java.io.File
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.security.MessageDigest
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.concurrent.thread
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Test

/** One line of the dev server's truth file: what a part decodes to. */
data class PartTruth(val messageId: String, val section: String, val size: Long, val sha256: String)

fun truths(): List<PartTruth> =
    File(System.getenv("ANVERT_TRUTH") ?: error("ANVERT_TRUTH is not set")).readLines()
        .filter { it.isNotBlank() }
        .map { line ->
            val f = line.split('\t')
            PartTruth(f[0], f[1], f[2].toLong(), f[3])
        }

fun sha256(file: File): String =
    MessageDigest.getInstance("SHA-256").digest(file.readBytes()).joinToString("") { "%02x".format(it) }

fun tempDir(name: String): File = Files.createTempDirectory("anvert-kt-$name").toFile()

fun openEngine(dir: File): Engine =
    Engine.open(EngineConfig(dataDir = dir.path, cacheBudgetBytes = null, extraCaPem = DevServer.caPem, logLevel = LogLevel.WARN))

fun setup(protocol: AccountProtocol): AccountSetup =
    AccountSetup(
        name = "Alice",
        protocol = protocol,
        host = DevServer.host,
        port = (if (protocol == AccountProtocol.POP3) DevServer.pop3sPort else DevServer.imapsPort).toUShort(),
        security = Security.TLS,
        username = DevServer.user,
    )

fun SyncReport.down(purpose: String): ULong = bytes.filter { it.purpose == purpose }.sumOf { it.down }

/** Records a download's progress and outcome; optionally cancels it from its first progress. */
class Download(private val cancelOnFirstProgress: Boolean = false) : DownloadListener {
    val progress = CopyOnWriteArrayList<ULong>()
    val outcome = CompletableDeferred<Result<String>>()
    val handle = AtomicReference<TaskHandle?>(null)

    override fun onProgress(done: ULong, total: ULong) {
        progress.add(done)
        if (cancelOnFirstProgress && progress.size == 1) {
            // The handle is set right after downloadPart returns; this callback can be faster.
            while (handle.get() == null) Thread.sleep(1)
            handle.get()?.cancel()
        }
    }

    override fun onComplete(path: String) {
        outcome.complete(Result.success(path))
    }

    override fun onError(error: AnvertException) {
        outcome.complete(Result.failure(error))
    }
}

/** Every event a listener heard, in order. */
class Events : MailListener {
    val all = CopyOnWriteArrayList<MailEvent>()
    override fun onEvent(event: MailEvent) {
        all.add(event)
    }
}

class EngineFlowTest {
    private val attachments = truths()

    /** The largest attachment the dev server's mailbox holds (the "app" mix has MiB ones). */
    private suspend fun largestAttachment(engine: Engine, folder: Long): Pair<MessageSummary, PartTruth> {
        var best: Pair<MessageSummary, PartTruth>? = null
        var cursor: dev.anvert.PageCursor? = null
        do {
            val page = engine.messages(folder, cursor, 50u)
            for (m in page.messages.filter { it.hasAttachments }) {
                val detail = engine.message(m.id)
                val id = detail.messageId?.trim('<', '>') ?: continue
                for (part in detail.parts.filter { it.isAttachment }) {
                    val truth = attachments.find { it.messageId == id && it.section == part.section } ?: continue
                    if (best == null || truth.size > best.second.size) best = m to truth
                }
            }
            cursor = page.next
        } while (cursor != null)
        return assertNotNull(best, "the mailbox has attachments")
    }

    @Test
    fun imapEndToEnd() = runBlocking(Dispatchers.IO) {
        val dir = tempDir("imap")
        val engine = openEngine(dir)
        val account = engine.addAccount(setup(AccountProtocol.IMAP), DevServer.password)
        assertEquals(AccountProtocol.IMAP, account.protocol)

        // Headers first on a metered network: the list, and not one byte of bodies.
        val events = Events()
        val watchAccount = engine.watchAccount(account.id, events)
        val report = engine.sync(account.id, SyncOptions(network = NetworkKind.METERED, allMessages = true))
        // (Other folders may hold what other tests left; INBOX is the generated mailbox.)
        assertTrue(report.added >= DevServer.messages.toULong(), "added ${report.added}")
        assertEquals(0uL, report.down("bodies"), "bodies on a metered headers sync: ${report.bytes}")
        assertEquals(0uL, report.down("attachments"), "attachments on a metered headers sync: ${report.bytes}")
        assertTrue(report.bytesTotal < DevServer.mailboxBytes.toULong() / 4uL, "headers cost ${report.bytesTotal} of ${DevServer.mailboxBytes}")

        val inbox = engine.folders(account.id).first { it.name == "INBOX" }
        assertEquals(DevServer.messages.toUInt(), inbox.total)
        // The account watch heard the folders first, then the windows as they were committed
        // (delivered from its own queue, so they may trail the sync's return a little).
        val first = events.all.first()
        assertTrue(first is MailEvent.FoldersSnapshot, "first event: $first")
        fun added() = events.all.filterIsInstance<MailEvent.MessagesAdded>().filter { it.folder == inbox.id }.sumOf { it.uids.size }
        withTimeout(10_000) { while (added() < DevServer.messages) delay(20) }
        assertEquals(DevServer.messages, added())
        watchAccount.cancel()

        // A page of the list, newest first, then the next page from its cursor.
        val page = engine.messages(inbox.id, null, 20u)
        assertEquals(20, page.messages.size)
        val dates = page.messages.map { it.internalDate }
        assertEquals(dates.sortedDescending(), dates)
        val next = engine.messages(inbox.id, assertNotNull(page.next), 20u)
        assertTrue(next.messages.none { m -> page.messages.any { it.id == m.id } })

        // Open a message: its body comes on demand, then from the store.
        val opened = page.messages.first()
        val body = engine.fetchBody(opened.id, NetworkKind.METERED)
        assertTrue(!body.text.isNullOrEmpty() || !body.html.isNullOrEmpty(), "an empty body")
        assertEquals(body, engine.fetchBody(opened.id, NetworkKind.OFFLINE))

        // Download the largest attachment with progress, and compare it with the truth.
        val (holder, truth) = largestAttachment(engine, inbox.id)
        val downloads = tempDir("imap-downloads")
        val whole = Download()
        whole.handle.set(engine.downloadPart(holder.id, truth.section, downloads.path, NetworkKind.METERED, whole))
        val path = withTimeout(60_000) { whole.outcome.await() }.getOrThrow()
        assertEquals(truth.sha256, sha256(File(path)))
        assertTrue(whole.progress.isNotEmpty(), "no progress callbacks")
        assertEquals(whole.progress.sorted(), whole.progress.toList(), "progress went backwards")

        // A second download, cancelled from its first progress, then resumed.
        engine.deleteDownload(holder.id, truth.section)
        val cancelled = Download(cancelOnFirstProgress = true)
        cancelled.handle.set(engine.downloadPart(holder.id, truth.section, downloads.path, NetworkKind.METERED, cancelled))
        val stopped = withTimeout(60_000) { cancelled.outcome.await() }
        assertTrue(stopped.exceptionOrNull() is AnvertException.Cancelled, "expected Cancelled: $stopped")
        val part = engine.message(holder.id).parts.first { it.section == truth.section }
        assertEquals(DownloadState.PARTIAL, part.downloadState)
        val resumed = Download()
        resumed.handle.set(engine.downloadPart(holder.id, truth.section, downloads.path, NetworkKind.METERED, resumed))
        val resumedPath = withTimeout(60_000) { resumed.outcome.await() }.getOrThrow()
        assertEquals(truth.sha256, sha256(File(resumedPath)))
        assertTrue(
            resumed.progress.first() > cancelled.progress.last(),
            "the resume started over: first ${resumed.progress.first()} after ${cancelled.progress.last()}",
        )

        // Mark messages read while offline: applied at once, queued, written back by the sync.
        // (Another client, such as the POP3 test's RETR, may have read them all: mark ten
        // unread first, so that the read marks below change something on the server.)
        val unread = engine.messages(inbox.id, null, 10u).messages
        engine.setFlags(unread.map { it.id }, emptyList(), listOf(Flag.Seen))
        engine.sync(account.id, SyncOptions(network = NetworkKind.METERED))
        assertTrue(unread.none { engine.message(it.id).summary.flags.seen })
        engine.setFlags(unread.map { it.id }, listOf(Flag.Seen), emptyList())
        val offline = engine.sync(account.id, SyncOptions(network = NetworkKind.OFFLINE))
        assertEquals(dev.anvert.StopReason.OFFLINE, offline.stopped)
        assertTrue(unread.all { engine.message(it.id).summary.flags.seen })
        assertEquals(unread.size, engine.pendingOperations(account.id).size)
        engine.sync(account.id, SyncOptions(network = NetworkKind.METERED))
        assertEquals(0, engine.pendingOperations(account.id).size)
        // The server agrees: a second engine with its own store sees the flags.
        val witness = openEngine(tempDir("imap-witness"))
        val other = witness.addAccount(setup(AccountProtocol.IMAP), DevServer.password)
        witness.sync(other.id, SyncOptions(network = NetworkKind.METERED, allMessages = true))
        val otherInbox = witness.folders(other.id).first { it.name == "INBOX" }
        val seenThere = witness.messages(otherInbox.id, null, 60u).messages.filter { it.flags.seen }.map { it.subject to it.internalDate }.toSet()
        assertTrue(unread.all { (it.subject to it.internalDate) in seenThere }, "the server does not show the read marks")
        witness.close()

        // The data-usage report, by network kind and purpose.
        val usage = engine.usage(account.id)
        assertTrue(usage.any { it.networkKind == "metered" && it.purpose == "sync_metadata" && it.bytesDown > 0uL }, "usage: $usage")
        assertTrue(usage.any { it.purpose == "attachments" && it.bytesDown >= truth.size.toULong() / 2uL }, "usage: $usage")
        assertTrue(usage.any { it.purpose == "write_back" && it.bytesUp > 0uL }, "usage: $usage")
        engine.close()
    }

    @Test
    fun pop3EndToEnd() = runBlocking(Dispatchers.IO) {
        val engine = openEngine(tempDir("pop3"))
        val account = engine.addAccount(setup(AccountProtocol.POP3), DevServer.password)
        assertEquals(AccountProtocol.POP3, account.protocol)

        // Roaming: TOP only, the list without a byte of bodies.
        val headers = engine.sync(account.id, SyncOptions(network = NetworkKind.ROAMING, allMessages = true))
        assertEquals(DevServer.messages.toULong(), headers.added)
        assertEquals(0uL, headers.down("bodies"), "bodies on a TOP pass: ${headers.bytes}")
        val inbox = engine.folders(account.id).first { it.name == "INBOX" }
        assertEquals(DevServer.messages.toUInt(), inbox.total)

        // Unmetered: the full download (RETR); POP3 has no partial fetch.
        val full = engine.sync(account.id, SyncOptions(network = NetworkKind.UNMETERED, allMessages = true))
        assertTrue(full.down("bodies") > 0uL, "no RETR on unmetered: ${full.bytes}")
        val page = engine.messages(inbox.id, null, 20u)
        assertEquals(20, page.messages.size)
        val body = engine.fetchBody(page.messages.first().id, NetworkKind.OFFLINE)
        assertTrue(!body.text.isNullOrEmpty() || !body.html.isNullOrEmpty(), "an empty body")

        // Attachments were stored by the full download; asking for one hands over the file.
        val (holder, truth) = largestAttachment(engine, inbox.id)
        val got = Download()
        got.handle.set(engine.downloadPart(holder.id, truth.section, tempDir("pop3-downloads").path, NetworkKind.OFFLINE, got))
        val path = withTimeout(60_000) { got.outcome.await() }.getOrThrow()
        assertEquals(truth.sha256, sha256(File(path)))

        // Flags are local on POP3: applied at once, nothing to write back.
        val first = page.messages.first { !it.flags.flagged }
        engine.setFlags(listOf(first.id), listOf(Flag.Flagged), emptyList())
        assertTrue(engine.message(first.id).summary.flags.flagged)
        engine.sync(account.id, SyncOptions(network = NetworkKind.METERED))
        assertTrue(engine.message(first.id).summary.flags.flagged)

        val usage = engine.usage(account.id)
        assertTrue(usage.any { it.networkKind == "unmetered" && it.purpose == "bodies" && it.bytesDown > 0uL }, "usage: $usage")
        engine.close()
    }

    @Test
    fun pushDeliversNewMailAndDraftsReachTheServer() = runBlocking(Dispatchers.IO) {
        // Engine A pushes (IDLE) on Drafts; engine B saves a draft, edits it and syncs. A's
        // listener hears the folders, then the new message, then PushStopped on cancel; the
        // server holds exactly one copy, the edited one.
        val a = openEngine(tempDir("push-a"))
        val accountA = a.addAccount(setup(AccountProtocol.IMAP), DevServer.password)
        a.sync(accountA.id, SyncOptions(network = NetworkKind.METERED))
        val draftsA = a.folders(accountA.id).first { it.role == dev.anvert.FolderRole.DRAFTS }
        val before = draftsA.total
        val events = Events()
        val push = a.startPush(accountA.id, draftsA.name, NetworkKind.UNMETERED, events)
        withTimeout(20_000) { while (events.all.isEmpty()) delay(20) }
        assertTrue(events.all.first() is MailEvent.FoldersSnapshot, "first: ${events.all.first()}")
        delay(1_000) // let the push reach IDLE

        val b = openEngine(tempDir("push-b"))
        val accountB = b.addAccount(setup(AccountProtocol.IMAP), DevServer.password)
        b.sync(accountB.id, SyncOptions(network = NetworkKind.METERED))
        val subject = "Kotlin draft " + System.nanoTime()
        val draft = dev.anvert.Draft(
            from = dev.anvert.Address(name = "Alice", email = "alice@example.org"),
            to = listOf(dev.anvert.Address(name = "Bob", email = "bob@example.org")),
            subject = subject,
            text = "first version",
        )
        val first = b.saveDraft(accountB.id, draft, null)
        b.saveDraft(accountB.id, draft.copy(text = "second version"), first)
        assertTrue(b.pendingOperations(accountB.id).isNotEmpty(), "queued locally")
        b.sync(accountB.id, SyncOptions(network = NetworkKind.METERED))
        assertEquals(0, b.pendingOperations(accountB.id).size)

        fun heard() = events.all.filterIsInstance<MailEvent.MessagesAdded>().any { it.folder == draftsA.id }
        val deadline = System.currentTimeMillis() + 30_000
        while (!heard() && System.currentTimeMillis() < deadline) delay(50)
        assertTrue(heard(), "no MessagesAdded for Drafts (${draftsA.id}): ${events.all}")
        val copies = a.messages(draftsA.id, null, 500u).messages.filter { it.subject == subject }
        assertEquals(1, copies.size, "exactly one copy of the draft on the server")
        assertEquals(before + 1u, a.folders(accountA.id).first { it.id == draftsA.id }.total)
        val body = a.fetchBody(copies.single().id, NetworkKind.METERED)
        assertTrue(body.text?.contains("second version") == true, "the edited draft: ${body.text}")

        push.cancel()
        withTimeout(20_000) { while (events.all.none { it is MailEvent.PushStopped }) delay(20) }
        val stopped = events.all.filterIsInstance<MailEvent.PushStopped>().single()
        assertEquals(null, stopped.error)
        // Leave the shared mailbox as it was for the other tests: the draft deleted for good.
        b.sync(accountB.id, SyncOptions(network = NetworkKind.METERED))
        val draftsB = b.folders(accountB.id).first { it.role == dev.anvert.FolderRole.DRAFTS }
        b.deleteMessages(listOf(b.messages(draftsB.id, null, 500u).messages.first { it.subject == subject }.id))
        b.emptyTrash(accountB.id)
        b.sync(accountB.id, SyncOptions(network = NetworkKind.METERED))
        assertEquals(0, b.pendingOperations(accountB.id).size)
        a.close()
        b.close()
    }

    @Test
    fun wrongPasswordIsAuth() = runBlocking(Dispatchers.IO) {
        val engine = openEngine(tempDir("auth"))
        for (protocol in listOf(AccountProtocol.IMAP, AccountProtocol.POP3)) {
            val account = engine.addAccount(setup(protocol), "not-" + DevServer.password)
            val e = assertFailsWith<AnvertException.Auth> {
                engine.sync(account.id, SyncOptions(network = NetworkKind.METERED))
            }
            assertTrue(!e.toString().contains(DevServer.password), "the password leaked into $e")
        }
        engine.close()
    }

    @Test
    fun untrustedCertificateIsTls() = runBlocking(Dispatchers.IO) {
        // Without the test CA the server's certificate is not trusted: TLS, never a bypass.
        val engine = Engine.open(EngineConfig(dataDir = tempDir("tls").path, cacheBudgetBytes = null, extraCaPem = null, logLevel = LogLevel.OFF))
        val account = engine.addAccount(setup(AccountProtocol.IMAP), DevServer.password)
        assertFailsWith<AnvertException.Tls> {
            engine.sync(account.id, SyncOptions(network = NetworkKind.METERED))
        }
        engine.close()
    }

    @Test
    fun logsReachTheLoggerWithoutTheSecret() = runBlocking(Dispatchers.IO) {
        val lines = CopyOnWriteArrayList<String>()
        val logger = object : Logger {
            override fun log(level: LogLevel, target: String, message: String) {
                lines.add("$level $target $message")
            }
        }
        setLogger(logger, LogLevel.DEBUG)
        try {
            // The engine's configured level applies to the logger set above.
            val engine = Engine.open(EngineConfig(dataDir = tempDir("logs").path, cacheBudgetBytes = null, extraCaPem = DevServer.caPem, logLevel = LogLevel.DEBUG))
            val account = engine.addAccount(setup(AccountProtocol.IMAP), DevServer.password)
            engine.sync(account.id, SyncOptions(network = NetworkKind.METERED))
            val bad = engine.addAccount(setup(AccountProtocol.POP3), "wrong-" + DevServer.password)
            assertFailsWith<AnvertException.Auth> { engine.sync(bad.id, SyncOptions(network = NetworkKind.METERED)) }
            engine.close()
        } finally {
            setLogger(null, LogLevel.OFF)
        }
        // The release library keeps info and above (debug call sites are compiled out).
        assertTrue(lines.any { it.startsWith("INFO ") && it.contains("sync finished") }, "no sync summary at info level in ${lines.size} lines")
        assertTrue(lines.any { it.startsWith("WARN ") && it.contains("sync failed") }, "no warning for the failed sync in ${lines.size} lines")
        val leaks = lines.filter { it.contains(DevServer.password) }
        assertTrue(leaks.isEmpty(), "the password is in ${leaks.size} log lines, e.g. ${leaks.firstOrNull()}")
    }

    @Test
    fun panicBecomesAnException() = runBlocking(Dispatchers.IO) {
        val e = assertFailsWith<AnvertException.Other> { dangerTestPanicBarrier("forced panic") }
        assertTrue(e.reason.contains("forced panic"), e.reason)
        // The JVM and the library are still fine.
        dangerTestPanicBarrier("")
        assertTrue(dev.anvert.anvertVersion().isNotEmpty())
    }

    @Test
    fun cancellingTheCoroutineCancelsTheRustWork() = runBlocking(Dispatchers.IO) {
        // A server that accepts and then never answers: the sync waits inside Rust for the TLS
        // handshake (its own timeout is 30 s). Cancelling the coroutine must drop the Rust
        // work, which closes the socket at once.
        ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")).use { silent ->
            val accepted = CompletableDeferred<Socket>()
            val acceptor = thread { accepted.complete(silent.accept()) }
            val engine = openEngine(tempDir("cancel"))
            val account = engine.addAccount(setup(AccountProtocol.IMAP).copy(port = silent.localPort.toUShort()), DevServer.password)
            val sync = async { engine.sync(account.id, SyncOptions(network = NetworkKind.METERED)) }
            val socket = withTimeout(10_000) { accepted.await() }
            acceptor.join()
            // The client has sent its TLS hello and now waits.
            socket.soTimeout = 20_000
            assertTrue(socket.getInputStream().read() >= 0, "no ClientHello")
            val cancelledAt = System.nanoTime()
            sync.cancel()
            val input = socket.getInputStream()
            val buffer = ByteArray(4096)
            while (input.read(buffer) >= 0) {}
            val closedAfterMs = (System.nanoTime() - cancelledAt) / 1_000_000
            assertTrue(closedAfterMs < 5_000, "the Rust work went on for $closedAfterMs ms after the cancel")
            assertTrue(sync.isCancelled)
            socket.close()
            // The engine is fine and the account is free again.
            assertEquals(1, engine.accounts().size)
            engine.close()
        }
    }
}
