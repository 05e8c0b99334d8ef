//! A private Cyrus IMAP 3.6 per test, the second real server beside Dovecot: its own
//! `imapd.conf`, `cyrus.conf`, config directory, partition, sasldb and sockets under a temp
//! dir, free ports on 127.0.0.1 only, stopped (its whole process group) and removed on drop,
//! even when the test panics. It serves IMAP with STARTTLS and implicit TLS and POP3 with STLS
//! and implicit TLS, with the harness CA's certificate, and runs `idled` so IDLE is pushed.
//!
//! How it runs without a system service:
//! - Binaries: `master` and the tools come from Debian's `cyrus-common`; `imapd`, `pop3d` and
//!   `idled` are taken out of the `cyrus-imapd`/`cyrus-pop3d` packages (which conflict with
//!   `dovecot-imapd`) by `scripts/install-deps.sh` into `$ANVERT_CYRUS_DIR/bin` (default
//!   `/usr/local/lib/anvert-cyrus`).
//! - Users: `saslpasswd2 -f <root>/sasldb2` and `sasl_pwcheck_method: auxprop` (sasldb).
//! - Log: Cyrus logs only through syslog(3), and no syslog daemon runs here. A small preload
//!   library (`cyrus/syslog_to_file.c`, compiled once per machine with `cc`) turns every
//!   syslog line of the master and its services into a line of `<root>/cyrus.log`.
//! - As root, Cyrus runs as the `cyrus` user that `cyrus-common` creates; otherwise as us.
//! - Mail goes in through the harness's own IMAP service on a Unix socket (`imapd -p 2`, so
//!   LOGIN needs no TLS there): MULTIAPPEND with each message's flags and date, so UIDs follow
//!   generation order and INTERNALDATE is the message date, as with Dovecot's Maildir.
//!
//! Namespace: `altnamespace` and `unixhierarchysep` (Cyrus 3's defaults, Fastmail's too):
//! folders sit beside INBOX with `/` as the separator, like the Dovecot harness. Drafts, Sent,
//! Trash, Junk and Archive are created with their special use and subscribed at first login.
//! `conversations` is on, so OBJECTID's THREADID is served. Cyrus lists LOGINDISABLED among
//! its capabilities after login; that is harmless.

mod session;

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpStream},
    os::unix::{net::UnixStream, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use anvert_core::store::SystemFlags;
use sha2::{Digest, Sha256};

use crate::{
    certs::TestPki,
    dovecot::{Ports, current_uid, free_ports, set_mode, whoami},
    generator::{self, GenConfig, MessageTruth},
};
use session::HarnessSession;

/// The test users, as (name, password).
#[derive(Debug, Clone)]
pub struct CyrusOptions {
    pub users: Vec<(String, String)>,
    /// Capabilities the server must not advertise (`suppress_capabilities`).
    pub suppress_capabilities: Vec<String>,
}

impl Default for CyrusOptions {
    fn default() -> Self {
        CyrusOptions {
            users: vec![
                ("alice".into(), "alice-secret-pw".into()),
                ("bob".into(), "bob-secret-pw".into()),
            ],
            suppress_capabilities: Vec::new(),
        }
    }
}

/// A running private Cyrus. Dropping it stops the server and deletes its files.
pub struct Cyrus {
    pub ports: Ports,
    pub pki: TestPki,
    pub options: CyrusOptions,
    config: PathBuf,
    root: tempfile::TempDir,
    child: Option<Child>,
}

impl std::fmt::Debug for Cyrus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cyrus")
            .field("ports", &self.ports)
            .field("root", &self.root.path())
            .finish()
    }
}

const MASTER_BIN: &str = "/usr/lib/cyrus/bin/master";
const CTL_CYRUSDB_BIN: &str = "/usr/lib/cyrus/bin/ctl_cyrusdb";
const SASLPASSWD_BIN: &str = "/usr/sbin/saslpasswd2";
/// The server name in greetings, and the SASL realm the sasldb users live in.
const SERVERNAME: &str = "anvert-test";
const DEFAULT_CYRUS_DIR: &str = "/usr/local/lib/anvert-cyrus";
/// The syslog lines of the master and every service.
const LOG_FILE: &str = "cyrus.log";
/// The master's own stdout and stderr (`-L`).
const MASTER_LOG_FILE: &str = "master.log";

impl Cyrus {
    /// Starts a Cyrus with the default users.
    pub fn start() -> Self {
        Self::start_with(CyrusOptions::default())
    }

    /// Starts a Cyrus and waits until every listener (and the harness socket) answers.
    pub fn start_with(options: CyrusOptions) -> Self {
        let bin = bin_dir();
        for path in [
            Path::new(MASTER_BIN),
            Path::new(CTL_CYRUSDB_BIN),
            Path::new(SASLPASSWD_BIN),
            &bin.join("imapd"),
            &bin.join("pop3d"),
            &bin.join("idled"),
        ] {
            assert!(
                path.exists(),
                "Cyrus is not installed ({} is missing): run scripts/install-deps.sh \
                 (apt: cyrus-common sasl2-bin; imapd, pop3d and idled from cyrus-imapd and \
                 cyrus-pop3d into $ANVERT_CYRUS_DIR, default {DEFAULT_CYRUS_DIR})",
                path.display()
            );
        }
        let shim = syslog_shim();
        let root = tempfile::Builder::new()
            .prefix("anvert-cyrus-")
            .tempdir()
            .unwrap();
        let is_root = current_uid() == 0;
        // Cyrus refuses to run as root: the master drops to `cyrus_user`.
        let (run_as, owner) = if is_root {
            ("cyrus".to_string(), Some(user_ids("cyrus")))
        } else {
            (whoami(), None)
        };
        if is_root {
            set_mode(root.path(), 0o755);
        }
        let pki = TestPki::create(root.path(), "Anvert Test CA").unwrap();
        let r = root.path();
        for dir in [
            "conf/db",
            "conf/log",
            "conf/msg",
            "conf/proc",
            "conf/ptclient",
            "conf/quota",
            "conf/sieve",
            "conf/socket",
            "conf/user",
            "spool",
            "run/lock",
        ] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        for log in [LOG_FILE, MASTER_LOG_FILE] {
            std::fs::write(r.join(log), "").unwrap();
        }
        let ports = free_ports();
        let config = r.join("imapd.conf");
        std::fs::write(
            &config,
            render_imapd_conf(r, &pki, &run_as, &options.suppress_capabilities),
        )
        .unwrap();
        std::fs::write(r.join("cyrus.conf"), render_cyrus_conf(r, &bin, ports)).unwrap();
        for (user, password) in &options.users {
            add_sasl_user(&r.join("sasldb2"), user, password);
        }
        if let Some((uid, gid)) = owner {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{gid}"))
                .arg(r)
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the Cyrus root failed");
        }
        let mut cyrus = Cyrus {
            ports,
            pki,
            options,
            config,
            root,
            child: None,
        };
        cyrus.spawn(&shim);
        cyrus
    }

    fn spawn(&mut self, shim: &Path) {
        let r = self.root.path();
        let child = Command::new(MASTER_BIN)
            .arg("-C")
            .arg(&self.config)
            .arg("-M")
            .arg(r.join("cyrus.conf"))
            .arg("-p")
            .arg(r.join("run/master.pid"))
            .arg("-L")
            .arg(r.join(MASTER_LOG_FILE))
            .env("LD_PRELOAD", shim)
            .env("ANVERT_SYSLOG_FILE", r.join(LOG_FILE))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop can stop the master and every service.
            .process_group(0)
            .spawn()
            .expect("could not start Cyrus' master");
        self.child = Some(child);
        let ports = [
            self.ports.imap,
            self.ports.imaps,
            self.ports.pop3,
            self.ports.pop3s,
        ];
        let socket = self.harness_socket();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut wait_for = |what: &str, ready: &mut dyn FnMut() -> bool| loop {
            if ready() {
                break;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("Cyrus' master exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "Cyrus did not listen on {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        for port in ports {
            wait_for(&format!("port {port}"), &mut || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
        }
        wait_for("the harness socket", &mut || {
            UnixStream::connect(&socket).is_ok()
        });
    }

    /// The directory holding the configs, the logs, the certificates and the mail spool.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Cyrus' log so far, syslog lines then the master's own output (for assertion messages).
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.root.path().join(name));
        format!(
            "{}{}",
            read(LOG_FILE).unwrap_or_default(),
            read(MASTER_LOG_FILE).unwrap_or_default()
        )
    }

    /// Path of the `imapd.conf`, for Cyrus' tools (`-C`).
    pub fn config_path(&self) -> &Path {
        &self.config
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

    /// Appends a generated mailbox to `user`'s `folder` (None = INBOX; created when missing)
    /// with each message's flags and its date as INTERNALDATE, and returns the ground truth.
    /// UIDs follow generation order. Works at any time: another client's new mail.
    pub fn deliver_generated(
        &self,
        user: &str,
        folder: Option<&str>,
        config: &GenConfig,
    ) -> Vec<MessageTruth> {
        let mailbox = folder.unwrap_or("INBOX");
        let mut session = self.harness_session(user);
        session.ensure_mailbox(mailbox);
        let truths = session.append_all(mailbox, generator::generate(config));
        session.logout();
        truths
    }

    /// The server's UIDs and system flags for a folder, read through the harness socket.
    pub fn server_flags(&self, user: &str, folder: &str) -> BTreeMap<u32, SystemFlags> {
        let mut session = self.harness_session(user);
        let flags = session.flags(folder);
        session.logout();
        flags
    }

    /// Runs raw IMAP commands as `user` through the harness socket (each must answer OK) and
    /// returns their untagged lines: how a test changes the mailbox as another client would.
    pub fn imap_as(&self, user: &str, commands: &[&str]) -> Vec<String> {
        let mut session = self.harness_session(user);
        let lines = commands
            .iter()
            .flat_map(|c| session.run(c.as_bytes()))
            .collect();
        session.logout();
        lines
    }

    fn harness_session(&self, user: &str) -> HarnessSession {
        HarnessSession::login(&self.harness_socket(), user, self.password(user))
    }

    fn harness_socket(&self) -> PathBuf {
        self.root.path().join("run/harness.sock")
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The master stops its services on SIGTERM; the group signal also reaches any that
        // a dying master would leave behind.
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut master_done = false;
        while Instant::now() < deadline {
            master_done = master_done || matches!(child.try_wait(), Ok(Some(_)));
            let group_alive = Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if master_done && !group_alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }
}

/// Where `install-deps.sh` put imapd, pop3d and idled.
fn bin_dir() -> PathBuf {
    std::env::var_os("ANVERT_CYRUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CYRUS_DIR))
        .join("bin")
}

/// The syslog-to-file preload library, compiled once per machine and source version into
/// the temp dir (world-readable, so the `cyrus` user can load it).
fn syslog_shim() -> PathBuf {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let source = include_str!("cyrus/syslog_to_file.c");
        let hash = hex::encode(&Sha256::digest(source.as_bytes())[..8]);
        let dir = std::env::temp_dir();
        let lib = dir.join(format!("anvert-cyrus-syslog-{hash}.so"));
        if lib.exists() {
            return lib;
        }
        let unique = format!("{}-{:?}", std::process::id(), std::thread::current().id())
            .replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let src = dir.join(format!("anvert-cyrus-syslog-{hash}-{unique}.c"));
        let tmp = dir.join(format!("anvert-cyrus-syslog-{hash}-{unique}.so"));
        std::fs::write(&src, source).unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let out = Command::new(&cc)
            .args(["-O2", "-shared", "-fPIC", "-o"])
            .arg(&tmp)
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("{cc} (to build Cyrus' syslog shim): {e}"));
        let _ = std::fs::remove_file(&src);
        assert!(
            out.status.success(),
            "building Cyrus' syslog shim failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        set_mode(&tmp, 0o644);
        // Atomic: a concurrent test process either sees no library or a whole one.
        std::fs::rename(&tmp, &lib).unwrap();
        lib
    })
    .clone()
}

fn add_sasl_user(sasldb: &Path, user: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new(SASLPASSWD_BIN)
        .args(["-p", "-c", "-f"])
        .arg(sasldb)
        .args(["-u", SERVERNAME, user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("saslpasswd2");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "saslpasswd2 {user} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn user_ids(user: &str) -> (u32, u32) {
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, user]).output().expect("id");
        assert!(
            out.status.success(),
            "no `{user}` user: is cyrus-common installed?"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .expect("numeric id")
    };
    (id("-u"), id("-g"))
}

fn render_imapd_conf(root: &Path, pki: &TestPki, run_as: &str, suppress: &[String]) -> String {
    let r = root.display();
    let suppress = if suppress.is_empty() {
        String::new()
    } else {
        format!("suppress_capabilities: {}\n", suppress.join(" "))
    };
    let special_use_always = if suppress.contains("SPECIAL-USE") {
        "no"
    } else {
        "yes"
    };
    let folders = "Drafts | Sent | Trash | Junk | Archive";
    format!(
        "# Private Cyrus for Anvert tests. Generated; do not edit.
configdirectory: {r}/conf
defaultpartition: default
partition-default: {r}/spool
proc_path: {r}/conf/proc
mboxname_lockpath: {r}/run/lock
lmtpsocket: {r}/run/lmtp
idlesocket: {r}/run/idle
notifysocket: {r}/run/notify
servername: {SERVERNAME}
cyrus_user: {run_as}
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {r}/sasldb2
sasl_mech_list: PLAIN LOGIN
allowplaintext: no
tls_server_cert: {cert}
tls_server_key: {key}
tls_versions: tls1_2 tls1_3
altnamespace: yes
unixhierarchysep: yes
autocreate_quota: 0
autocreate_inbox_folders: {folders}
autocreate_subscribe_folders: {folders}
xlist-drafts: Drafts
xlist-sent: Sent
xlist-trash: Trash
xlist-junk: Junk
xlist-archive: Archive
specialusealways: {special_use_always}
conversations: yes
munge8bit: no
reject8bit: no
maxlogins_per_user: 0
imapidlepoll: 1
{suppress}",
        cert = pki.cert_path.display(),
        key = pki.key_path.display(),
    )
}

fn render_cyrus_conf(root: &Path, bin: &Path, ports: Ports) -> String {
    let r = root.display();
    let conf = format!("-C {r}/imapd.conf");
    let imapd = bin.join("imapd");
    let imapd = imapd.display();
    let pop3d = bin.join("pop3d");
    let pop3d = pop3d.display();
    let idled = bin.join("idled");
    let idled = idled.display();
    format!(
        r#"# Private Cyrus for Anvert tests. Generated; do not edit.
START {{
  recover cmd="{CTL_CYRUSDB_BIN} {conf} -r"
}}
SERVICES {{
  imap cmd="{imapd} {conf}" listen="127.0.0.1:{imap}" prefork=1
  imaps cmd="{imapd} -s {conf}" listen="127.0.0.1:{imaps}" prefork=1
  pop3 cmd="{pop3d} {conf}" listen="127.0.0.1:{pop3}" prefork=0
  pop3s cmd="{pop3d} -s {conf}" listen="127.0.0.1:{pop3s}" prefork=0
  harness cmd="{imapd} -p 2 {conf}" listen="{r}/run/harness.sock" prefork=0
}}
DAEMON {{
  idled cmd="{idled} {conf}"
}}
EVENTS {{
}}
"#,
        imap = ports.imap,
        imaps = ports.imaps,
        pop3 = ports.pop3,
        pop3s = ports.pop3s,
    )
}
