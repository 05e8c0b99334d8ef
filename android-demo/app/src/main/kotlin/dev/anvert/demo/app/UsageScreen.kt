package dev.anvert.demo.app

import android.text.format.Formatter
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import dev.anvert.demo.MailRepository

/** The engine's byte ledger: wire bytes by network kind and purpose. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun UsageScreen(repo: MailRepository) {
    val usage by repo.usage.collectAsStateWithLifecycle()
    val context = LocalContext.current
    fun size(bytes: Long) = Formatter.formatShortFileSize(context, bytes)
    LaunchedEffect(repo) { repo.refreshUsage() }
    Scaffold(topBar = { TopAppBar(title = { Text("Data usage · ${size(usage.totalBytes)}") }) }) { padding ->
        LazyColumn(Modifier.padding(padding)) {
            usage.byNetwork.forEach { (network, rows) ->
                item(key = network) {
                    Text(network, Modifier.padding(16.dp), style = MaterialTheme.typography.titleMedium)
                }
                items(rows, key = { "$network/${it.purpose}" }) { row ->
                    ListItem(
                        headlineContent = { Text(row.purpose.replace('_', ' ')) },
                        trailingContent = { Text("↓ ${size(row.bytesDown.toLong())}  ↑ ${size(row.bytesUp.toLong())}") },
                    )
                }
            }
        }
    }
}
