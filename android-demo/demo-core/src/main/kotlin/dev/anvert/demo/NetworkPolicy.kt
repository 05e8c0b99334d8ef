// What the platform says about the network, and what the app asks the engine for because of
// it. The engine decides what each network kind fetches (headers, snippets, prefetch); the
// app only names the kind and, for background work, the time it has.
package dev.anvert.demo

import dev.anvert.NetworkKind
import dev.anvert.SyncOptions

/**
 * The facts an app reads from the platform: on Android from `NetworkCapabilities`
 * (INTERNET, NOT_METERED, NOT_ROAMING), on iOS from `NWPath` (status, isExpensive,
 * isConstrained). [networkId] tells one network from another (Android: the `Network`'s
 * handle; null when offline or unknown): a new one means the engine's connections are stale.
 */
data class NetworkStatus(
    val connected: Boolean,
    val metered: Boolean,
    val roaming: Boolean,
    val networkId: String? = null,
) {
    companion object {
        val Offline = NetworkStatus(connected = false, metered = false, roaming = false)
    }
}

/** No connection wins over everything, roaming over metered. */
fun NetworkStatus.toNetworkKind(): NetworkKind = when {
    !connected -> NetworkKind.OFFLINE
    roaming -> NetworkKind.ROAMING
    metered -> NetworkKind.METERED
    else -> NetworkKind.UNMETERED
}

/** Why the app syncs, which decides how long the sync may take. */
sealed interface SyncTrigger {
    /** The user is looking (app start, pull to refresh): no deadline. */
    data object Foreground : SyncTrigger

    /** The OS gave the app a slot: the engine stops at a clean point before it ends. */
    data class Background(val deadlineMs: Long) : SyncTrigger

    companion object {
        /** WorkManager stops a worker after 10 minutes; leave one for the engine to finish. */
        val WorkManager = Background(deadlineMs = 9 * 60 * 1000L)

        /** iOS gives a BGAppRefreshTask about 30 seconds. */
        val AppRefresh = Background(deadlineMs = 25_000L)
    }
}

/** The request the app passes to `Engine.sync`. */
fun syncOptions(status: NetworkStatus, trigger: SyncTrigger): SyncOptions =
    SyncOptions(
        network = status.toNetworkKind(),
        deadlineMs = (trigger as? SyncTrigger.Background)?.deadlineMs?.toULong(),
    )
