//! A raw SMTP client for the harness' own tests and for baselines that bypass the engine:
//! TCP to a loopback address, TLS verified against the harness CA (implicit, or after
//! STARTTLS), commands written as given and replies read whole (multi-line included). It
//! does nothing clever: no pipelining, no retries, no parsing beyond the reply code.

use std::{net::SocketAddr, time::Duration};

use anvert_core::net::{BoxedIo, TlsConnector};
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpStream,
};

const TLS_TIMEOUT: Duration = Duration::from_secs(20);

/// One SMTP reply: the code and the text of each line (after `250-` / `250 `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl SmtpReply {
    /// 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// The lines joined by newlines, for assertions.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The EHLO keyword line starting with `keyword` (case-insensitive), e.g. `BURL`.
    pub fn ehlo_line(&self, keyword: &str) -> Option<&str> {
        self.lines.iter().map(String::as_str).find(|line| {
            let word = line.split(' ').next().unwrap_or("");
            word.eq_ignore_ascii_case(keyword)
        })
    }
}

impl std::fmt::Display for SmtpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

trait Stream: AsyncBufRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncBufRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(BufReader<BoxedIo>),
}

/// A raw SMTP connection. Every method panics on I/O errors except [`RawSmtp::read_reply`].
pub struct RawSmtp {
    conn: Conn,
    /// The server's greeting.
    pub greeting: SmtpReply,
}

impl std::fmt::Debug for RawSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSmtp")
            .field("tls", &matches!(self.conn, Conn::Tls(_)))
            .finish()
    }
}

impl RawSmtp {
    /// Plain TCP, the greeting read (the receiver, or the 587-like port before STARTTLS).
    pub async fn connect_plain(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut smtp = RawSmtp {
            conn: Conn::Plain(BufReader::new(tcp)),
            greeting: SmtpReply {
                code: 0,
                lines: Vec::new(),
            },
        };
        smtp.greeting = smtp.read_reply().await.unwrap();
        smtp
    }

    /// Implicit TLS (the 465-like port), verified for `addr`'s IP, the greeting read.
    pub async fn connect_tls(addr: SocketAddr, tls: &TlsConnector) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let stream = tls
            .connect(&addr.ip().to_string(), tcp, TLS_TIMEOUT)
            .await
            .unwrap();
        let mut smtp = RawSmtp {
            conn: Conn::Tls(BufReader::new(BoxedIo::new(stream))),
            greeting: SmtpReply {
                code: 0,
                lines: Vec::new(),
            },
        };
        smtp.greeting = smtp.read_reply().await.unwrap();
        smtp
    }

    /// The 587-like port: greeting, EHLO, STARTTLS, the TLS handshake verified for `addr`'s
    /// IP. The caller sends EHLO again.
    pub async fn connect_starttls(addr: SocketAddr, tls: &TlsConnector) -> Self {
        let mut smtp = Self::connect_plain(addr).await;
        let ehlo = smtp.ehlo().await;
        assert!(ehlo.ehlo_line("STARTTLS").is_some(), "no STARTTLS: {ehlo}");
        smtp.starttls(addr, tls).await;
        smtp
    }

    /// STARTTLS and the handshake on a plain connection.
    pub async fn starttls(&mut self, addr: SocketAddr, tls: &TlsConnector) {
        let reply = self.command("STARTTLS").await;
        assert_eq!(reply.code, 220, "STARTTLS: {reply}");
        let placeholder = Conn::Tls(BufReader::new(BoxedIo::new(tokio::io::empty())));
        let Conn::Plain(reader) = std::mem::replace(&mut self.conn, placeholder) else {
            panic!("STARTTLS on a TLS connection");
        };
        assert!(reader.buffer().is_empty(), "bytes after the STARTTLS reply");
        let tcp = reader.into_inner();
        let stream = tls
            .connect(&addr.ip().to_string(), tcp, TLS_TIMEOUT)
            .await
            .unwrap();
        self.conn = Conn::Tls(BufReader::new(BoxedIo::new(stream)));
    }

    fn io(&mut self) -> &mut dyn Stream {
        match &mut self.conn {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s,
        }
    }

    /// Writes bytes as they are.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        let io = self.io();
        io.write_all(bytes).await.unwrap();
        io.flush().await.unwrap();
    }

    /// Reads one whole reply; an error when the connection closes first.
    pub async fn read_reply(&mut self) -> std::io::Result<SmtpReply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.io().read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| std::io::Error::other(format!("not a reply line: {line:?}")))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(SmtpReply { code, lines });
            }
        }
    }

    /// Sends one command line (CRLF added) and reads the reply.
    pub async fn command(&mut self, line: &str) -> SmtpReply {
        self.write_raw(format!("{line}\r\n").as_bytes()).await;
        self.read_reply()
            .await
            .unwrap_or_else(|e| panic!("no reply to {line:?}: {e}"))
    }

    /// `EHLO client.localhost`.
    pub async fn ehlo(&mut self) -> SmtpReply {
        let reply = self.command("EHLO client.localhost").await;
        assert_eq!(reply.code, 250, "EHLO: {reply}");
        reply
    }

    /// `AUTH PLAIN` with the initial response.
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> SmtpReply {
        use base64::Engine as _;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.command(&format!("AUTH PLAIN {token}")).await
    }

    /// After a 354: the message dot-stuffed, then the final dot; returns the reply, or an
    /// error when the connection closes instead.
    pub async fn send_data(&mut self, message: &[u8]) -> std::io::Result<SmtpReply> {
        self.write_raw(&dot_stuff(message)).await;
        self.read_reply().await
    }

    /// MAIL FROM, each RCPT TO, DATA and the message, one command at a time. Returns the
    /// replies to RCPT (in order) and to the final dot (None when an earlier step failed).
    pub async fn send_mail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
    ) -> (
        SmtpReply,
        Vec<SmtpReply>,
        Option<std::io::Result<SmtpReply>>,
    ) {
        let mail = self.command(&format!("MAIL FROM:<{from}>")).await;
        if !mail.is_positive() {
            return (mail, Vec::new(), None);
        }
        let mut rcpts = Vec::new();
        for rcpt in to {
            rcpts.push(self.command(&format!("RCPT TO:<{rcpt}>")).await);
        }
        if !rcpts.iter().any(SmtpReply::is_positive) {
            self.command("RSET").await;
            return (mail, rcpts, None);
        }
        let data = self.command("DATA").await;
        if data.code != 354 {
            return (mail, rcpts, Some(Ok(data)));
        }
        let done = self.send_data(message).await;
        (mail, rcpts, Some(done))
    }
}

/// The DATA form of a message: lines starting with `.` doubled, CRLF ensured at the end,
/// then `.` CRLF.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
