package dev.anvert.demo.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import dev.anvert.AccountProtocol
import dev.anvert.Security
import dev.anvert.demo.AccountForm
import dev.anvert.demo.SyncUiState
import dev.anvert.demo.userMessage
import kotlinx.coroutines.launch

/** IMAP / POP3 / auto, server, port, security, user, password; verified by a first sync. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun AccountSetupScreen(app: AnvertApp, onAdded: (Long) -> Unit) {
    var form by rememberSaveable(stateSaver = AccountFormSaver) { mutableStateOf(AccountForm()) }
    var busy by rememberSaveable { mutableStateOf(false) }
    var error by rememberSaveable { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()

    fun submit() = scope.launch {
        busy = true
        error = null
        try {
            val accounts = app.accounts()
            val account = accounts.add(form)
            val repo = app.repository(account.id)
            repo.sync()
            val sync = repo.sync.value
            if (sync is SyncUiState.Failed && sync.needsPassword) {
                accounts.remove(account.id)
                error = sync.message
            } else {
                onAdded(account.id)
            }
        } catch (e: Exception) {
            error = e.userMessage()
        } finally {
            busy = false
        }
    }

    Scaffold(topBar = { TopAppBar(title = { Text("Add an account") }) }) { padding ->
        Column(
            Modifier.padding(padding).padding(16.dp).verticalScroll(rememberScrollState()),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            Choice("Protocol", AccountProtocol.entries, form.protocol, { it.name }) { form = form.copy(protocol = it) }
            Field("Server", form.host) { form = form.copy(host = it) }
            Field("Port (empty: standard)", form.port, KeyboardType.Number) { form = form.copy(port = it) }
            Choice("Security", Security.entries, form.security, { if (it == Security.DANGER_PLAINTEXT) "none" else it.name }) {
                form = form.copy(security = it)
            }
            Field("User", form.username, KeyboardType.Email) { form = form.copy(username = it) }
            OutlinedTextField(
                form.password, { form = form.copy(password = it) }, Modifier.fillMaxWidth(),
                label = { Text("Password") }, singleLine = true,
                visualTransformation = PasswordVisualTransformation(),
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
            )
            (error ?: form.problems().firstOrNull()?.takeIf { form.host.isNotEmpty() })?.let {
                Text(it, color = MaterialTheme.colorScheme.error)
            }
            Button({ submit() }, enabled = !busy && form.problems().isEmpty()) {
                Text(if (busy) "Checking…" else "Add account")
            }
        }
    }
}

@Composable
private fun Field(label: String, value: String, type: KeyboardType = KeyboardType.Text, onChange: (String) -> Unit) {
    OutlinedTextField(
        value, onChange, Modifier.fillMaxWidth(), label = { Text(label) }, singleLine = true,
        keyboardOptions = KeyboardOptions(keyboardType = type),
    )
}

@Composable
private fun <T> Choice(label: String, options: List<T>, selected: T, name: (T) -> String, onSelect: (T) -> Unit) {
    Text(label, style = MaterialTheme.typography.labelLarge)
    Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        options.forEach { option ->
            FilterChip(selected = option == selected, onClick = { onSelect(option) }, label = { Text(name(option)) })
        }
    }
}

/** Saves the form across rotation, except the password (it stays in memory only). */
private val AccountFormSaver = androidx.compose.runtime.saveable.Saver<AccountForm, List<String>>(
    save = { listOf(it.name, it.protocol.name, it.host, it.port, it.security.name, it.username) },
    restore = {
        AccountForm(it[0], AccountProtocol.valueOf(it[1]), it[2], it[3], Security.valueOf(it[4]), it[5])
    },
)
