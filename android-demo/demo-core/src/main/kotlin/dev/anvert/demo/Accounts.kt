// Account setup as the form has it, and the one rule about passwords: the engine holds them
// in memory only, the app keeps them in platform secure storage and hands them over again
// after every start.
package dev.anvert.demo

import dev.anvert.Account
import dev.anvert.AccountProtocol
import dev.anvert.AccountSetup
import dev.anvert.Engine
import dev.anvert.Security

/** Secure storage for passwords: Android Keystore, iOS Keychain. Never plain preferences. */
interface PasswordStore {
    fun put(account: Long, password: String)
    fun get(account: Long): String?
    fun remove(account: Long)
}

/** The account setup screen's fields. An empty port means the protocol's standard port. */
data class AccountForm(
    val name: String = "",
    val protocol: AccountProtocol = AccountProtocol.AUTO,
    val host: String = "",
    val port: String = "",
    val security: Security = Security.TLS,
    val username: String = "",
    val password: String = "",
) {
    /** What to fix before the form can be submitted; empty when it is complete. */
    fun problems(): List<String> = buildList {
        if (host.isBlank()) add("server is missing")
        if (port.isNotBlank() && port.trim().toIntOrNull() !in 1..65535) add("port must be 1 to 65535")
        if (username.isBlank()) add("user is missing")
        if (password.isEmpty()) add("password is missing")
    }

    fun toSetup(): AccountSetup = AccountSetup(
        name = name.ifBlank { username.trim() },
        protocol = protocol,
        host = host.trim(),
        port = port.trim().toIntOrNull()?.toUShort(),
        security = security,
        username = username.trim(),
    )
}

class Accounts(private val engine: Engine, private val passwords: PasswordStore) {
    /** Adds the account and keeps its password; `AUTO` probes IMAP, then POP3. */
    suspend fun add(form: AccountForm): Account {
        require(form.problems().isEmpty()) { form.problems().joinToString() }
        val account = engine.addAccount(form.toSetup(), form.password)
        passwords.put(account.id, form.password)
        return account
    }

    /** After a start: the stored accounts, each handed its password from secure storage. */
    suspend fun restore(): List<Account> =
        engine.accounts().onEach { account ->
            passwords.get(account.id)?.let { engine.updatePassword(account.id, it) }
        }

    suspend fun remove(account: Long) {
        engine.removeAccount(account)
        passwords.remove(account)
    }
}
