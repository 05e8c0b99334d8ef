package dev.anvert.demo.app

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.os.Build
import dev.anvert.demo.NetworkStatus
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow

/**
 * The default network's facts from ConnectivityManager; demo-core maps them to a NetworkKind
 * and tells the engine when the network really changed (EngineLifecycle).
 */
class NetworkMonitor(context: Context) {
    private val cm = context.getSystemService(ConnectivityManager::class.java)
    private val _status = MutableStateFlow(current())
    val status: StateFlow<NetworkStatus> = _status.asStateFlow()

    fun start() {
        cm.registerDefaultNetworkCallback(object : ConnectivityManager.NetworkCallback() {
            override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
                _status.value = status(network, caps)
            }

            override fun onLost(network: Network) {
                _status.value = NetworkStatus.Offline
            }
        })
    }

    private fun current(): NetworkStatus {
        val network = cm.activeNetwork ?: return NetworkStatus.Offline
        val caps = cm.getNetworkCapabilities(network) ?: return NetworkStatus.Offline
        return status(network, caps)
    }

    private fun status(network: Network, caps: NetworkCapabilities): NetworkStatus {
        val unmetered = caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) ||
            (Build.VERSION.SDK_INT >= 30 && caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_TEMPORARILY_NOT_METERED))
        val roaming = if (Build.VERSION.SDK_INT >= 28) {
            !caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_ROAMING)
        } else {
            @Suppress("DEPRECATION")
            cm.getNetworkInfo(network)?.isRoaming == true
        }
        return NetworkStatus(
            connected = caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET),
            metered = !unmetered,
            roaming = roaming,
            // Another network (another Wi-Fi, cellular) has another handle.
            networkId = network.networkHandle.toString(),
        )
    }
}
