//! The SMTP receiver behind the harness Dovecot's submission service: a small SMTP server on
//! 127.0.0.1 (plain TCP; Dovecot relays to it with `submission_relay_ssl = no`) that keeps
//! every message it accepts, its envelope and the exact DATA bytes (dot-unstuffed), so that
//! a test compares what was delivered with what was sent.
//!
//! Faults are programmed on the receiver and reach the client through Dovecot, which passes
//! the relay's MAIL and RCPT replies on: a rejected recipient (`550 5.1.1`), a temporary
//! failure of the next N `MAIL FROM` (`451 4.3.0`), and a connection closed right after the
//! final dot of the next message, before any reply. Each fault has a counter
//! ([`SmtpSink::faults`]) so a test asserts that it really fired.
//!
//! Optionally the receiver files every accepted message into a user's `Sent` with
//! `doveadm save` (a real Dovecot path), before it answers: a server that "files sent mail
//! itself", as Gmail does.
//!
//! It runs on its own threads, never on the test's runtime, so a test may block on it or
//! await it. It must never be reachable from anything but loopback.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Command, Stdio},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// One message the receiver accepted (or, in [`SmtpSink::dropped`], received but never
/// answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The reverse path, without the angle brackets (empty for `<>`).
    pub mail_from: String,
    /// What followed the reverse path on the `MAIL FROM` line (`BODY=8BITMIME`, `SIZE=…`).
    pub mail_params: String,
    /// The forward paths of the accepted recipients, without angle brackets, in order.
    pub rcpt_to: Vec<String>,
    /// The DATA bytes as the relay sent them, dot-unstuffed, without the final `.` line.
    pub data: Vec<u8>,
}

impl Received {
    /// The first header field `name` (case-insensitive), unfolded and trimmed: e.g. the
    /// `Message-ID` a duplicate count goes by.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((field, value)) = line.split_once(':')
                && field.trim().eq_ignore_ascii_case(name)
            {
                found = Some(value.trim().to_string());
            }
        }
        found.map(|value| value.trim().to_string())
    }

    /// `data` without the first `Received:` header (and its folded lines): the trace
    /// header Dovecot's submission adds, so that the rest compares byte for byte with the
    /// message the client sent.
    pub fn data_without_trace(&self) -> Vec<u8> {
        let data = &self.data;
        let mut lines = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = data[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |i| start + i + 1);
            lines.push(start..end);
            let line = &data[start..end];
            if line == b"\r\n" || line == b"\n" {
                break; // end of the header
            }
            start = end;
        }
        let Some(first) = lines.iter().position(|r| {
            data[r.clone()]
                .to_ascii_lowercase()
                .starts_with(b"received:")
        }) else {
            return data.clone();
        };
        let mut last = first;
        while lines
            .get(last + 1)
            .is_some_and(|r| matches!(data.get(r.start), Some(b' ' | b'\t')))
        {
            last += 1;
        }
        let mut out = data[..lines[first].start].to_vec();
        out.extend_from_slice(&data[lines[last].end..]);
        out
    }
}

/// How often each programmed fault fired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// `RCPT TO` answered `550 5.1.1` because the address is in the rejected set.
    pub rejected_recipients: u64,
    /// `MAIL FROM` answered `451 4.3.0`.
    pub failed_mail_from: u64,
    /// Connections closed after the final dot, before the reply.
    pub dropped_after_data: u64,
}

/// Where the receiver files accepted messages itself (`doveadm save`).
#[derive(Debug, Clone)]
struct FileInto {
    config: PathBuf,
    user: String,
    mailbox: String,
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    dropped: Vec<Received>,
    rejected: BTreeSet<String>,
    fail_mail_from: u32,
    drop_next_data: bool,
    faults: FaultCounts,
    file_into: Option<FileInto>,
    filed: u64,
    connections: u64,
    logins: u64,
    max_size: Option<u64>,
    save_dir: Option<PathBuf>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// The number of accepted messages, for async waiters.
    count: tokio::sync::watch::Sender<usize>,
    stop: AtomicBool,
}

/// A running receiver. Dropping the last handle stops it. Cloning shares it (the Dovecot
/// that relays to it holds one).
#[derive(Debug, Clone)]
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _guard: Arc<StopOnDrop>,
}

#[derive(Debug)]
struct StopOnDrop {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(self.addr);
    }
}

impl SmtpSink {
    /// Starts a receiver on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            count: tokio::sync::watch::Sender::new(0),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        std::thread::Builder::new()
            .name("smtp-sink".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    accept_shared.state.lock().unwrap().connections += 1;
                    let shared = accept_shared.clone();
                    let _ = std::thread::Builder::new()
                        .name("smtp-sink-conn".into())
                        .spawn(move || {
                            let _ = serve(stream, &shared);
                        });
                }
            })
            .unwrap();
        SmtpSink {
            addr,
            shared: shared.clone(),
            _guard: Arc::new(StopOnDrop { addr, shared }),
        }
    }

    /// Where it listens (what Dovecot's `submission_relay_host`/`port` name).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.state.lock().unwrap().received.clone()
    }

    /// How many messages were accepted so far.
    pub fn count(&self) -> usize {
        self.shared.state.lock().unwrap().received.len()
    }

    /// Messages whose DATA arrived completely but whose connection was closed before the
    /// reply (the drop-after-data fault): the relay cannot know whether they were taken.
    pub fn dropped(&self) -> Vec<Received> {
        self.shared.state.lock().unwrap().dropped.clone()
    }

    /// How many SMTP connections the relay opened so far.
    pub fn connections(&self) -> u64 {
        self.shared.state.lock().unwrap().connections
    }

    /// Advertises `SIZE n` and refuses larger messages (`552 5.3.4`, at `MAIL FROM … SIZE=`
    /// or after the final dot); None = bare `SIZE`, no limit. Dovecot enforces its own limit
    /// when it relays; this one matters where clients reach the receiver through
    /// submission-login's proxy (BURL off).
    pub fn set_max_size(&self, max: Option<u64>) {
        self.shared.state.lock().unwrap().max_size = max;
    }

    /// Also writes every message accepted from now on to `dir` as `NNNN.eml` (the DATA
    /// bytes) and `NNNN.envelope` (`MAIL FROM` then one `RCPT TO` per line), numbered from 1:
    /// for processes outside the test (the devserver's demos). None stops it.
    pub fn save_into(&self, dir: Option<PathBuf>) {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).unwrap();
        }
        self.shared.state.lock().unwrap().save_dir = dir;
    }

    /// How many clients logged in to the receiver itself (only Dovecot's submission-login
    /// proxy does, with BURL off).
    pub fn logins(&self) -> u64 {
        self.shared.state.lock().unwrap().logins
    }

    /// Waits until at least `n` messages were accepted and returns all of them; panics
    /// after `timeout` with what arrived. Awaits without blocking the runtime.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let mut rx = self.shared.count.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await;
        let received = self.received();
        assert!(
            waited.is_ok() && received.len() >= n,
            "the SMTP receiver got {} of {n} messages within {timeout:?}: {:?}",
            received.len(),
            received
                .iter()
                .map(|r| (&r.mail_from, &r.rcpt_to, r.data.len()))
                .collect::<Vec<_>>()
        );
        received
    }

    /// [`SmtpSink::wait_for_messages`] for synchronous code (blocks the calling thread).
    pub fn wait_for_messages_blocking(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().unwrap();
        while state.received.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the SMTP receiver got {} of {n} messages within {timeout:?}",
                state.received.len()
            );
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
        state.received.clone()
    }

    /// Answers `RCPT TO:<address>` with `550 5.1.1` from now on (compared ignoring case).
    pub fn reject_recipient(&self, address: &str) {
        self.shared
            .state
            .lock()
            .unwrap()
            .rejected
            .insert(address.to_ascii_lowercase());
    }

    /// Answers the next `n` `MAIL FROM` commands with `451 4.3.0`.
    pub fn fail_next_mail_from(&self, n: u32) {
        self.shared.state.lock().unwrap().fail_mail_from = n;
    }

    /// Closes the connection right after the final dot of the next message, before
    /// replying. The message goes to [`SmtpSink::dropped`], not [`SmtpSink::received`].
    pub fn drop_after_next_data(&self) {
        self.shared.state.lock().unwrap().drop_next_data = true;
    }

    /// How often each fault fired so far.
    pub fn faults(&self) -> FaultCounts {
        self.shared.state.lock().unwrap().faults
    }

    /// Files every message accepted from now on into `user`'s `mailbox` with
    /// `doveadm -c <config> save`, before answering the final dot (so the copy is there
    /// when the client learns the message was sent). `None` stops filing.
    pub fn file_into(&self, target: Option<(PathBuf, &str, &str)>) {
        self.shared.state.lock().unwrap().file_into =
            target.map(|(config, user, mailbox)| FileInto {
                config,
                user: user.to_string(),
                mailbox: mailbox.to_string(),
            });
    }

    /// How many messages were filed by [`SmtpSink::file_into`].
    pub fn filed(&self) -> u64 {
        self.shared.state.lock().unwrap().filed
    }
}

/// The state of one SMTP transaction.
#[derive(Debug, Default)]
struct Transaction {
    mail_from: Option<(String, String)>,
    rcpt_to: Vec<String>,
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink.localhost ESMTP anvert test receiver\r\n")?;
    let mut tx = Transaction::default();
    let mut line = Vec::new();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let reply: &[u8] = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                tx = Transaction::default();
                let size = match shared.state.lock().unwrap().max_size {
                    Some(n) => format!("SIZE {n}"),
                    None => "SIZE".to_string(),
                };
                let reply = format!(
                    "250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                     250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN\r\n250 {size}\r\n"
                );
                writer.write_all(reply.as_bytes())?;
                continue;
            }
            "HELO" => {
                tx = Transaction::default();
                b"250 sink.localhost\r\n"
            }
            "MAIL" => {
                let mut state = shared.state.lock().unwrap();
                if state.fail_mail_from > 0 {
                    state.fail_mail_from -= 1;
                    state.faults.failed_mail_from += 1;
                    b"451 4.3.0 Temporary failure (programmed)\r\n"
                } else if let Some(path) = strip_prefix_ci(arg, "FROM:") {
                    let (address, params) = split_path(path);
                    let declared = params.split_whitespace().find_map(|p| {
                        strip_prefix_ci(p, "SIZE=").and_then(|n| n.parse::<u64>().ok())
                    });
                    if let (Some(max), Some(declared)) = (state.max_size, declared)
                        && declared > max
                    {
                        drop(state);
                        writer.write_all(b"552 5.3.4 Message size exceeds fixed limit\r\n")?;
                        continue;
                    }
                    tx = Transaction {
                        mail_from: Some((address, params)),
                        rcpt_to: Vec::new(),
                    };
                    b"250 2.1.0 Ok\r\n"
                } else {
                    b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
                }
            }
            "RCPT" => match strip_prefix_ci(arg, "TO:") {
                _ if tx.mail_from.is_none() => b"503 5.5.1 Need MAIL first\r\n",
                Some(path) => {
                    let (address, _) = split_path(path);
                    let mut state = shared.state.lock().unwrap();
                    if state.rejected.contains(&address.to_ascii_lowercase()) {
                        state.faults.rejected_recipients += 1;
                        drop(state);
                        let reply = format!(
                            "550 5.1.1 Recipient address rejected (programmed): {address}\r\n"
                        );
                        writer.write_all(reply.as_bytes())?;
                        continue;
                    }
                    tx.rcpt_to.push(address);
                    b"250 2.1.5 Ok\r\n"
                }
                None => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
            },
            "DATA" => {
                if tx.rcpt_to.is_empty() {
                    b"554 5.5.1 No valid recipients\r\n"
                } else {
                    writer.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                    let data = read_data(&mut reader)?;
                    let (mail_from, mail_params) = tx.mail_from.take().unwrap_or_default();
                    let message = Received {
                        mail_from,
                        mail_params,
                        rcpt_to: std::mem::take(&mut tx.rcpt_to),
                        data,
                    };
                    let mut state = shared.state.lock().unwrap();
                    if state
                        .max_size
                        .is_some_and(|max| message.data.len() as u64 > max)
                    {
                        drop(state);
                        writer.write_all(b"552 5.3.4 Message size exceeds fixed limit\r\n")?;
                        continue;
                    }
                    if state.drop_next_data {
                        state.drop_next_data = false;
                        state.faults.dropped_after_data += 1;
                        state.dropped.push(message);
                        drop(state);
                        let _ = writer.shutdown(Shutdown::Both);
                        return Ok(());
                    }
                    let file_into = state.file_into.clone();
                    drop(state);
                    if let Some(target) = file_into {
                        file_message(&target, &message.data);
                    }
                    let mut state = shared.state.lock().unwrap();
                    if state.file_into.is_some() {
                        state.filed += 1;
                    }
                    if let Some(dir) = &state.save_dir {
                        let n = state.received.len() + 1;
                        let mut envelope = format!("MAIL FROM:<{}>\n", message.mail_from);
                        for rcpt in &message.rcpt_to {
                            envelope.push_str(&format!("RCPT TO:<{rcpt}>\n"));
                        }
                        std::fs::write(dir.join(format!("{n:04}.envelope")), envelope)?;
                        std::fs::write(dir.join(format!("{n:04}.eml")), &message.data)?;
                    }
                    state.received.push(message);
                    let count = state.received.len();
                    drop(state);
                    shared.changed.notify_all();
                    shared.count.send_replace(count);
                    b"250 2.0.0 Ok: queued\r\n"
                }
            }
            // Any PLAIN login is accepted: with BURL off, Dovecot's submission-login proxies
            // the client's own (already verified) login here.
            "AUTH" => {
                let mut words = arg.split_whitespace();
                if !words
                    .next()
                    .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN"))
                {
                    b"504 5.5.4 Only PLAIN\r\n"
                } else {
                    if words.next().is_none() {
                        writer.write_all(b"334 \r\n")?;
                        line.clear();
                        reader.read_until(b'\n', &mut line)?;
                    }
                    shared.state.lock().unwrap().logins += 1;
                    b"235 2.7.0 Authentication successful\r\n"
                }
            }
            "RSET" => {
                tx = Transaction::default();
                b"250 2.0.0 Ok\r\n"
            }
            "NOOP" => b"250 2.0.0 Ok\r\n",
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n")?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognized\r\n",
        };
        writer.write_all(reply)?;
    }
}

/// Reads DATA up to the `.` line, removing the dot-stuffing.
fn read_data(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

/// `doveadm save`s one message (as a real server-side "file sent mail" would).
fn file_message(target: &FileInto, data: &[u8]) {
    let mut child = Command::new("/usr/bin/doveadm")
        .arg("-c")
        .arg(&target.config)
        .args(["save", "-u", &target.user, "-m", &target.mailbox])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("doveadm save");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(data)
        .expect("write to doveadm save");
    let out = child.wait_with_output().expect("doveadm save output");
    assert!(
        out.status.success(),
        "doveadm save into {}'s {} failed: {}",
        target.user,
        target.mailbox,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text[prefix.len()..].trim_start())
}

/// `<addr> PARAMS` into the address without brackets and the parameters.
fn split_path(path: &str) -> (String, String) {
    let path = path.trim();
    if let Some(rest) = path.strip_prefix('<')
        && let Some(end) = rest.find('>')
    {
        return (rest[..end].to_string(), rest[end + 1..].trim().to_string());
    }
    let (address, params) = path.split_once(' ').unwrap_or((path, ""));
    (address.to_string(), params.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_header_is_removed_with_its_folded_lines() {
        let message = Received {
            mail_from: String::new(),
            mail_params: String::new(),
            rcpt_to: Vec::new(),
            data: b"Received: from x\r\n\tby y; date\r\nSubject: hi\r\n\r\nReceived: body\r\n"
                .to_vec(),
        };
        assert_eq!(
            message.data_without_trace(),
            b"Subject: hi\r\n\r\nReceived: body\r\n"
        );
    }

    #[test]
    fn a_header_is_found_unfolded() {
        let message = Received {
            mail_from: String::new(),
            mail_params: String::new(),
            rcpt_to: Vec::new(),
            data: b"Received: x\r\nMessage-ID:\r\n <a@b>\r\nSubject: s\r\n\r\nMessage-ID: no\r\n"
                .to_vec(),
        };
        assert_eq!(message.header("message-id").as_deref(), Some("<a@b>"));
        assert_eq!(message.header("Subject").as_deref(), Some("s"));
        assert_eq!(message.header("To"), None);
    }

    #[test]
    fn paths_and_parameters_are_split() {
        assert_eq!(
            split_path("<a@b> BODY=8BITMIME SIZE=10"),
            ("a@b".into(), "BODY=8BITMIME SIZE=10".into())
        );
        assert_eq!(split_path("<>"), (String::new(), String::new()));
    }
}
