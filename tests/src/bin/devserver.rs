//! `anvert-devserver`: a private Dovecot with a generated mailbox, for trying the `anvert`
//! CLI (and the demos) against a real server on this machine. It writes the connection
//! details to an env file and runs until SIGINT/SIGTERM, then stops Dovecot and cleans up.
//!
//! Dovecot runs with its submission service (BURL, URLAUTH, CATENATE: `--no-submission`
//! leaves it out), relaying to the harness's SMTP receiver; each message the receiver
//! accepts is written to the spool directory (`ANVERT_SPOOL`) as `N.rcpt` (the accepted
//! recipients, one a line) then `N.eml` (the delivered bytes without Dovecot's trace
//! header), each renamed into place whole, `N` counting from 1.

use std::path::PathBuf;

use anvert_tests::{
    dovecot::{Dovecot, DovecotOptions, SubmissionOptions},
    generator::{GenConfig, SizeMix, mailbox_summary},
    smtp_sink::SmtpSink,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Run a private Dovecot with a generated mailbox")]
struct Args {
    /// Messages to generate into INBOX.
    #[arg(long, default_value_t = 300)]
    messages: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Attachment size mix: "default" (long tail up to 20 MB+), "small", "none", or "app"
    /// (a third of the messages with attachments, about half of those 1–4 MiB: what the
    /// bindings' and demos' download tests need).
    #[arg(long, default_value = "default")]
    mix: String,
    /// Accepted for older scripts: the submission service is on unless `--no-submission`.
    #[arg(long, hide = true, conflicts_with = "no_submission")]
    submission: bool,
    /// Where to write the connection details (shell `KEY=value` lines).
    #[arg(long, default_value = "target/anvert-devserver.env")]
    env_file: PathBuf,
    /// Start Dovecot without its submission service (faster; nothing can be sent).
    #[arg(long)]
    no_submission: bool,
}

/// The second user: its user name is an address, as a forward's sender must be.
const SENDER: &str = "carol@localhost";
/// The user whose INBOX is the charset corpus (anvert_tests::charsets).
const CHARSET_USER: &str = "dora";

/// One line per leaf part: `message-id TAB section TAB decoded size TAB sha256`.
fn truth_lines(truths: &[anvert_tests::generator::MessageTruth]) -> String {
    let mut lines = String::new();
    for truth in truths {
        for part in &truth.parts {
            lines.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                truth.message_id, part.section, part.decoded_size, part.sha256
            ));
        }
    }
    lines
}

/// Writes every message the receiver accepts into `spool`, as it arrives.
async fn spool(sink: SmtpSink, spool: PathBuf) {
    let mut written = 0usize;
    loop {
        // Waits for the next message (the receiver's counter, no polling); a year is "ever".
        let all = sink
            .wait_for_messages(written + 1, std::time::Duration::from_secs(365 * 86_400))
            .await;
        for received in &all[written..] {
            written += 1;
            let write = |ext: &str, bytes: &[u8]| -> std::io::Result<()> {
                let tmp = spool.join(format!(".{written}.{ext}.tmp"));
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, spool.join(format!("{written}.{ext}")))
            };
            let rcpt = received.rcpt_to.join("\n") + "\n";
            if let Err(e) = write("rcpt", rcpt.as_bytes())
                .and_then(|()| write("eml", &received.data_without_trace()))
            {
                eprintln!("anvert-devserver: writing the spool failed: {e}");
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mix = match args.mix.as_str() {
        "small" => SizeMix::small(),
        "none" => SizeMix::none(),
        "app" => SizeMix {
            attachment_prob: 0.33,
            medium_prob: 0.5,
            huge_prob: 0.0,
            max_attachment: 4 << 20,
        },
        _ => SizeMix::default(),
    };
    let mut options = DovecotOptions {
        submission: (!args.no_submission).then(SubmissionOptions::default),
        ..DovecotOptions::default()
    };
    // A sender whose user name is an address (a forward is sent from the account's user
    // name), with a few small messages that all carry attachments.
    options
        .users
        .push((SENDER.into(), "carol-secret-pw".into()));
    // A user whose INBOX is one message per charset the mobile library leaves to the app.
    options
        .users
        .push((CHARSET_USER.into(), "dora-secret-pw".into()));
    let server = Dovecot::start_with(options);
    let config = GenConfig {
        seed: args.seed,
        count: args.messages,
        mix,
        ..GenConfig::default()
    };
    let truths = server.deliver_generated("alice", None, &config);
    let summary = mailbox_summary(&truths);
    let charset_mail = anvert_tests::charsets::corpus();
    anvert_tests::charsets::write_maildir(&server.maildir(CHARSET_USER), &charset_mail)?;
    server.fix_ownership();
    let charset_truth_file = args.env_file.with_extension("charsets.tsv");
    std::fs::write(
        &charset_truth_file,
        anvert_tests::charsets::truth_lines(&charset_mail),
    )?;
    let sender_truths = server.deliver_generated(
        SENDER,
        None,
        &GenConfig {
            seed: args.seed + 1,
            count: 4,
            mix: SizeMix {
                attachment_prob: 1.0,
                medium_prob: 0.0,
                huge_prob: 0.0,
                max_attachment: 64 << 10,
            },
            ..GenConfig::default()
        },
    );
    // What each part decodes to, for clients that check their downloads: one line per leaf
    // part, `message-id TAB section TAB decoded size TAB sha256`.
    let truth_file = args.env_file.with_extension("truth.tsv");
    let lines = truth_lines(&truths);
    let sender_truth_file = args.env_file.with_extension("sender-truth.tsv");
    std::fs::write(&sender_truth_file, truth_lines(&sender_truths))?;
    let spool_dir = args.env_file.with_extension("spool");
    let sent_dir = args.env_file.with_extension("sent");
    let mut submission_env = String::new();
    if !args.no_submission {
        let _ = std::fs::remove_dir_all(&spool_dir);
        std::fs::create_dir_all(&spool_dir)?;
        submission_env = format!(
            "ANVERT_SUBMISSIONS_PORT={}\nANVERT_SUBMISSION_PORT={}\nANVERT_SPOOL={}\n\
             ANVERT_SENDER={SENDER}\nANVERT_SENDER_PASSWORD={}\nANVERT_SENDER_TRUTH={}\n",
            server.submissions_addr().port(),
            server.submission_addr().port(),
            spool_dir.display(),
            server.password(SENDER),
            sender_truth_file.display(),
        );
        tokio::spawn(spool(server.smtp_sink().clone(), spool_dir.clone()));
        // The receiver's own copies too (`NNNN.eml` with its trace header, `NNNN.envelope`).
        let _ = std::fs::remove_dir_all(&sent_dir);
        server.smtp_sink().save_into(Some(sent_dir.clone()));
        submission_env.push_str(&format!("ANVERT_SENT_DIR={}\n", sent_dir.display()));
    }
    let env = format!(
        "ANVERT_HOST=127.0.0.1\nANVERT_IMAPS_PORT={}\nANVERT_IMAP_PORT={}\nANVERT_POP3S_PORT={}\nANVERT_POP3_PORT={}\nANVERT_CA={}\nANVERT_USER=alice\nANVERT_PASSWORD={}\nANVERT_MESSAGES={}\nANVERT_MAILBOX_BYTES={}\nANVERT_TRUTH={}\nANVERT_CHARSET_USER={CHARSET_USER}\nANVERT_CHARSET_PASSWORD={}\nANVERT_CHARSET_TRUTH={}\n{}",
        server.ports.imaps,
        server.ports.imap,
        server.ports.pop3s,
        server.ports.pop3,
        server.pki.ca_path.display(),
        server.password("alice"),
        truths.len(),
        summary.total_bytes,
        truth_file.display(),
        server.password(CHARSET_USER),
        charset_truth_file.display(),
        submission_env,
    );
    if let Some(dir) = args.env_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&truth_file, lines)?;
    std::fs::write(&args.env_file, env)?;
    eprintln!(
        "anvert-devserver: Dovecot on 127.0.0.1 (imaps {}, imap {}, pop3s {}, pop3 {}), {} messages, {} bytes; details in {}",
        server.ports.imaps,
        server.ports.imap,
        server.ports.pop3s,
        server.ports.pop3,
        truths.len(),
        summary.total_bytes,
        args.env_file.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = std::fs::remove_file(&args.env_file);
    let _ = std::fs::remove_file(&truth_file);
    let _ = std::fs::remove_dir_all(&spool_dir);
    let _ = std::fs::remove_dir_all(&sent_dir);
    let _ = std::fs::remove_file(&sender_truth_file);
    let _ = std::fs::remove_file(&charset_truth_file);
    drop(server);
    Ok(())
}
