package dev.anvert.demo.app

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import dev.anvert.demo.PasswordStore
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Passwords encrypted with an AES-GCM key that lives in the Android Keystore (it never leaves
 * it); the preferences file holds only the IV and the ciphertext.
 */
class KeystorePasswords(context: Context) : PasswordStore {
    private val prefs = context.getSharedPreferences("anvert-credentials", Context.MODE_PRIVATE)

    override fun put(account: Long, password: String) {
        val cipher = Cipher.getInstance(TRANSFORMATION).apply { init(Cipher.ENCRYPT_MODE, key()) }
        val sealed = cipher.doFinal(password.toByteArray(Charsets.UTF_8))
        prefs.edit().putString(account.toString(), "${b64(cipher.iv)}:${b64(sealed)}").apply()
    }

    override fun get(account: Long): String? {
        val stored = prefs.getString(account.toString(), null) ?: return null
        val (iv, sealed) = stored.split(':').map { Base64.decode(it, Base64.NO_WRAP) }
        val cipher = Cipher.getInstance(TRANSFORMATION).apply { init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(128, iv)) }
        return String(cipher.doFinal(sealed), Charsets.UTF_8)
    }

    override fun remove(account: Long) {
        prefs.edit().remove(account.toString()).apply()
    }

    private fun key(): SecretKey {
        val keystore = KeyStore.getInstance(KEYSTORE).apply { load(null) }
        (keystore.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        val spec = KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .build()
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE).apply { init(spec) }.generateKey()
    }

    private fun b64(bytes: ByteArray) = Base64.encodeToString(bytes, Base64.NO_WRAP)

    private companion object {
        const val KEYSTORE = "AndroidKeyStore"
        const val ALIAS = "anvert-passwords"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
    }
}
