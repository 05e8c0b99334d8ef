package dev.anvert.demo.app

import android.net.Uri
import android.provider.OpenableColumns
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
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
import androidx.compose.material3.Checkbox
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import dev.anvert.demo.ComposeAttachment
import dev.anvert.demo.ComposeForm
import dev.anvert.demo.MailRepository
import dev.anvert.demo.Outbox
import dev.anvert.demo.userMessage
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** The account's outbox while the screen shows, closed with it. */
@Composable
private fun rememberOutbox(repo: MailRepository): Outbox? {
    val outbox by produceState<Outbox?>(null, repo) { value = repo.outbox() }
    DisposableEffect(outbox) { onDispose { outbox?.close() } }
    return outbox
}

/**
 * New message (to, cc, bcc, subject, text, attachments), or with `forwardOf` a forward of
 * that message (to, text, attachments taken from the server). Sending queues at once; the
 * outbox screen shows how it went.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun ComposeScreen(repo: MailRepository, forwardOf: Long?, onQueued: () -> Unit) {
    val outbox = rememberOutbox(repo) ?: return Loading()
    val context = LocalContext.current
    val scope = rememberCoroutineScope()
    var form by remember { mutableStateOf(ComposeForm()) }
    var withAttachments by remember { mutableStateOf(true) }
    var error by remember { mutableStateOf<String?>(null) }
    val pick = rememberLauncherForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? ->
        if (uri == null) return@rememberLauncherForActivityResult
        scope.launch {
            val resolver = context.contentResolver
            val attachment = withContext(Dispatchers.IO) {
                val name = resolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME), null, null, null)?.use { c ->
                    if (c.moveToFirst()) c.getString(0) else null
                } ?: "attachment"
                val bytes = resolver.openInputStream(uri)?.use { it.readBytes() } ?: ByteArray(0)
                ComposeAttachment(name, resolver.getType(uri) ?: "application/octet-stream", bytes)
            }
            form = form.copy(attachments = form.attachments + attachment)
        }
    }
    val problems = if (forwardOf == null) form.problems() else emptyList()
    Scaffold(topBar = {
        TopAppBar(title = { Text(if (forwardOf == null) "New message" else "Forward") }, actions = {
            TextButton(
                {
                    scope.launch {
                        error = try {
                            if (forwardOf == null) outbox.send(form) else outbox.forward(forwardOf, form.to, form.text, withAttachments)
                            onQueued()
                            null
                        } catch (e: Exception) {
                            e.userMessage()
                        }
                    }
                },
                enabled = if (forwardOf == null) problems.isEmpty() else form.to.isNotBlank(),
            ) { Text("Send") }
        })
    }) { padding ->
        Column(Modifier.padding(padding).padding(16.dp).verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedTextField(form.to, { form = form.copy(to = it) }, label = { Text("To") }, modifier = Modifier.fillMaxWidth())
            if (forwardOf == null) {
                OutlinedTextField(form.cc, { form = form.copy(cc = it) }, label = { Text("Cc") }, modifier = Modifier.fillMaxWidth())
                OutlinedTextField(form.bcc, { form = form.copy(bcc = it) }, label = { Text("Bcc") }, modifier = Modifier.fillMaxWidth())
                OutlinedTextField(form.subject, { form = form.copy(subject = it) }, label = { Text("Subject") }, modifier = Modifier.fillMaxWidth())
            }
            OutlinedTextField(form.text, { form = form.copy(text = it) }, label = { Text("Text") }, modifier = Modifier.fillMaxWidth().heightIn(min = 160.dp))
            if (forwardOf == null) {
                form.attachments.forEach { a -> Text("📎 ${a.name} (${a.bytes.size} bytes)") }
                TextButton({ pick.launch("*/*") }) { Text("Attach") }
            } else {
                Row { Checkbox(withAttachments, { withAttachments = it }); Text("Include the attachments (sent from the server)", Modifier.padding(top = 12.dp)) }
            }
            (problems.filter { form.to.isNotBlank() || form.cc.isNotBlank() || form.bcc.isNotBlank() } + listOfNotNull(error)).forEach {
                Text(it, color = MaterialTheme.colorScheme.error)
            }
        }
    }
}

/** The outbox: each entry's status, refused recipients, "send now" and cancel. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun OutboxScreen(repo: MailRepository) {
    val outbox = rememberOutbox(repo) ?: return Loading()
    val state by outbox.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    Scaffold(topBar = {
        TopAppBar(title = { Text("Outbox") }, actions = { TextButton({ scope.launch { outbox.sendNow() } }) { Text("Send now") } })
    }) { padding ->
        Column(Modifier.padding(padding)) {
            state.error?.let { Text(it, Modifier.padding(16.dp), color = MaterialTheme.colorScheme.error) }
            LazyColumn {
                items(state.rows, key = { it.id }) { row ->
                    ListItem(
                        headlineContent = { Text(row.subject) },
                        supportingContent = {
                            Column {
                                Text(row.status)
                                row.failures.forEach { Text(it, color = MaterialTheme.colorScheme.error) }
                            }
                        },
                        trailingContent = {
                            if (row.canCancel) TextButton({ scope.launch { outbox.cancel(row.id) } }) { Text("Remove") }
                        },
                    )
                }
            }
        }
    }
}
