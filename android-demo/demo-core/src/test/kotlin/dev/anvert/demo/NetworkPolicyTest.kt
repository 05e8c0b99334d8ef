// The platform's network facts to the engine's network kind and sync request (no server).
package dev.anvert.demo

import dev.anvert.AccountProtocol
import dev.anvert.NetworkKind
import dev.anvert.Security
import dev.anvert.SyncOptions
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.Test

class NetworkPolicyTest {
    private val wifi = NetworkStatus(connected = true, metered = false, roaming = false)
    private val cellular = NetworkStatus(connected = true, metered = true, roaming = false)
    private val roaming = NetworkStatus(connected = true, metered = true, roaming = true)

    @Test
    fun meteredStatusGivesTheMeteredSyncRequest() {
        assertEquals(NetworkKind.METERED, cellular.toNetworkKind())
        // In the foreground: the metered kind and nothing else (no deadline, no budget, the
        // engine's default folders and window).
        assertEquals(SyncOptions(network = NetworkKind.METERED), syncOptions(cellular, SyncTrigger.Foreground))
    }

    @Test
    fun roamingWinsOverMetered() {
        assertEquals(NetworkKind.ROAMING, roaming.toNetworkKind())
        assertEquals(NetworkKind.ROAMING, roaming.copy(metered = false).toNetworkKind())
        assertEquals(NetworkKind.ROAMING, syncOptions(roaming, SyncTrigger.Foreground).network)
    }

    @Test
    fun noConnectionIsOffline() {
        assertEquals(NetworkKind.OFFLINE, NetworkStatus.Offline.toNetworkKind())
        assertEquals(NetworkKind.OFFLINE, NetworkStatus(connected = false, metered = true, roaming = true).toNetworkKind())
        assertEquals(NetworkKind.OFFLINE, syncOptions(NetworkStatus.Offline, SyncTrigger.WorkManager).network)
    }

    @Test
    fun unmeteredIsUnmetered() {
        assertEquals(NetworkKind.UNMETERED, wifi.toNetworkKind())
    }

    @Test
    fun backgroundSyncCarriesTheDeadline() {
        assertNull(syncOptions(wifi, SyncTrigger.Foreground).deadlineMs)
        assertEquals(SyncOptions(network = NetworkKind.METERED, deadlineMs = 540_000uL), syncOptions(cellular, SyncTrigger.WorkManager))
        assertEquals(25_000uL, syncOptions(wifi, SyncTrigger.AppRefresh).deadlineMs)
    }

    @Test
    fun accountFormChecksAndConverts() {
        assertEquals(3, AccountForm().problems().size) // server, user, password (an empty port is the standard one)
        val form = AccountForm(protocol = AccountProtocol.IMAP, host = " mail.example.org ", port = "993", username = "me@example.org", password = "pw")
        assertTrue(form.problems().isEmpty())
        val setup = form.toSetup()
        assertEquals("mail.example.org", setup.host)
        assertEquals(993.toUShort(), setup.port)
        assertEquals(Security.TLS, setup.security)
        assertEquals("me@example.org", setup.name)
        assertNull(form.copy(port = "").toSetup().port)
        assertEquals(listOf("port must be 1 to 65535"), form.copy(port = "99999").problems())
    }
}
