// An attachment download and push, as the UI sees them. The engine downloads in resumable
// chunks and reports progress to a listener; this turns that into a StateFlow with cancel
// and resume (starting again continues from what is on disk).
package dev.anvert.demo

import dev.anvert.AnvertException
import dev.anvert.DownloadListener
import dev.anvert.Engine
import dev.anvert.MailEvent
import dev.anvert.MailListener
import dev.anvert.NetworkKind
import dev.anvert.TaskHandle
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow

sealed interface DownloadUiState {
    data object Idle : DownloadUiState
    /** `done` of `total` encoded bytes. */
    data class Running(val done: Long, val total: Long) : DownloadUiState {
        val fraction: Float get() = if (total > 0) done.toFloat() / total else 0f
    }
    data class Done(val path: String) : DownloadUiState
    /** It stopped; what was downloaded is kept and `start()` resumes. */
    data class Failed(val message: String) : DownloadUiState
    /** Cancelled by the user at `done` of `total`; `start()` resumes. */
    data class Cancelled(val done: Long, val total: Long) : DownloadUiState
}

class PartDownload internal constructor(
    private val engine: Engine,
    val message: Long,
    val section: String,
    private val directory: String,
    private val network: () -> NetworkKind,
) : AutoCloseable {
    private val _state = MutableStateFlow<DownloadUiState>(DownloadUiState.Idle)
    val state: StateFlow<DownloadUiState> = _state.asStateFlow()

    @Volatile
    private var handle: TaskHandle? = null

    /** Starts, or resumes after a cancel or a failure. Does nothing while running. */
    @Synchronized
    fun start() {
        if (_state.value is DownloadUiState.Running) return
        _state.value = DownloadUiState.Running(lastDone(), lastTotal())
        handle?.close()
        handle = engine.downloadPart(message, section, directory, network(), object : DownloadListener {
            override fun onProgress(done: ULong, total: ULong) {
                _state.value = DownloadUiState.Running(done.toLong(), total.toLong())
            }

            override fun onComplete(path: String) {
                _state.value = DownloadUiState.Done(path)
            }

            override fun onError(error: AnvertException) {
                val (done, total) = lastDone() to lastTotal()
                _state.value = if (error is AnvertException.Cancelled) {
                    DownloadUiState.Cancelled(done, total)
                } else {
                    DownloadUiState.Failed(error.userMessage())
                }
            }
        })
    }

    /** Stops within one chunk; the state becomes `Cancelled` when the engine has stopped. */
    fun cancel() {
        handle?.cancel()
    }

    override fun close() {
        handle?.close()
        handle = null
    }

    private fun lastDone(): Long = when (val s = _state.value) {
        is DownloadUiState.Running -> s.done
        is DownloadUiState.Cancelled -> s.done
        else -> 0
    }

    private fun lastTotal(): Long = when (val s = _state.value) {
        is DownloadUiState.Running -> s.total
        is DownloadUiState.Cancelled -> s.total
        else -> 0
    }
}

/**
 * Push (IDLE) while the app is in the foreground: the platform's lifecycle calls `start()`
 * when the app comes to the front (and when the network changes) and `stop()` when it leaves.
 * Changes arrive through the watches like any sync's.
 */
class Push internal constructor(
    private val engine: Engine,
    private val account: Long,
    private val folder: String,
    private val network: () -> NetworkKind,
) {
    private val _running = MutableStateFlow(false)
    val running: StateFlow<Boolean> = _running.asStateFlow()

    /** Why the last push ended, when it failed. */
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    private var handle: TaskHandle? = null

    /** Tells the current push's events from a stopped one's. */
    @Volatile
    private var generation = 0

    @Synchronized
    fun start() {
        stop()
        val kind = network()
        if (kind == NetworkKind.OFFLINE) return
        _running.value = true
        val current = ++generation
        handle = engine.startPush(account, folder, kind, object : MailListener {
            override fun onEvent(event: MailEvent) {
                if (event is MailEvent.PushStopped && generation == current) {
                    _running.value = false
                    _error.value = event.error
                }
            }
        })
    }

    @Synchronized
    fun stop() {
        handle?.let {
            it.cancel()
            it.close()
        }
        handle = null
        _running.value = false
    }
}
