//! The sending side of the harness Dovecot (issue 18): its submission service with BURL,
//! IMAP's URLAUTH and CATENATE, and the SMTP receiver it relays to. Opt-in per test
//! (`DovecotOptions::submission`, or [`Dovecot::with_submission`]); every other test starts
//! as before.
//!
//! What the configuration does, and why (see also /work/shared/LEMONADE.md, as measured):
//! - `protocols = imap pop3 submission`; `hostname = localhost`.
//! - `mail_attribute_dict = file:%h/dovecot-attributes`: URLAUTH keys live there; without it
//!   IMAP has no URLAUTH and submission cannot resolve URLs.
//! - `imap_urlauth_host = localhost`, `imap_urlauth_port` = the IMAPS port: URLs must name
//!   exactly these (not the address a client or a tap connected to).
//! - The relay: `submission_relay_host/port` = the [`SmtpSink`], `submission_relay_ssl = no`.
//! - Listeners on 127.0.0.1: `submissions` (implicit TLS, like 465) and `submission`
//!   (STARTTLS, like 587).
//! - Switches, all in Dovecot's configuration, never in the engine:
//!   - CATENATE off drops it from `imap_capability`.
//!   - URLAUTH off empties `imap_urlauth_host` under `protocol imap` (no `URLAUTH` in
//!     CAPABILITY, GENURLAUTH answers `BAD … URLAUTH disabled`).
//!   - `max_mail_size` sets `submission_max_mail_size` (EHLO's `SIZE n`).
//!   - BURL off: Dovecot 2.3.19's submission process adds `BURL imap imap://…` to every
//!     post-AUTH EHLO and no setting removes it. So submission logins are proxied instead:
//!     a first passdb (`proxy-users-%s`, empty for IMAP and POP3) gives them `proxy=y` to the
//!     receiver, an SMTP server without BURL that then answers everything after AUTH (and
//!     enforces `max_mail_size` itself); before AUTH, the `exotic-backend` workaround with
//!     backend capabilities that lack BURL hides it from `submission-login`'s EHLO. Messages
//!     on this path reach the receiver as the client sent them (no `Received:` header).
//! - `auth_failure_delay = 0`, so that AUTH-rejected tests stay fast.
//! - The temp root is made 0755 when the harness runs as root (mail processes run as
//!   `nobody`): under a 0700 directory SMTP AUTH fails with `454` (LEMONADE.md).

use std::{net::SocketAddr, path::Path, time::Duration};

use crate::{
    dovecot::{Dovecot, DovecotOptions, Ports, SubmissionOptions},
    smtp_sink::SmtpSink,
};

/// The two submission listeners of one Dovecot, on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmissionPorts {
    /// STARTTLS (like 587).
    pub submission: u16,
    /// Implicit TLS (like 465).
    pub submissions: u16,
}

/// The submission listeners and the receiver of a running Dovecot.
#[derive(Debug)]
pub(crate) struct SubmissionRuntime {
    pub(crate) ports: SubmissionPorts,
    pub(crate) sink: SmtpSink,
}

impl SubmissionRuntime {
    /// Starts the receiver and picks two free ports other than `taken`'s.
    pub(crate) fn new(taken: &Ports) -> Self {
        assert!(
            Path::new("/usr/lib/dovecot/submission").exists(),
            "Dovecot's submission service is not installed: run scripts/install-deps.sh \
             (apt: dovecot-submissiond)"
        );
        SubmissionRuntime {
            ports: free_submission_ports(taken),
            sink: SmtpSink::start(),
        }
    }

    pub(crate) fn reallocate_ports(&mut self, taken: &Ports) {
        self.ports = free_submission_ports(taken);
    }

    /// Writes what the configuration refers to: with BURL off, the passwd-file that sends
    /// submission logins to the receiver (`users-<service>`, empty for other services).
    pub(crate) fn write_files(&self, root: &Path, options: &DovecotOptions) {
        let Some(submission) = options.submission else {
            return;
        };
        if submission.burl {
            return;
        }
        // The receiver answers these clients itself: it enforces the size limit.
        self.sink.set_max_size(submission.max_mail_size);
        let mut users = String::new();
        for (name, password) in &options.users {
            users.push_str(&format!(
                "{name}:{{PLAIN}}{password}::::::proxy=y host=127.0.0.1 port={}\n",
                self.sink.addr().port()
            ));
        }
        for service in ["imap", "pop3"] {
            std::fs::write(root.join(format!("proxy-users-{service}")), "").unwrap();
        }
        std::fs::write(root.join("proxy-users-submission"), users).unwrap();
    }

    /// The passdb that must come before every other one: with BURL off, it sends submission
    /// logins to the receiver (see [`SubmissionRuntime::write_files`]); empty otherwise.
    pub(crate) fn first_passdb(&self, options: &SubmissionOptions, root: &Path) -> String {
        if options.burl {
            return String::new();
        }
        format!(
            "passdb {{\n  driver = passwd-file\n  \
             args = scheme=PLAIN username_format=%u {}/proxy-users-%s\n}}\n",
            root.display()
        )
    }

    /// The configuration lines for the sending side (global settings, the listeners and the
    /// per-protocol switches); `imaps` is the server's IMAPS port.
    pub(crate) fn config(&self, options: &SubmissionOptions, imaps: u16) -> String {
        let max_size = options
            .max_mail_size
            .map(|n| format!("submission_max_mail_size = {n}\n"))
            .unwrap_or_default();
        // Dovecot 2.3.19's submission process always adds `BURL imap imap://…` to the post-AUTH
        // EHLO (`submission_helo_reply_submit`); no setting removes it. So with BURL off,
        // submission logins are proxied by `submission-login` (a passdb with `proxy=y`, read
        // from a passwd-file per service: empty for IMAP and POP3) straight to the receiver,
        // an SMTP server without BURL, which answers everything after AUTH; before AUTH the
        // `exotic-backend` workaround with backend capabilities lacking BURL hides it too.
        let no_burl = if options.burl {
            String::new()
        } else {
            "submission_client_workarounds = exotic-backend\n\
             submission_backend_capabilities = 8BITMIME PIPELINING ENHANCEDSTATUSCODES SIZE\n"
                .to_string()
        };
        format!(
            "# The sending side (tests/src/submission.rs).\n\
             hostname = localhost\n\
             mail_attribute_dict = file:%h/dovecot-attributes\n\
             imap_urlauth_host = localhost\n\
             imap_urlauth_port = {imaps}\n\
             submission_relay_host = 127.0.0.1\n\
             submission_relay_port = {relay}\n\
             submission_relay_ssl = no\n\
             auth_failure_delay = 0\n\
             {max_size}\
             service submission-login {{\n\
             \x20 inet_listener submission {{\n\
             \x20   address = 127.0.0.1\n\
             \x20   port = {submission}\n\
             \x20 }}\n\
             \x20 inet_listener submissions {{\n\
             \x20   address = 127.0.0.1\n\
             \x20   port = {submissions}\n\
             \x20   ssl = yes\n\
             \x20 }}\n\
             }}\n\
             {no_burl}",
            relay = self.sink.addr().port(),
            submission = self.ports.submission,
            submissions = self.ports.submissions,
        )
    }
}

impl Dovecot {
    /// Starts a Dovecot (default options otherwise) with its submission service relaying to
    /// a fresh [`SmtpSink`].
    pub fn with_submission(options: SubmissionOptions) -> Self {
        Dovecot::start_with(DovecotOptions {
            submission: Some(options),
            ..DovecotOptions::default()
        })
    }

    fn submission_runtime(&self) -> &SubmissionRuntime {
        self.submission
            .as_ref()
            .expect("this Dovecot was started without `submission`")
    }

    /// The submission listener with implicit TLS (like 465).
    pub fn submissions_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.submission_runtime().ports.submissions))
    }

    /// The submission listener with STARTTLS (like 587).
    pub fn submission_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.submission_runtime().ports.submission))
    }

    /// The SMTP receiver Dovecot relays to.
    pub fn smtp_sink(&self) -> &SmtpSink {
        &self.submission_runtime().sink
    }

    /// The authority URLs must name (`imap://localhost:<IMAPS port>`), what the post-AUTH
    /// EHLO announces after `BURL imap`.
    pub fn urlauth_authority(&self) -> String {
        format!("imap://localhost:{}", self.ports.imaps)
    }

    /// From now on the receiver files every relayed message into `user`'s Sent itself
    /// (`doveadm save`), as servers that "file sent mail themselves" do.
    pub fn file_sent_mail_into(&self, user: &str) {
        self.smtp_sink()
            .file_into(Some((self.config_path().to_path_buf(), user, "Sent")));
    }

    /// A generous bound for the receiver to see a relayed message.
    pub const RELAY_TIMEOUT: Duration = Duration::from_secs(30);
}

fn free_submission_ports(_taken: &Ports) -> SubmissionPorts {
    // The allocator never gives a port out twice in one process, so `taken`'s are not among them.
    let ports = crate::ports::free_ports(2);
    SubmissionPorts {
        submission: ports[0],
        submissions: ports[1],
    }
}

/// What one command of [`Dovecot::imap_script`] got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapAnswer {
    /// The untagged lines (`* …`), in order.
    pub untagged: Vec<String>,
    /// The tagged completion, without the tag (`OK [APPENDUID 1 3] Append completed.`).
    pub tagged: String,
}

impl Dovecot {
    /// Logs `user` in over IMAPS (verified TLS, on the real listener) and runs `commands`
    /// one at a time, returning each one's answer; a non-OK completion is returned, not a
    /// panic. A command may carry a LITERAL+ literal (`APPEND Sent {12+}\r\n…`). For what
    /// `imap_as` (a pre-authenticated `doveadm exec imap`) cannot do: that process has no
    /// URLAUTH (`GENURLAUTH` answers `BAD … URLAUTH disabled`). Responses with literals are
    /// not supported.
    pub async fn imap_script(&self, user: &str, commands: &[&str]) -> Vec<ImapAnswer> {
        self.imap_script_at(self.imaps_addr(), user, commands).await
    }

    /// [`Dovecot::imap_script`] through `addr` (a tap in front of the IMAPS listener).
    pub async fn imap_script_at(
        &self,
        addr: SocketAddr,
        user: &str,
        commands: &[&str],
    ) -> Vec<ImapAnswer> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = self
            .tls()
            .connect(&addr.ip().to_string(), tcp, Duration::from_secs(20))
            .await
            .unwrap();
        let mut io = BufReader::new(tls);
        let mut line = String::new();
        io.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("* OK"), "IMAP greeting: {line}");
        let login = format!(
            "LOGIN {user} \"{}\"",
            self.password(user)
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        );
        let mut answers = Vec::new();
        for (i, command) in std::iter::once(login.as_str())
            .chain(commands.iter().copied())
            .enumerate()
        {
            let tag = format!("s{i}");
            io.write_all(format!("{tag} {command}\r\n").as_bytes())
                .await
                .unwrap();
            io.flush().await.unwrap();
            let mut untagged = Vec::new();
            let tagged = loop {
                line.clear();
                assert!(
                    io.read_line(&mut line).await.unwrap() > 0,
                    "IMAP closed during {command:?}"
                );
                let text = line.trim_end_matches(['\r', '\n']);
                if let Some(done) = text.strip_prefix(&format!("{tag} ")) {
                    break done.to_string();
                }
                untagged.push(text.to_string());
            };
            if i == 0 {
                assert!(tagged.starts_with("OK"), "IMAP LOGIN: {tagged}");
            } else {
                answers.push(ImapAnswer { untagged, tagged });
            }
        }
        let _ = io.write_all(b"z LOGOUT\r\n").await;
        answers
    }
}
