// The lifecycle calls from Kotlin (setForeground, networkChanged, closeConnections) and the
// session knobs of EngineConfig, against the private Dovecot through a small counting relay
// in this file: it tells which TCP connections the engine opened and when it closed them.
package dev.anvert.tests

import dev.anvert.AccountProtocol
import dev.anvert.Engine
import dev.anvert.EngineConfig
import dev.anvert.LogLevel
import dev.anvert.MessageSummary
import dev.anvert.NetworkKind
import dev.anvert.SyncOptions
import java.io.InputStream
import java.io.OutputStream
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Test

/**
 * A loopback TCP relay to the dev server's IMAPS port that counts the connections it accepted
 * and those still open (TLS passes through; the certificate names 127.0.0.1, any port).
 */
class CountingRelay : AutoCloseable {
    private val listener = ServerSocket(0, 16, InetAddress.getByName("127.0.0.1"))
    val port: Int get() = listener.localPort
    val accepted = AtomicInteger(0)
    val open = AtomicInteger(0)

    init {
        thread(isDaemon = true, name = "relay-accept") {
            while (!listener.isClosed) {
                val client = try { listener.accept() } catch (e: Exception) { break }
                accepted.incrementAndGet()
                open.incrementAndGet()
                val upstream = Socket(DevServer.host, DevServer.imapsPort)
                val closed = AtomicBoolean(false)
                val closeBoth = {
                    if (closed.compareAndSet(false, true)) {
                        client.close()
                        upstream.close()
                        open.decrementAndGet()
                    }
                }
                thread(isDaemon = true) { pump(client.getInputStream(), upstream.getOutputStream()); closeBoth() }
                thread(isDaemon = true) { pump(upstream.getInputStream(), client.getOutputStream()); closeBoth() }
            }
        }
    }

    private fun pump(from: InputStream, to: OutputStream) {
        val buffer = ByteArray(16 * 1024)
        try {
            while (true) {
                val n = from.read(buffer)
                if (n < 0) return
                to.write(buffer, 0, n)
                to.flush()
            }
        } catch (e: Exception) {
            // A closed socket ends the pump.
        }
    }

    override fun close() = listener.close()
}

/** Waits (polling) until [condition] holds; fails after 10 s. */
suspend fun waitFor(what: String, condition: () -> Boolean) {
    try {
        withTimeout(10_000) { while (!condition()) delay(20) }
    } catch (e: Exception) {
        throw AssertionError("timed out waiting for $what", e)
    }
}

class LifecycleTest {
    private fun engine(name: String, warm: Boolean = true, keepWarmSeconds: UInt = 300u): Engine =
        Engine.open(
            EngineConfig(
                dataDir = tempDir(name).path,
                cacheBudgetBytes = null,
                extraCaPem = DevServer.caPem,
                logLevel = LogLevel.WARN,
                warm = warm,
                keepWarmSeconds = keepWarmSeconds,
            ),
        )

    /** An IMAP account through [relay], synced (headers only), and its newest messages. */
    private suspend fun synced(engine: Engine, relay: CountingRelay): List<MessageSummary> {
        val setup = setup(AccountProtocol.IMAP).copy(port = relay.port.toUShort())
        val account = engine.addAccount(setup, DevServer.password)
        engine.sync(account.id, SyncOptions(network = NetworkKind.METERED, folders = listOf("INBOX")))
        val inbox = engine.folders(account.id).first { it.name == "INBOX" }
        return engine.messages(inbox.id, null, 10u).messages
    }

    private suspend fun open(engine: Engine, message: MessageSummary) {
        val body = engine.fetchBody(message.id, NetworkKind.METERED)
        assertTrue(!body.text.isNullOrEmpty() || !body.html.isNullOrEmpty(), "an empty body")
    }

    @Test
    fun fetchesWorkAcrossTheLifecycleCalls() = runBlocking(Dispatchers.IO) {
        CountingRelay().use { relay ->
            val engine = engine("lifecycle")
            val messages = synced(engine, relay)
            val afterSync = relay.accepted.get()
            assertTrue(afterSync >= 1, "the sync connected")

            // Foreground (the default): the sync's connection stays warm and the open reuses it.
            open(engine, messages[0])
            assertEquals(afterSync, relay.accepted.get(), "a warm open connected again")
            assertEquals(1, relay.open.get(), "the warm connection")

            // A network change closes it at once; the next open connects on the "new" network.
            engine.networkChanged(NetworkKind.UNMETERED)
            waitFor("the warm connection to close after networkChanged") { relay.open.get() == 0 }
            open(engine, messages[1])
            assertEquals(afterSync + 1, relay.accepted.get())

            // Background: the idle connection closes now, and a later open works and closes
            // its connection when done.
            engine.setForeground(false)
            waitFor("the idle connection to close in the background") { relay.open.get() == 0 }
            open(engine, messages[2])
            assertEquals(afterSync + 2, relay.accepted.get())
            waitFor("the background open's connection to close") { relay.open.get() == 0 }

            // Foreground again: warm again, until closeConnections.
            engine.setForeground(true)
            open(engine, messages[3])
            assertEquals(afterSync + 3, relay.accepted.get())
            assertEquals(1, relay.open.get(), "warm again in the foreground")
            engine.closeConnections()
            waitFor("closeConnections to close the warm connection") { relay.open.get() == 0 }
            open(engine, messages[4])
            assertEquals(afterSync + 4, relay.accepted.get())
            engine.close()
        }
    }

    @Test
    fun sessionKnobsReachTheEngine() = runBlocking(Dispatchers.IO) {
        // warm = false: every open connects and logs out.
        CountingRelay().use { relay ->
            val cold = engine("cold", warm = false)
            val messages = synced(cold, relay)
            waitFor("the cold sync's connection to close") { relay.open.get() == 0 }
            val before = relay.accepted.get()
            open(cold, messages[0])
            open(cold, messages[1])
            assertEquals(before + 2, relay.accepted.get(), "cold opens connect each time")
            waitFor("the cold opens' connections to close") { relay.open.get() == 0 }
            cold.close()
        }
        // keepWarmSeconds = 1: the warm connection closes by itself a second after its use.
        CountingRelay().use { relay ->
            val brief = engine("brief", keepWarmSeconds = 1u)
            val messages = synced(brief, relay)
            open(brief, messages[0])
            waitFor("the connection to close after keepWarmSeconds") { relay.open.get() == 0 }
            brief.close()
        }
    }
}
