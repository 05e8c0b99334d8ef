// The glue loads at all: JNA finds libanvert_ffi, UniFFI's checksums match, a call returns;
// and the dev server the flow tests rely on is there.
package dev.anvert.tests

import dev.anvert.anvertVersion
import java.net.InetSocketAddress
import java.net.Socket
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.Test

class SmokeTest {
    @Test
    fun versionIsNotEmpty() {
        val version = anvertVersion()
        assertTrue(version.isNotBlank(), "anvertVersion() is empty")
        assertTrue(Regex("""\d+\.\d+\.\d+.*""").matches(version), "not a version: $version")
    }

    @Test
    fun devServerDetailsArePresent() {
        assertEquals("127.0.0.1", DevServer.host)
        val ports = listOf(DevServer.imapsPort, DevServer.imapPort, DevServer.pop3sPort, DevServer.pop3Port)
        assertTrue(ports.all { it in 1..65535 }, "ports: $ports")
        assertEquals(4, ports.toSet().size, "ports: $ports")
        assertTrue(DevServer.caPem.contains("-----BEGIN CERTIFICATE-----"), "no PEM certificate in ${DevServer.caPath}")
        assertTrue(DevServer.user.isNotEmpty())
        assertTrue(DevServer.password.isNotEmpty())
        assertTrue(DevServer.messages > 0, "messages: ${DevServer.messages}")
        assertTrue(DevServer.mailboxBytes > 0, "mailbox bytes: ${DevServer.mailboxBytes}")
    }

    @Test
    fun devServerAcceptsConnections() {
        for (port in listOf(DevServer.imapsPort, DevServer.pop3sPort)) {
            Socket().use { it.connect(InetSocketAddress(DevServer.host, port), 5_000) }
        }
    }
}
