// The platform's lifecycle and network callbacks to the engine's lifecycle calls (no server).
package dev.anvert.demo

import dev.anvert.NetworkKind
import kotlin.test.assertEquals
import org.junit.Test

class EngineLifecycleTest {
    private class Recorder : LifecycleSink {
        val calls = mutableListOf<String>()
        override fun setForeground(foreground: Boolean) {
            calls += "foreground=$foreground"
        }
        override fun networkChanged(network: NetworkKind) {
            calls += "network=$network"
        }
    }

    private val wifi = NetworkStatus(connected = true, metered = false, roaming = false, networkId = "100")
    private val otherWifi = wifi.copy(networkId = "101")
    private val cellular = NetworkStatus(connected = true, metered = true, roaming = false, networkId = "102")

    @Test
    fun foregroundChangesArePassedOnOnce() {
        val sink = Recorder()
        val lifecycle = EngineLifecycle(sink)
        // A process WorkManager started: the first state goes through, even "background".
        lifecycle.onForeground(false)
        lifecycle.onForeground(false)
        lifecycle.onForeground(true)
        lifecycle.onForeground(true)
        lifecycle.onForeground(false)
        assertEquals(listOf("foreground=false", "foreground=true", "foreground=false"), sink.calls)
    }

    @Test
    fun onlyAnotherNetworkOrKindIsANetworkChange() {
        val sink = Recorder()
        val lifecycle = EngineLifecycle(sink)
        lifecycle.onNetwork(wifi) // the first network: the engine connects on it anyway
        lifecycle.onNetwork(wifi.copy()) // a capabilities update of the same network
        assertEquals(emptyList(), sink.calls)
        lifecycle.onNetwork(otherWifi) // another Wi-Fi, same kind: the connections are stale
        lifecycle.onNetwork(cellular)
        lifecycle.onNetwork(cellular.copy(roaming = true)) // same network, another kind
        lifecycle.onNetwork(NetworkStatus.Offline)
        lifecycle.onNetwork(NetworkStatus.Offline)
        lifecycle.onNetwork(wifi)
        assertEquals(
            listOf(
                "network=UNMETERED",
                "network=METERED",
                "network=ROAMING",
                "network=OFFLINE",
                "network=UNMETERED",
            ),
            sink.calls,
        )
    }
}
