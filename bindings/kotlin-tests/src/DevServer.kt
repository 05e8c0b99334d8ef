// The private Dovecot that scripts/kotlin-test.sh starts (anvert-devserver) for these tests:
// its connection details, read from the environment the script exports.
package dev.anvert.tests

import java.io.File

object DevServer {
    private fun env(name: String): String =
        System.getenv(name)?.takeIf { it.isNotEmpty() }
            ?: error("$name is not set: run the Kotlin tests with scripts/kotlin-test.sh")

    val host: String get() = env("ANVERT_HOST")
    val imapsPort: Int get() = env("ANVERT_IMAPS_PORT").toInt()
    val imapPort: Int get() = env("ANVERT_IMAP_PORT").toInt()
    val pop3sPort: Int get() = env("ANVERT_POP3S_PORT").toInt()
    val pop3Port: Int get() = env("ANVERT_POP3_PORT").toInt()

    /** The test CA's certificate file; [caPem] is its PEM text, as `Engine.open` takes it. */
    val caPath: File get() = File(env("ANVERT_CA"))
    val caPem: String get() = caPath.readText()

    val user: String get() = env("ANVERT_USER")
    val password: String get() = env("ANVERT_PASSWORD")

    /** Messages generated into INBOX, and their total size in bytes. */
    val messages: Int get() = env("ANVERT_MESSAGES").toInt()
    val mailboxBytes: Long get() = env("ANVERT_MAILBOX_BYTES").toLong()

    /** Dovecot's submission listeners (implicit TLS, like 465; STARTTLS, like 587). */
    val submissionsPort: Int get() = env("ANVERT_SUBMISSIONS_PORT").toInt()
    val submissionPort: Int get() = env("ANVERT_SUBMISSION_PORT").toInt()

    /** A second user whose user name is an address (a forward is sent from it), with a few
     *  small messages that all carry attachments; [senderTruth] says what they decode to. */
    val sender: String get() = env("ANVERT_SENDER")
    val senderPassword: String get() = env("ANVERT_SENDER_PASSWORD")
    val senderTruth: File get() = File(env("ANVERT_SENDER_TRUTH"))

    /** Where the dev server writes what its SMTP receiver (Dovecot's relay target) got:
     *  `N.rcpt` (recipients, one a line), then `N.eml` (the delivered message). */
    val spool: File get() = File(env("ANVERT_SPOOL"))

    /** A third user whose INBOX holds one message per charset the library leaves to the app;
     *  [charsetTruth] says what each decodes to (anvert_tests::charsets). */
    val charsetUser: String get() = env("ANVERT_CHARSET_USER")
    val charsetPassword: String get() = env("ANVERT_CHARSET_PASSWORD")
    val charsetTruth: File get() = File(env("ANVERT_CHARSET_TRUTH"))
}
