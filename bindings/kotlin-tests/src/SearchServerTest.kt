// Search on the server from Kotlin (issue 16, item 5) against the private Dovecot: the
// glue only (records in and out, paging by cursor, the typed error of a bad query). What
// the search finds and what it costs on the wire is tested in Rust on Dovecot and Cyrus
// (tests/tests/server_search.rs).
package dev.anvert.tests

import dev.anvert.AccountProtocol
import dev.anvert.AnvertException
import dev.anvert.NetworkKind
import dev.anvert.SearchQuery
import dev.anvert.SyncOptions
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.Test

class SearchServerTest {
    @Test
    fun pagesThroughServerHitsAndRefusesBadQueries() = runBlocking(Dispatchers.IO) {
        val engine = openEngine(tempDir("search"))
        val account = engine.addAccount(setup(AccountProtocol.IMAP), DevServer.password)
        engine.sync(account.id, SyncOptions(network = NetworkKind.METERED, folders = listOf("INBOX"), allMessages = true))
        val inbox = engine.folders(account.id).first { it.name == "INBOX" }

        // Every message since 1990: the whole generated INBOX, ten at a time, newest first.
        val query = SearchQuery(since = 631_152_000L)
        val seen = mutableListOf<Long>()
        var page = engine.searchServer(account.id, inbox.id, query, 10u, null, NetworkKind.METERED)
        assertEquals(DevServer.messages.toUInt(), page.total)
        assertEquals(10, page.items.size)
        assertEquals(0u, page.fetched, "every hit was stored by the sync")
        while (true) {
            assertTrue(page.items.zipWithNext().all { (a, b) -> a.internalDate >= b.internalDate })
            seen += page.items.map { it.id }
            val next = page.next ?: break
            page = engine.searchServer(account.id, inbox.id, query, 10u, next, NetworkKind.METERED)
        }
        assertEquals(DevServer.messages, seen.size)
        assertEquals(seen.size, seen.toSet().size, "no message twice")
        // The rows are the stored messages: they open like any other.
        assertNotNull(engine.message(seen.first()))

        // All folders (null), and nothing found.
        val none = engine.searchServer(
            account.id, null, SearchQuery(subject = "no-such-subject-${System.nanoTime()}"), 10u, null, NetworkKind.METERED,
        )
        assertEquals(0u, none.total)
        assertNull(none.next)

        // Bad queries: a typed error, before anything is sent.
        for (bad in listOf(SearchQuery(), SearchQuery(text = "say \"hello"), SearchQuery(from = "a\nb"))) {
            assertFailsWith<AnvertException.InvalidQuery> {
                engine.searchServer(account.id, inbox.id, bad, 10u, null, NetworkKind.METERED)
            }
        }
        engine.close()
    }
}
