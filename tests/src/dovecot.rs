//! A private Dovecot per test: its own config, base/state directories and Maildirs under a
//! temp dir, free ports on loopback only, a passwd-file of test users. It serves IMAP with
//! STARTTLS and implicit TLS, POP3 with STLS and implicit TLS, and is stopped and removed on
//! drop, even when the test panics.
//!
//! Dovecot treats 127.0.0.1 → 127.0.0.1 as a secured connection, so `ssl = required` does not
//! refuse plaintext login over loopback from 127.0.0.1. Tests that need the server's own refusal
//! connect to `127.0.0.2` (Dovecot listens there too); the client's refusal never depends on it.

use std::{
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    certs::TestPki,
    dovecot_config::render_config,
    generator::{self, GenConfig, MessageTruth},
};

/// Which optional IMAP extensions the server advertises. Turning one off is how the tests
/// exercise the engine's fallbacks against the same real server.
#[derive(Debug, Clone)]
pub struct DovecotOptions {
    pub condstore: bool,
    pub qresync: bool,
    pub compress: bool,
    pub preview: bool,
    /// Test users, as (name, password).
    pub users: Vec<(String, String)>,
    /// OAuth2 logins on top of the password ones (off by default).
    pub oauth: Option<OAuthOptions>,
    /// Advertise MOVE (RFC 6851); off hides it (the command still works) to test fallbacks.
    pub move_command: bool,
    /// Advertise UIDPLUS (RFC 4315); off hides it to test the fallbacks. Dovecot still
    /// accepts `UID EXPUNGE` and still sends COPYUID/APPENDUID: the no-COPYUID path needs the
    /// scripted server.
    pub uidplus: bool,
    /// SPECIAL-USE (RFC 6154): off drops the `special_use` lines (Drafts, Sent, Trash, Junk
    /// and Archive are listed without attributes) and the capability, as on minimal servers.
    pub special_use: bool,
    /// Drafts, Sent, Trash, Junk and Archive exist for every user (`auto = subscribe`); off
    /// leaves them out, so a user has only INBOX until a client creates more.
    pub role_mailboxes: bool,
    /// Dovecot's submission service (and URLAUTH, BURL, CATENATE), relaying to a harness
    /// SMTP receiver; off by default, so that other tests start as fast as before.
    pub submission: Option<SubmissionOptions>,
}

/// The sending side (issue 18), switched in Dovecot's own configuration, never by a flag
/// inside the engine: see `crate::submission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmissionOptions {
    /// The submission service offers `BURL imap` (off: `imap_urlauth_host` is emptied for
    /// `protocol submission`, which keeps IMAP's URLAUTH).
    pub burl: bool,
    /// IMAP advertises CATENATE (off: dropped from `imap_capability`).
    pub catenate: bool,
    /// IMAP advertises `URLAUTH URLAUTH=BINARY` (off: `imap_urlauth_host` is emptied for
    /// `protocol imap`).
    pub urlauth: bool,
    /// `submission_max_mail_size` (EHLO's `SIZE n`); None = unlimited (bare `SIZE`).
    pub max_mail_size: Option<u64>,
}

impl Default for SubmissionOptions {
    /// Everything on, no size limit.
    fn default() -> Self {
        SubmissionOptions {
            burl: true,
            catenate: true,
            urlauth: true,
            max_mail_size: None,
        }
    }
}

/// OAuth2 logins (SASL OAUTHBEARER/XOAUTH2) through Dovecot's oauth2 passdb, which asks an
/// RFC 7662 introspection endpoint about every bearer token: it POSTs `token=…` to
/// `introspection_url` and accepts the token when the JSON answer has `"active": true` and a
/// `"username"` equal to the login name. Password logins keep working. Failed logins are
/// neither delayed nor penalised, so that retry tests stay fast.
#[derive(Debug, Clone)]
pub struct OAuthOptions {
    /// An `http://127.0.0.1:…` URL the test serves.
    pub introspection_url: String,
    /// The SASL mechanisms offered, in Dovecot's spelling: `oauthbearer`, `xoauth2`.
    pub mechanisms: Vec<String>,
    /// Whether IMAP advertises SASL-IR; off makes clients send the initial response after
    /// the continuation.
    pub sasl_ir: bool,
}

impl OAuthOptions {
    /// Both mechanisms, SASL-IR on.
    pub fn new(introspection_url: impl Into<String>) -> Self {
        OAuthOptions {
            introspection_url: introspection_url.into(),
            mechanisms: vec!["oauthbearer".into(), "xoauth2".into()],
            sasl_ir: true,
        }
    }
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            condstore: true,
            qresync: true,
            compress: true,
            preview: true,
            users: vec![
                ("alice".into(), "alice-secret-pw".into()),
                ("bob".into(), "bob-secret-pw".into()),
            ],
            oauth: None,
            move_command: true,
            uidplus: true,
            special_use: true,
            role_mailboxes: true,
            submission: None,
        }
    }
}

/// The ports of one private Dovecot, all on 127.0.0.1 (and 127.0.0.2).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
}

/// A running private Dovecot. Dropping it stops the server and deletes its files.
pub struct Dovecot {
    pub ports: Ports,
    pub pki: TestPki,
    pub options: DovecotOptions,
    config: PathBuf,
    root: tempfile::TempDir,
    child: Option<Child>,
    mail_owner: Option<(u32, u32)>,
    /// The submission listeners and the receiver, when `options.submission` is set.
    pub(crate) submission: Option<crate::submission::SubmissionRuntime>,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("ports", &self.ports)
            .field("root", &self.root.path())
            .finish()
    }
}

const DOVECOT_BIN: &str = "/usr/sbin/dovecot";
const DOVEADM_BIN: &str = "/usr/bin/doveadm";

impl Dovecot {
    /// Starts a Dovecot with the default options (every extension on).
    pub fn start() -> Self {
        Self::start_with(DovecotOptions::default())
    }

    /// Starts a Dovecot and waits until all four listeners accept connections.
    pub fn start_with(options: DovecotOptions) -> Self {
        assert!(
            Path::new(DOVECOT_BIN).exists(),
            "Dovecot is not installed: run scripts/install-deps.sh (apt: dovecot-imapd dovecot-pop3d)"
        );
        let root = tempfile::Builder::new()
            .prefix("anvert-dovecot-")
            .tempdir()
            .unwrap();
        let is_root = current_uid() == 0;
        // Mail processes never run as root: use nobody when we are root, ourselves otherwise.
        let mail_owner = if is_root { Some((65534, 65534)) } else { None };
        let (uid, gid) = mail_owner.unwrap_or_else(|| (current_uid(), current_gid()));
        if is_root {
            set_mode(root.path(), 0o755);
        }
        let pki = TestPki::create(root.path(), "Anvert Test CA").unwrap();
        for dir in ["run", "state", "home"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let mut users = String::new();
        for (name, password) in &options.users {
            let home = root.path().join("home").join(name);
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
            }
            users.push_str(&format!(
                "{name}:{{PLAIN}}{password}:{uid}:{gid}::{}::\n",
                home.display()
            ));
        }
        std::fs::write(root.path().join("users"), users).unwrap();
        if let Some(oauth) = &options.oauth {
            std::fs::write(
                root.path().join("oauth2.conf.ext"),
                format!(
                    "introspection_mode = post\n\
                     introspection_url = {}\n\
                     username_attribute = username\n\
                     active_attribute = active\n\
                     active_value = true\n",
                    oauth.introspection_url
                ),
            )
            .unwrap();
        }

        let ports = free_ports();
        let submission = options
            .submission
            .map(|_| crate::submission::SubmissionRuntime::new(&ports));
        if let Some(runtime) = &submission {
            runtime.write_files(root.path(), &options);
        }
        let config = root.path().join("dovecot.conf");
        std::fs::write(
            &config,
            render_config(
                root.path(),
                &pki,
                ports,
                &options,
                submission.as_ref(),
                is_root,
            ),
        )
        .unwrap();
        let mut dovecot = Dovecot {
            ports,
            pki,
            options,
            config,
            root,
            child: None,
            mail_owner,
            submission,
        };
        dovecot.fix_ownership();
        // A free port can be taken by another test between `free_ports` and Dovecot's bind
        // (the scripted servers bind ephemeral ports too): then Dovecot exits at once, and
        // it is started again on other ports.
        for attempt in 1.. {
            match dovecot.spawn() {
                Ok(()) => break,
                Err(log) if attempt < 5 && log.contains("Address already in use") => {
                    dovecot.ports = free_ports();
                    if let Some(submission) = &mut dovecot.submission {
                        submission.reallocate_ports(&dovecot.ports);
                    }
                    std::fs::write(
                        &dovecot.config,
                        render_config(
                            dovecot.root.path(),
                            &dovecot.pki,
                            dovecot.ports,
                            &dovecot.options,
                            dovecot.submission.as_ref(),
                            is_root,
                        ),
                    )
                    .unwrap();
                    let _ = std::fs::remove_file(dovecot.root.path().join("dovecot.log"));
                }
                Err(log) => panic!("dovecot exited:\n{log}"),
            }
        }
        dovecot
    }

    /// Starts Dovecot and waits until it listens; the log when it exited instead.
    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new(DOVECOT_BIN)
            .arg("-F")
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("could not start dovecot");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let submission_ports = self
            .submission
            .as_ref()
            .map(|s| [s.ports.submission, s.ports.submissions]);
        for port in [
            self.ports.imap,
            self.ports.imaps,
            self.ports.pop3,
            self.ports.pop3s,
        ]
        .into_iter()
        .chain(submission_ports.into_iter().flatten())
        {
            self.wait_until(deadline, &format!("listen on {port}"), |_| {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            })?;
        }
        // A port that accepts could still be someone else's listener: Dovecot's master logs
        // "starting up" only once it holds every listener (it exits when one bind fails).
        self.wait_until(deadline, "log its start", |d| {
            d.log().contains(" starting up for ")
        })
    }

    /// Polls `ready` until it holds; the log when Dovecot exits first; panics at `deadline`.
    fn wait_until(
        &mut self,
        deadline: Instant,
        what: &str,
        ready: impl Fn(&Self) -> bool,
    ) -> Result<(), String> {
        loop {
            if ready(self) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("exit status {status}:\n{}", self.log()));
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The master process's id while it runs (every other Dovecot process is below it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The directory holding the config, the log, the certificates and the users' homes.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Dovecot's log so far (useful in assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Path of the Dovecot config file, for `doveadm -c`.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The Maildir of `user` (INBOX is its root, folder `X` is `.X`).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root.path().join("home").join(user).join("Maildir")
    }

    pub fn password(&self, user: &str) -> &str {
        self.options
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
            .expect("unknown test user")
    }

    pub fn imaps_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.imaps))
    }
    pub fn imap_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.imap))
    }
    pub fn pop3s_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.pop3s))
    }
    pub fn pop3_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.pop3))
    }

    /// Writes a generated mailbox straight into `user`'s Maildir (`folder` None = INBOX) and
    /// returns the ground truth. Much faster than APPEND for thousands of messages. Call it
    /// before the folder is first opened, or the new files are picked up on the next sync.
    pub fn deliver_generated(
        &self,
        user: &str,
        folder: Option<&str>,
        config: &GenConfig,
    ) -> Vec<MessageTruth> {
        let truths =
            generator::write_maildir(&self.maildir(user), folder, generator::generate(config))
                .unwrap();
        self.fix_ownership();
        truths
    }

    /// Runs `doveadm -c <config> <args>` and returns its stdout; panics with stderr on failure.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let out = Command::new(DOVEADM_BIN)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("doveadm");
        assert!(
            out.status.success(),
            "doveadm {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs raw IMAP commands as `user` in a pre-authenticated `imap` process of this server
    /// (`doveadm exec imap -u user`), each of which must answer OK, and returns their
    /// untagged lines: how a test changes the mailbox as another client would, without the
    /// engine's code.
    pub fn imap_as(&self, user: &str, commands: &[&str]) -> Vec<String> {
        use std::io::Write;
        let mut child = Command::new(DOVEADM_BIN)
            .arg("-c")
            .arg(&self.config)
            .args(["exec", "imap", "-u", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("doveadm exec imap");
        let mut script = String::new();
        for (i, c) in commands.iter().enumerate() {
            script.push_str(&format!("h{i} {c}\r\n"));
        }
        script.push_str("hz LOGOUT\r\n");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(script.as_bytes())
            .expect("write to imap");
        let out = child.wait_with_output().expect("imap output");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut untagged = Vec::new();
        let mut answered = 0;
        for line in response_lines(&out.stdout) {
            if line.starts_with("* ") {
                if !line.starts_with("* PREAUTH") && !line.starts_with("* BYE") {
                    untagged.push(line);
                }
            } else if let Some(rest) = line.strip_prefix('h') {
                let (tag, status) = rest.split_once(' ').unwrap_or((rest, ""));
                if tag != "z" {
                    assert!(
                        status.starts_with("OK"),
                        "imap_as {user}: command {tag} {:?} answered {line}\n{}",
                        commands.get(tag.parse::<usize>().unwrap_or(usize::MAX)),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    answered += 1;
                }
            }
        }
        assert_eq!(
            answered,
            commands.len(),
            "imap_as {user}: not every command answered:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        untagged
    }

    /// Gives every file under the users' homes to the mail user (only needed when we are root).
    ///
    /// The running Dovecot may replace or remove its own files (index logs, caches, `tmp/`)
    /// during the walk, so a file gone before it is reached is passed over; `chown -R` failed
    /// the whole call for one such file.
    pub fn fix_ownership(&self) {
        if let Some((uid, gid)) = self.mail_owner {
            chown_tree(&self.root.path().join("home"), uid, gid);
        }
    }
}

/// `chown -R`, without following symlinks, passing over what disappears meanwhile.
fn chown_tree(path: &std::path::Path, uid: u32, gid: u32) {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    match std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
        Err(e) if gone(&e) => return,
        other => other.unwrap_or_else(|e| panic!("chown {}: {e}", path.display())),
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Err(e) if gone(&e) => return,
        other => other.unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    };
    for entry in entries {
        match entry {
            Ok(entry) => chown_tree(&entry.path(), uid, gid),
            Err(e) if gone(&e) => {}
            Err(e) => panic!("read {}: {e}", path.display()),
        }
    }
}

/// Splits an IMAP server's output into response lines, a literal (`{n}` at a line's end)
/// kept inside its line as the harness' Cyrus session does.
fn response_lines(out: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |i| i + 2);
        let (line, after) = rest.split_at(end);
        rest = after;
        current.extend_from_slice(line);
        let trimmed = line.strip_suffix(b"\r\n").unwrap_or(line);
        let literal = trimmed
            .strip_suffix(b"}")
            .and_then(|t| t.iter().rposition(|&b| b == b'{').map(|i| &t[i + 1..]))
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
        match literal {
            Some(n) => {
                let n = n.min(rest.len());
                current.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            None => {
                let text = String::from_utf8_lossy(&current);
                lines.push(text.trim_end_matches("\r\n").to_string());
                current.clear();
            }
        }
    }
    lines
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Four distinct ports free on both 127.0.0.1 and 127.0.0.2.
pub(crate) fn free_ports() -> Ports {
    let ports = crate::ports::free_ports(4);
    Ports {
        imap: ports[0],
        imaps: ports[1],
        pop3: ports[2],
        pop3s: ports[3],
    }
}

pub(crate) fn current_uid() -> u32 {
    id_flag("-u")
}
fn current_gid() -> u32 {
    id_flag("-g")
}
pub(crate) fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
fn id_flag(flag: &str) -> u32 {
    let out = Command::new("id").arg(flag).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}
pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
