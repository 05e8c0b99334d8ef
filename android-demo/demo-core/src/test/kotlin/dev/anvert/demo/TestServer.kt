// The private Dovecot that scripts/kotlin-test.sh starts, from the ANVERT_* variables it
// exports, and the truth file of what each generated part decodes to.
package dev.anvert.demo

import dev.anvert.AccountProtocol
import dev.anvert.Engine
import dev.anvert.EngineConfig
import dev.anvert.LogLevel
import dev.anvert.Security
import java.io.File
import java.nio.file.Files
import java.security.MessageDigest

object TestServer {
    private fun env(name: String): String =
        System.getenv(name)?.takeIf { it.isNotEmpty() }
            ?: error("$name is not set: run these tests with scripts/kotlin-test.sh")

    val messages: Int get() = env("ANVERT_MESSAGES").toInt()
    val password: String get() = env("ANVERT_PASSWORD")

    /** The form a user would fill in for the dev server's IMAP account. */
    fun form(): AccountForm = AccountForm(
        name = "Demo",
        protocol = AccountProtocol.IMAP,
        host = env("ANVERT_HOST"),
        port = env("ANVERT_IMAPS_PORT"),
        security = Security.TLS,
        username = env("ANVERT_USER"),
        password = password,
    )

    /** The dev server's second user, whose user name is an address (it can send). */
    fun senderForm(): AccountForm = form().copy(name = "Carol", username = env("ANVERT_SENDER"), password = env("ANVERT_SENDER_PASSWORD"))

    /** Dovecot's submission listener with implicit TLS. */
    fun submission(): dev.anvert.SubmissionServer =
        dev.anvert.SubmissionServer(host = env("ANVERT_HOST"), port = env("ANVERT_SUBMISSIONS_PORT").toUShort(), security = Security.TLS)

    /** The messages the dev server's SMTP receiver got (`N.eml`). */
    fun delivered(): List<File> = File(env("ANVERT_SPOOL")).listFiles().orEmpty().filter { it.name.endsWith(".eml") }

    fun openEngine(): Engine = Engine.open(
        EngineConfig(dataDir = tempDir("engine").path, extraCaPem = File(env("ANVERT_CA")).readText(), logLevel = LogLevel.WARN),
    )

    /** (Message-ID without brackets, section) to (decoded size, sha256). */
    fun truths(): Map<Pair<String, String>, Pair<Long, String>> =
        File(env("ANVERT_TRUTH")).readLines().filter { it.isNotBlank() }.associate { line ->
            val f = line.split('\t')
            (f[0] to f[1]) to (f[2].toLong() to f[3])
        }
}

/** Passwords in memory, for tests (the apps use the Keystore / Keychain). */
class MemoryPasswords : PasswordStore {
    private val map = java.util.concurrent.ConcurrentHashMap<Long, String>()
    override fun put(account: Long, password: String) { map[account] = password }
    override fun get(account: Long): String? = map[account]
    override fun remove(account: Long) { map.remove(account) }
}

fun tempDir(name: String): File = Files.createTempDirectory("anvert-demo-$name").toFile()

fun sha256(file: File): String =
    MessageDigest.getInstance("SHA-256").digest(file.readBytes()).joinToString("") { "%02x".format(it) }
