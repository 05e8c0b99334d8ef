//! A scripted POP3 server for hostile-server tests of the whole engine. It plays a well-behaved
//! RFC 1939 server over a maildrop the test gives (CAPA, USER/PASS, STAT, LIST, UIDL, TOP,
//! RETR, DELE applied at QUIT, RSET, NOOP), and asks the test's hook first about every
//! command, so a test replaces exactly the answers it wants hostile: short or long bodies, a
//! missing terminator, a closed or silent connection, 100 MB without a line end.
//!
//! The server runs on its own thread with its own runtime: what it spends producing a flood
//! never counts in the CPU time of the engine's thread (`scripted::thread_cpu`). Plaintext
//! only (the engine connects with `DangerPlaintext`: the bytes are the point). Connections
//! are numbered from 0 in the order they are accepted and served one command at a time.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    imap::ConnectOptions,
    net::{Credential, Endpoint, Security},
    store::AccountId,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

/// A message in the maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its UIDL; `None` leaves it out of the UIDL listing.
    pub uidl: Option<String>,
    /// Its bytes, CRLF line ends, as RETR sends them (stuffed on the wire).
    pub bytes: Vec<u8>,
    /// The size LIST gives, when not the true one.
    pub list_size: Option<u64>,
}

impl Message {
    pub fn new(uidl: &str, text: impl Into<Vec<u8>>) -> Self {
        Message {
            uidl: Some(uidl.to_string()),
            bytes: text.into(),
            list_size: None,
        }
    }

    /// The size LIST gives.
    pub fn listed(&self) -> u64 {
        self.list_size.unwrap_or(self.bytes.len() as u64)
    }
}

/// A plain text message `n` with `subject` and a few body lines (one dot-stuffed).
pub fn text_message(n: u32, subject: &str) -> String {
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
         Date: Wed, 01 Jan 2025 00:{:02}:00 +0000\r\nMessage-ID: <m{n}@example.org>\r\n\r\n\
         Body of {subject}.\r\n.A line starting with a dot.\r\nThe end.\r\n",
        n % 60
    )
}

/// What the server does instead of its own answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Exactly these bytes; then the next command.
    Raw(Vec<u8>),
    /// These bytes, then the connection is closed.
    Close(Vec<u8>),
    /// These bytes, then silence: the connection stays open until the client leaves.
    Hang(Vec<u8>),
    /// `head`, then `len` bytes of `fill` repeated (written about 64 KiB at a time, until
    /// the client hangs up), then `tail`; then the next command when `go_on`, else silence.
    /// Nothing of the size of `len` is ever held in memory.
    Flood {
        head: Vec<u8>,
        fill: Vec<u8>,
        len: u64,
        tail: Vec<u8>,
        go_on: bool,
    },
}

impl Reply {
    pub fn raw(bytes: impl AsRef<[u8]>) -> Reply {
        Reply::Raw(bytes.as_ref().to_vec())
    }
}

/// The hook: `(connection, command line)` → an answer, or `None` for the server's own. The
/// greeting is asked for as the command `GREETING`.
type Hook = Box<dyn FnMut(usize, &str) -> Option<Reply> + Send>;

#[derive(Default)]
struct State {
    /// The maildrop with an id per message (DELE at QUIT removes by id).
    maildrop: Vec<(u64, Message)>,
    next_id: u64,
    /// (connection, command), PASS arguments left out.
    commands: Vec<(usize, String)>,
    /// Messages removed by QUIT after DELE, in order.
    deleted: Vec<Message>,
    connections: usize,
}

/// A running scripted POP3 server; stops when dropped.
pub struct ScriptedPop3 {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScriptedPop3 {
    /// Starts a server over `maildrop` whose answers `hook` may replace.
    pub fn start(
        maildrop: Vec<Message>,
        hook: impl FnMut(usize, &str) -> Option<Reply> + Send + 'static,
    ) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let mut server = ScriptedPop3 {
            addr: "127.0.0.1:0".parse().unwrap(),
            state: state.clone(),
            stop: None,
            thread: None,
        };
        server.set_maildrop(maildrop);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let hook: Arc<Mutex<Hook>> = Arc::new(Mutex::new(Box::new(hook)));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            return;
                        };
                        let connection = {
                            let mut s = state.lock().unwrap();
                            s.connections += 1;
                            s.connections - 1
                        };
                        tokio::spawn(converse(socket, connection, state.clone(), hook.clone()));
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    _ = serve => {}
                }
            });
        });
        server.addr = addr;
        server.stop = Some(stop);
        server.thread = Some(thread);
        server
    }

    /// Replaces the maildrop (between two syncs).
    pub fn set_maildrop(&self, maildrop: Vec<Message>) {
        let mut s = self.state.lock().unwrap();
        s.maildrop.clear();
        for m in maildrop {
            let id = s.next_id;
            s.next_id += 1;
            s.maildrop.push((id, m));
        }
    }

    /// The maildrop as it is now.
    pub fn maildrop(&self) -> Vec<Message> {
        let s = self.state.lock().unwrap();
        s.maildrop.iter().map(|(_, m)| m.clone()).collect()
    }

    /// Messages the server removed at QUIT after a DELE, in order.
    pub fn deleted(&self) -> Vec<Message> {
        self.state.lock().unwrap().deleted.clone()
    }

    /// Every command received so far, in order.
    pub fn commands(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.commands.iter().map(|(_, c)| c.clone()).collect()
    }

    /// How many commands received so far start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.commands()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// An engine over a fresh data directory in `dir` with one POP3 account (`alice`) on
    /// this server, every wait bounded by `timeout`.
    pub async fn engine(&self, dir: &std::path::Path, timeout: Duration) -> (Engine, AccountId) {
        let engine = Engine::open(EngineConfig {
            data_dir: dir.to_path_buf(),
            extra_roots_pem: None,
            connect: ConnectOptions {
                timeout,
                ..ConnectOptions::default()
            },
            cache_budget: None,
            ..EngineConfig::default()
        })
        .await
        .unwrap();
        let account = engine
            .add_account(AccountConfig {
                name: "scripted pop3".into(),
                protocol: Protocol::Pop3,
                endpoint: Endpoint {
                    host: self.addr.ip().to_string(),
                    port: self.addr.port(),
                    security: Security::DangerPlaintext,
                },
                credential: Credential::password("alice", "pw"),
            })
            .await
            .unwrap();
        (engine, account)
    }
}

impl Drop for ScriptedPop3 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// RFC 1939 byte-stuffing plus the terminator.
pub fn stuffed(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The header block and the first `lines` body lines, stuffed.
fn top(bytes: &[u8], lines: usize) -> Vec<u8> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 4);
    let mut out = bytes[..end].to_vec();
    for line in bytes[end..].split_inclusive(|b| *b == b'\n').take(lines) {
        out.extend_from_slice(line);
    }
    stuffed(&out)
}

async fn converse(
    socket: TcpStream,
    connection: usize,
    state: Arc<Mutex<State>>,
    hook: Arc<Mutex<Hook>>,
) {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    // This session's view: the maildrop when it started, and what it marked deleted.
    let drop_: Vec<(u64, Message)> = state.lock().unwrap().maildrop.clone();
    let mut marked = vec![false; drop_.len()];
    let ask = |command: &str| (hook.lock().unwrap())(connection, command);
    let greeting = ask("GREETING").unwrap_or_else(|| Reply::raw("+OK scripted POP3 ready\r\n"));
    if !send(&mut write, &mut read, greeting).await {
        return;
    }
    loop {
        let mut line = Vec::new();
        match (&mut read)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_string();
        let logged = match command.split_once(' ') {
            Some((verb, _)) if verb.eq_ignore_ascii_case("PASS") => "PASS".to_string(),
            _ => command.clone(),
        };
        state.lock().unwrap().commands.push((connection, logged));
        let reply = match ask(&command) {
            Some(reply) => reply,
            None => {
                let quit = command.eq_ignore_ascii_case("QUIT");
                let bytes = answer(&command, &drop_, &mut marked);
                if quit {
                    let mut s = state.lock().unwrap();
                    for ((id, m), dele) in drop_.iter().zip(&marked) {
                        if *dele {
                            s.maildrop.retain(|(other, _)| other != id);
                            s.deleted.push(m.clone());
                        }
                    }
                    Reply::Close(bytes)
                } else {
                    Reply::Raw(bytes)
                }
            }
        };
        if !send(&mut write, &mut read, reply).await {
            return;
        }
    }
}

/// Sends `reply`; false when the conversation is over.
async fn send(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    reply: Reply,
) -> bool {
    match reply {
        Reply::Raw(bytes) => write.write_all(&bytes).await.is_ok(),
        Reply::Close(bytes) => {
            let _ = write.write_all(&bytes).await;
            let _ = write.shutdown().await;
            false
        }
        Reply::Hang(bytes) => {
            if write.write_all(&bytes).await.is_ok() {
                hang(read).await;
            }
            false
        }
        Reply::Flood {
            head,
            fill,
            len,
            tail,
            go_on,
        } => {
            let chunk: Vec<u8> = fill
                .iter()
                .copied()
                .cycle()
                .take((64 * 1024 / fill.len().max(1)).max(1) * fill.len())
                .collect();
            let mut left = len;
            let mut ok = write.write_all(&head).await.is_ok();
            while ok && left > 0 && !chunk.is_empty() {
                let n = left.min(chunk.len() as u64) as usize;
                ok = write.write_all(&chunk[..n]).await.is_ok();
                left -= n as u64;
            }
            ok = ok && write.write_all(&tail).await.is_ok();
            if ok && go_on {
                return true;
            }
            if ok {
                hang(read).await;
            }
            false
        }
    }
}

/// Silence until the client leaves; what it sends meanwhile is dropped.
async fn hang(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) {
    let mut sink = Vec::with_capacity(4096);
    while matches!(read.read_buf(&mut sink).await, Ok(n) if n > 0) {
        sink.clear();
    }
}

/// The well-behaved server's answer to `command`.
fn answer(command: &str, drop_: &[(u64, Message)], marked: &mut [bool]) -> Vec<u8> {
    let words: Vec<&str> = command.split(' ').collect();
    let verb = words[0].to_ascii_uppercase();
    let live = |i: usize| !marked[i];
    let number = |k: usize| -> Option<usize> {
        let n: usize = words.get(k)?.parse().ok()?;
        let i = n.checked_sub(1)?;
        (i < drop_.len() && !marked[i]).then_some(i)
    };
    let no = b"-ERR no such message\r\n".to_vec();
    match verb.as_str() {
        "CAPA" => b"+OK\r\nTOP\r\nUIDL\r\nUSER\r\nPIPELINING\r\n.\r\n".to_vec(),
        "USER" | "PASS" | "NOOP" => b"+OK\r\n".to_vec(),
        "STAT" => {
            let (count, size) = (0..drop_.len())
                .filter(|i| live(*i))
                .fold((0, 0), |(c, s), i| (c + 1, s + drop_[i].1.listed()));
            format!("+OK {count} {size}\r\n").into_bytes()
        }
        "LIST" if words.len() > 1 => match number(1) {
            Some(i) => format!("+OK {} {}\r\n", i + 1, drop_[i].1.listed()).into_bytes(),
            None => no,
        },
        "LIST" => {
            let mut out = b"+OK\r\n".to_vec();
            for (i, (_, m)) in drop_.iter().enumerate().filter(|(i, _)| live(*i)) {
                out.extend_from_slice(format!("{} {}\r\n", i + 1, m.listed()).as_bytes());
            }
            out.extend_from_slice(b".\r\n");
            out
        }
        "UIDL" if words.len() > 1 => {
            match number(1).and_then(|i| Some((i, drop_[i].1.uidl.as_ref()?))) {
                Some((i, uidl)) => format!("+OK {} {uidl}\r\n", i + 1).into_bytes(),
                None => no,
            }
        }
        "UIDL" => {
            let mut out = b"+OK\r\n".to_vec();
            for (i, (_, m)) in drop_.iter().enumerate().filter(|(i, _)| live(*i)) {
                if let Some(uidl) = &m.uidl {
                    out.extend_from_slice(format!("{} {uidl}\r\n", i + 1).as_bytes());
                }
            }
            out.extend_from_slice(b".\r\n");
            out
        }
        "TOP" => match (number(1), words.get(2).and_then(|k| k.parse().ok())) {
            (Some(i), Some(k)) => [b"+OK\r\n".as_slice(), &top(&drop_[i].1.bytes, k)].concat(),
            _ => no,
        },
        "RETR" => match number(1) {
            Some(i) => [b"+OK\r\n".as_slice(), &stuffed(&drop_[i].1.bytes)].concat(),
            None => no,
        },
        "DELE" => match number(1) {
            Some(i) => {
                marked[i] = true;
                b"+OK deleted\r\n".to_vec()
            }
            None => no,
        },
        "RSET" => {
            marked.iter_mut().for_each(|m| *m = false);
            b"+OK\r\n".to_vec()
        }
        "QUIT" => b"+OK bye\r\n".to_vec(),
        _ => b"-ERR unknown command\r\n".to_vec(),
    }
}
