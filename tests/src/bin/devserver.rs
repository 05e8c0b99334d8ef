//! `anvert-devserver`: a private Dovecot with a generated mailbox, for trying the `anvert`
//! CLI (and the demos) against a real server on this machine. It writes the connection
//! details to an env file and runs until SIGINT/SIGTERM, then stops Dovecot and cleans up.

use std::path::PathBuf;

use anvert_tests::{
    dovecot::{Dovecot, SubmissionOptions},
    generator::{GenConfig, SizeMix, mailbox_summary},
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
    /// Also run Dovecot's submission service (BURL, URLAUTH, CATENATE) relaying to the
    /// harness SMTP receiver, which writes what it receives to `<env file>.sent/NNNN.eml`.
    #[arg(long)]
    submission: bool,
    /// Where to write the connection details (shell `KEY=value` lines).
    #[arg(long, default_value = "target/anvert-devserver.env")]
    env_file: PathBuf,
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
    let server = if args.submission {
        Dovecot::with_submission(SubmissionOptions::default())
    } else {
        Dovecot::start()
    };
    let sent_dir = args.env_file.with_extension("sent");
    let submission_env = if args.submission {
        let _ = std::fs::remove_dir_all(&sent_dir);
        server.smtp_sink().save_into(Some(sent_dir.clone()));
        format!(
            "ANVERT_SUBMISSIONS_PORT={}\nANVERT_SUBMISSION_PORT={}\nANVERT_SENT_DIR={}\n",
            server.submissions_addr().port(),
            server.submission_addr().port(),
            sent_dir.display()
        )
    } else {
        String::new()
    };
    let config = GenConfig {
        seed: args.seed,
        count: args.messages,
        mix,
        ..GenConfig::default()
    };
    let truths = server.deliver_generated("alice", None, &config);
    let summary = mailbox_summary(&truths);
    // What each part decodes to, for clients that check their downloads: one line per leaf
    // part, `message-id TAB section TAB decoded size TAB sha256`.
    let truth_file = args.env_file.with_extension("truth.tsv");
    let mut lines = String::new();
    for truth in &truths {
        for part in &truth.parts {
            lines.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                truth.message_id, part.section, part.decoded_size, part.sha256
            ));
        }
    }
    let env = format!(
        "ANVERT_HOST=127.0.0.1\nANVERT_IMAPS_PORT={}\nANVERT_IMAP_PORT={}\nANVERT_POP3S_PORT={}\nANVERT_POP3_PORT={}\nANVERT_CA={}\nANVERT_USER=alice\nANVERT_PASSWORD={}\nANVERT_MESSAGES={}\nANVERT_MAILBOX_BYTES={}\nANVERT_TRUTH={}\n{}",
        server.ports.imaps,
        server.ports.imap,
        server.ports.pop3s,
        server.ports.pop3,
        server.pki.ca_path.display(),
        server.password("alice"),
        truths.len(),
        summary.total_bytes,
        truth_file.display(),
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
    let _ = std::fs::remove_dir_all(&sent_dir);
    drop(server);
    Ok(())
}
