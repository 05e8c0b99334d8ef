package dev.anvert.demo.app

import android.content.Context
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import dev.anvert.demo.SyncTrigger
import dev.anvert.demo.SyncUiState
import java.util.concurrent.TimeUnit

/**
 * Background sync: every account, with the network kind of the moment and WorkManager's
 * deadline (the engine stops at a clean point before WorkManager's 10 minutes end; the next
 * run continues).
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as AnvertApp
        app.restore()
        var retry = false
        for (account in app.engine().accounts()) {
            val repository = app.repository(account.id)
            repository.sync(SyncTrigger.WorkManager)
            val state = repository.sync.value
            // A wrong password waits for the user; anything else (network) is retried later.
            if (state is SyncUiState.Failed && !state.needsPassword) retry = true
        }
        return if (retry) Result.retry() else Result.success()
    }

    companion object {
        fun schedule(context: Context) {
            val request = PeriodicWorkRequestBuilder<SyncWorker>(30, TimeUnit.MINUTES)
                .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
                .build()
            WorkManager.getInstance(context)
                .enqueueUniquePeriodicWork("anvert-sync", ExistingPeriodicWorkPolicy.KEEP, request)
        }
    }
}
