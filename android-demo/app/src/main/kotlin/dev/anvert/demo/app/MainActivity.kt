package dev.anvert.demo.app

import android.net.Uri
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.produceState
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.navigation.NavType
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import androidx.navigation.navArgument
import dev.anvert.demo.MailRepository

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        val app = application as AnvertApp
        setContent {
            MaterialTheme { DemoNavigation(app) }
        }
    }
}

/** setup -> folders -> messages -> message; usage from the folder list. One account at a time. */
@Composable
private fun DemoNavigation(app: AnvertApp) {
    val firstAccount by produceState<Long?>(initialValue = null) {
        app.restore()
        value = app.engine().accounts().firstOrNull()?.id ?: -1L
    }
    val start = firstAccount ?: return Loading()
    val nav = rememberNavController()
    val account = navArgument("account") { type = NavType.LongType }
    NavHost(nav, startDestination = if (start < 0) "setup" else "folders/$start") {
        composable("setup") {
            AccountSetupScreen(app) { id -> nav.navigate("folders/$id") { popUpTo("setup") { inclusive = true } } }
        }
        composable("folders/{account}", listOf(account)) { entry ->
            WithRepository(app, entry.arguments!!.getLong("account")) { repo ->
                FoldersScreen(
                    repo,
                    onOpen = { folder -> nav.navigate("messages/${repo.account}/${folder.id}?name=${Uri.encode(folder.name)}") },
                    onUsage = { nav.navigate("usage/${repo.account}") },
                    onCompose = { nav.navigate("compose/${repo.account}") },
                    onOutbox = { nav.navigate("outbox/${repo.account}") },
                )
            }
        }
        composable(
            "messages/{account}/{folder}?name={name}",
            listOf(account, navArgument("folder") { type = NavType.LongType }, navArgument("name") { defaultValue = "" }),
        ) { entry ->
            val args = entry.arguments!!
            WithRepository(app, args.getLong("account")) { repo ->
                MessagesScreen(repo, args.getLong("folder"), args.getString("name").orEmpty()) { id ->
                    nav.navigate("message/${repo.account}/$id")
                }
            }
        }
        composable("message/{account}/{id}", listOf(account, navArgument("id") { type = NavType.LongType })) { entry ->
            val args = entry.arguments!!
            WithRepository(app, args.getLong("account")) { repo ->
                MessageScreen(repo, args.getLong("id")) { nav.navigate("compose/${repo.account}?forward=${args.getLong("id")}") }
            }
        }
        composable(
            "compose/{account}?forward={forward}",
            listOf(account, navArgument("forward") { type = NavType.LongType; defaultValue = -1L }),
        ) { entry ->
            val args = entry.arguments!!
            WithRepository(app, args.getLong("account")) { repo ->
                ComposeScreen(repo, args.getLong("forward").takeIf { it >= 0 }) {
                    nav.navigate("outbox/${repo.account}") { popUpTo("folders/{account}") }
                }
            }
        }
        composable("outbox/{account}", listOf(account)) { entry ->
            WithRepository(app, entry.arguments!!.getLong("account")) { repo -> OutboxScreen(repo) }
        }
        composable("usage/{account}", listOf(account)) { entry ->
            WithRepository(app, entry.arguments!!.getLong("account")) { repo -> UsageScreen(repo) }
        }
    }
}

@Composable
private fun WithRepository(app: AnvertApp, account: Long, content: @Composable (MailRepository) -> Unit) {
    val repo by produceState<MailRepository?>(initialValue = null, account) { value = app.repository(account) }
    repo?.let { content(it) } ?: Loading()
}

@Composable
fun Loading() {
    Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) { CircularProgressIndicator() }
}
