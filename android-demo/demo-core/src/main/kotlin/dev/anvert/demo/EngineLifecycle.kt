// The app's life as the engine should hear it: foreground or background, and real network
// changes. Plain Kotlin (no Android types), so it is tested on the JVM; the app feeds it from
// ProcessLifecycleOwner and ConnectivityManager.NetworkCallback.
package dev.anvert.demo

import dev.anvert.Engine
import dev.anvert.NetworkKind

/** The two engine calls the lifecycle drives (an `Engine`, or a recorder in tests). */
interface LifecycleSink {
    fun setForeground(foreground: Boolean)
    fun networkChanged(network: NetworkKind)
}

/** The engine's own lifecycle calls. */
fun Engine.lifecycleSink(): LifecycleSink = object : LifecycleSink {
    override fun setForeground(foreground: Boolean) = this@lifecycleSink.setForeground(foreground)
    override fun networkChanged(network: NetworkKind) = this@lifecycleSink.networkChanged(network)
}

/**
 * Passes foreground/background on when it changes (the first state always: the engine starts
 * in the foreground, a process started by WorkManager does not). Tells the engine about a
 * network change when the device moved to another network (another Wi-Fi, Wi-Fi to cellular,
 * lost, back) or the kind changed; the first network seen is not a change (the engine
 * connects on it anyway), nor is a capabilities update of the same network that keeps its kind
 * (Android sends those for signal strength and bandwidth estimates): warm connections survive
 * those. Calls are made on the caller's thread, in order; both engine calls return at once.
 */
class EngineLifecycle(private val engine: LifecycleSink) {
    private var foreground: Boolean? = null
    private var network: NetworkStatus? = null

    @Synchronized
    fun onForeground(foreground: Boolean) {
        if (this.foreground == foreground) return
        this.foreground = foreground
        engine.setForeground(foreground)
    }

    @Synchronized
    fun onNetwork(status: NetworkStatus) {
        val previous = network
        network = status
        if (previous == null) return
        val kind = status.toNetworkKind()
        if (previous.networkId != status.networkId || previous.toNetworkKind() != kind) {
            engine.networkChanged(kind)
        }
    }
}
