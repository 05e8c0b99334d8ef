package dev.anvert.demo.app

import android.text.format.DateUtils
import android.text.format.Formatter
import android.webkit.WebView
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Badge
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import dev.anvert.DownloadState
import dev.anvert.Folder
import dev.anvert.MessageSummary
import dev.anvert.Part
import dev.anvert.demo.DownloadUiState
import dev.anvert.demo.MailRepository
import dev.anvert.demo.OpenedMessage
import dev.anvert.demo.SyncUiState
import dev.anvert.demo.userMessage
import kotlinx.coroutines.launch

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun FoldersScreen(
    repo: MailRepository,
    onOpen: (Folder) -> Unit,
    onUsage: () -> Unit,
    onCompose: () -> Unit = {},
    onOutbox: () -> Unit = {},
) {
    val folders by repo.folders.collectAsStateWithLifecycle()
    val sync by repo.sync.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    LaunchedEffect(repo) { if (sync == SyncUiState.Idle) repo.sync() }
    Scaffold(topBar = {
        TopAppBar(title = { Text("Folders") }, actions = {
            TextButton({ scope.launch { repo.sync() } }, enabled = sync != SyncUiState.Running) { Text("Sync") }
            TextButton(onCompose) { Text("Write") }
            TextButton(onOutbox) { Text("Outbox") }
            TextButton(onUsage) { Text("Usage") }
        })
    }) { padding ->
        Column(Modifier.padding(padding)) {
            SyncBanner(sync)
            LazyColumn {
                items(folders.folders, key = { it.id }) { folder ->
                    ListItem(
                        headlineContent = { Text(folder.name) },
                        supportingContent = { Text("${folder.total} messages") },
                        trailingContent = { if (folder.unread > 0u) Badge { Text("${folder.unread}") } },
                        modifier = Modifier.clickable { onOpen(folder) },
                    )
                }
            }
        }
    }
}

@Composable
private fun SyncBanner(sync: SyncUiState) {
    when (sync) {
        SyncUiState.Running -> LinearProgressIndicator(Modifier.fillMaxWidth())
        is SyncUiState.Failed -> Text(sync.message, Modifier.padding(16.dp), color = MaterialTheme.colorScheme.error)
        else -> Unit
    }
}

/** The list fills in as the engine commits each window of headers (from its listener). */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun MessagesScreen(repo: MailRepository, folder: Long, name: String, onOpen: (Long) -> Unit) {
    val list = remember(folder) { repo.messageList(folder) }
    DisposableEffect(list) { onDispose { list.close() } }
    val state by list.state.collectAsStateWithLifecycle()
    Scaffold(topBar = { TopAppBar(title = { Text(name) }) }) { padding ->
        Column(Modifier.padding(padding)) {
            state.progress?.let { (synced, total) ->
                LinearProgressIndicator({ synced.toFloat() / total }, Modifier.fillMaxWidth())
            }
            if (!state.loaded) Loading()
            LazyColumn {
                items(state.messages, key = { it.id }) { message -> MessageRow(message) { onOpen(message.id) } }
                if (state.messages.isNotEmpty()) {
                    item { TextButton({ list.showMore() }, Modifier.fillMaxWidth()) { Text("Show more") } }
                }
            }
        }
    }
}

@Composable
private fun MessageRow(message: MessageSummary, onClick: () -> Unit) {
    val unread = !message.flags.seen
    ListItem(
        overlineContent = { Text(message.from.firstOrNull()?.let { it.name ?: it.email }.orEmpty(), maxLines = 1) },
        headlineContent = {
            Text(
                (if (message.hasAttachments) "📎 " else "") + message.subject.ifEmpty { "(no subject)" },
                fontWeight = if (unread) FontWeight.Bold else FontWeight.Normal,
                maxLines = 1, overflow = TextOverflow.Ellipsis,
            )
        },
        supportingContent = { message.preview?.let { Text(it, maxLines = 2, overflow = TextOverflow.Ellipsis) } },
        trailingContent = { Text(DateUtils.getRelativeTimeSpanString(message.internalDate * 1000).toString()) },
        modifier = Modifier.clickable(onClick = onClick),
    )
    HorizontalDivider()
}

/** The body (fetched when opened, only the readable part) and the attachments. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun MessageScreen(repo: MailRepository, id: Long, onForward: () -> Unit = {}) {
    val opened by produceState<Result<OpenedMessage>?>(null, id) { value = runCatching { repo.open(id) } }
    Scaffold(topBar = {
        TopAppBar(
            title = { Text(opened?.getOrNull()?.detail?.summary?.subject.orEmpty(), maxLines = 1) },
            actions = { TextButton(onForward) { Text("Forward") } },
        )
    }) { padding ->
        val modifier = Modifier.padding(padding).padding(16.dp)
        when (val result = opened) {
            null -> Loading()
            else -> result.fold(
                onSuccess = { MessageContent(repo, it, modifier) },
                onFailure = { Text(it.userMessage(), modifier, color = MaterialTheme.colorScheme.error) },
            )
        }
    }
}

@Composable
private fun MessageContent(repo: MailRepository, message: OpenedMessage, modifier: Modifier) {
    Column(modifier.verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(
            message.detail.summary.from.joinToString { a -> a.name?.let { "$it <${a.email}>" } ?: a.email },
            style = MaterialTheme.typography.labelLarge,
        )
        val text = message.body.text
        val html = message.body.html
        when {
            text != null -> Text(text)
            html != null -> AndroidView(
                factory = { context ->
                    WebView(context).apply {
                        settings.javaScriptEnabled = false
                        settings.blockNetworkLoads = true // no remote images: no tracking, no surprise bytes
                    }
                },
                update = { it.loadDataWithBaseURL(null, html, "text/html", "utf-8", null) },
                modifier = Modifier.fillMaxWidth().heightIn(min = 200.dp),
            )
        }
        message.detail.parts.filter { it.isAttachment }.forEach { part ->
            HorizontalDivider()
            Attachment(repo, message.detail.summary.id, part)
        }
    }
}

/** Download with a progress bar, cancel and resume (a partial download continues where it stopped). */
@Composable
private fun Attachment(repo: MailRepository, message: Long, part: Part) {
    val download = remember(message, part.section) { repo.download(message, part.section) }
    DisposableEffect(download) { onDispose { download.close() } }
    val state by download.state.collectAsStateWithLifecycle()
    val context = LocalContext.current
    Column(Modifier.fillMaxWidth()) {
        Text("${part.filename ?: part.mimeType} · ${Formatter.formatShortFileSize(context, part.size.toLong())}")
        Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            when (val s = state) {
                DownloadUiState.Idle -> OutlinedButton(download::start) {
                    Text(if (part.downloadState == DownloadState.PARTIAL) "Resume" else "Download")
                }
                is DownloadUiState.Running -> {
                    LinearProgressIndicator({ s.fraction }, Modifier.weight(1f))
                    TextButton(download::cancel) { Text("Cancel") }
                }
                is DownloadUiState.Cancelled -> {
                    LinearProgressIndicator({ if (s.total > 0) s.done.toFloat() / s.total else 0f }, Modifier.weight(1f))
                    OutlinedButton(download::start) { Text("Resume") }
                }
                is DownloadUiState.Failed -> {
                    Text(s.message, Modifier.weight(1f), color = MaterialTheme.colorScheme.error)
                    OutlinedButton(download::start) { Text("Retry") }
                }
                is DownloadUiState.Done -> Text("Saved: ${s.path.substringAfterLast('/')}")
            }
        }
    }
}
