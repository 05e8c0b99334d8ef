package dev.anvert.demo.app

import android.app.Application
import android.util.Log
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import dev.anvert.AccountProtocol
import dev.anvert.Engine
import dev.anvert.EngineConfig
import dev.anvert.LogLevel
import dev.anvert.Logger
import dev.anvert.demo.Accounts
import dev.anvert.demo.EngineLifecycle
import dev.anvert.demo.MailRepository
import dev.anvert.demo.PlatformCharsets
import dev.anvert.demo.Push
import dev.anvert.demo.lifecycleSink
import dev.anvert.demo.toNetworkKind
import dev.anvert.setLogger
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext

/** The app's one engine and its per-account state, for the screens and the worker. */
class AnvertApp : Application() {
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    lateinit var network: NetworkMonitor
        private set
    private lateinit var passwords: KeystorePasswords

    // Opening reads the store: never on the main thread (see engine()).
    private val engine by lazy {
        Engine.open(
            EngineConfig(
                dataDir = filesDir.resolve("anvert").path,
                cacheBudgetBytes = 256uL shl 20,
                extraCaPem = BuildConfig.EXTRA_CA_PEM,
                logLevel = LogLevel.INFO,
            ),
        )
    }
    private val repositories = mutableMapOf<Long, MailRepository>()
    private val lock = Mutex()

    /** The process is visible (ProcessLifecycleOwner onStart/onStop); false until it is. */
    private val foreground = MutableStateFlow(false)

    override fun onCreate() {
        super.onCreate()
        network = NetworkMonitor(this).also { it.start() }
        passwords = KeystorePasswords(this)
        setLogger(object : Logger {
            override fun log(level: LogLevel, target: String, message: String) {
                val priority = when (level) {
                    LogLevel.ERROR -> Log.ERROR
                    LogLevel.WARN -> Log.WARN
                    LogLevel.DEBUG -> Log.DEBUG
                    else -> Log.INFO
                }
                Log.println(priority, "anvert", "$target: $message")
            }
        }, LogLevel.INFO)
        // Before any sync: CJK mail is decoded with the platform's charsets.
        PlatformCharsets.install()
        SyncWorker.schedule(this)
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStart(owner: LifecycleOwner) {
                foreground.value = true
            }

            override fun onStop(owner: LifecycleOwner) {
                foreground.value = false
            }
        })
        ProcessLifecycleOwner.get().lifecycle.addObserver(ForegroundPush())
        // The engine hears the lifecycle: warm connections in the foreground, closed after the
        // work in the background, dropped when the network changes. The flows keep the order
        // and hand over the latest state once the engine is open.
        scope.launch {
            val lifecycle = EngineLifecycle(engine().lifecycleSink())
            launch { foreground.collect { lifecycle.onForeground(it) } }
            network.status.collect { lifecycle.onNetwork(it) }
        }
    }

    suspend fun engine(): Engine = withContext(Dispatchers.IO) { engine }

    suspend fun accounts(): Accounts = Accounts(engine(), passwords)

    /** Hands the engine the stored passwords (they live in memory only there); once per process. */
    private var restored = false
    suspend fun restore() = lock.withLock {
        if (!restored) {
            accounts().restore()
            restored = true
        }
    }

    suspend fun repository(account: Long): MailRepository {
        restore()
        val engine = engine()
        return lock.withLock {
            repositories.getOrPut(account) {
                MailRepository(engine, account, network.status, cacheDir.resolve("downloads").path, scope)
            }
        }
    }

    /**
     * IDLE only while the app is in the foreground (and restarted when the network kind
     * changes); WorkManager covers the background.
     */
    private inner class ForegroundPush : DefaultLifecycleObserver {
        private var job: Job? = null
        private val pushes = mutableListOf<Push>()

        override fun onStart(owner: LifecycleOwner) {
            job = scope.launch {
                val imap = engine().accounts().filter { it.protocol == AccountProtocol.IMAP }
                val started = imap.map { repository(it.id).push() }
                synchronized(pushes) { pushes += started }
                network.status.map { it.toNetworkKind() }.distinctUntilChanged().collect {
                    started.forEach(Push::start)
                }
            }
        }

        override fun onStop(owner: LifecycleOwner) {
            job?.cancel()
            synchronized(pushes) {
                pushes.forEach(Push::stop)
                pushes.clear()
            }
        }
    }
}
