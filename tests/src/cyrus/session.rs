//! The harness's own door into a private Cyrus: a blocking IMAP session over a Unix socket
//! that only the test can reach (an `imapd -p 2` service, so LOGIN is allowed without TLS).
//! It delivers generated mailboxes with MULTIAPPEND and LITERAL+, and reads the server's
//! view of a folder's flags, independently of the engine. It never goes through the engine's
//! code, so a bug there cannot hide in the ground truth.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use anvert_core::store::SystemFlags;

use crate::generator::GeneratedMessage;

/// Messages and bytes per APPEND command: a batch is one round trip.
const BATCH_MESSAGES: usize = 250;
const BATCH_BYTES: usize = 8 << 20;

/// A logged-in harness session. Every failure panics with the server's answer.
pub(super) struct HarnessSession {
    reader: BufReader<UnixStream>,
    tag: u32,
}

impl HarnessSession {
    /// Connects to `socket`, reads the greeting and logs `user` in.
    pub(super) fn login(socket: &Path, user: &str, password: &str) -> Self {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("harness socket {}: {e}", socket.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut session = HarnessSession {
            reader: BufReader::new(stream),
            tag: 0,
        };
        let greeting = session.read_response_line();
        assert!(greeting.starts_with("* OK"), "Cyrus greeting: {greeting}");
        session.run(format!("LOGIN {} {}", quote(user), quote(password)).as_bytes());
        session
    }

    /// Sends one command and reads up to its tagged answer. Returns the status (`OK`, `NO`,
    /// `BAD`), the rest of the tagged line and the untagged lines (literals inlined).
    pub(super) fn command(&mut self, command: &[u8]) -> (String, String, Vec<String>) {
        self.tag += 1;
        let tag = format!("H{}", self.tag);
        let mut wire = Vec::with_capacity(command.len() + tag.len() + 3);
        wire.extend_from_slice(tag.as_bytes());
        wire.push(b' ');
        wire.extend_from_slice(command);
        wire.extend_from_slice(b"\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(&wire).unwrap();
        stream.flush().unwrap();
        let mut untagged = Vec::new();
        loop {
            let line = self.read_response_line();
            if let Some(rest) = line
                .strip_prefix(tag.as_str())
                .and_then(|r| r.strip_prefix(' '))
            {
                let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
                return (status.to_ascii_uppercase(), text.to_string(), untagged);
            }
            untagged.push(line);
        }
    }

    /// [`HarnessSession::command`] that panics unless the answer is OK.
    pub(super) fn run(&mut self, command: &[u8]) -> Vec<String> {
        let (status, text, untagged) = self.command(command);
        assert_eq!(
            status,
            "OK",
            "Cyrus refused {:?}: {status} {text}",
            String::from_utf8_lossy(&command[..command.len().min(200)])
        );
        untagged
    }

    /// Creates `mailbox` unless it exists.
    pub(super) fn ensure_mailbox(&mut self, mailbox: &str) {
        if mailbox.eq_ignore_ascii_case("INBOX") {
            return;
        }
        let (status, text, _) = self.command(format!("CREATE {}", quote(mailbox)).as_bytes());
        assert!(
            // Cyrus 3.6 answers a second CREATE with the code, or only in words.
            status == "OK"
                || text.contains("ALREADYEXISTS")
                || text.to_ascii_lowercase().contains("already exists"),
            "CREATE {mailbox}: {status} {text}"
        );
    }

    /// Appends `messages` to `mailbox` in order, each with its truth's flags and its date as
    /// INTERNALDATE, a batch of messages per MULTIAPPEND command.
    pub(super) fn append_all(
        &mut self,
        mailbox: &str,
        messages: impl IntoIterator<Item = GeneratedMessage>,
    ) -> Vec<crate::generator::MessageTruth> {
        let mut truths = Vec::new();
        let mut batch = Vec::new();
        let mut in_batch = 0;
        for msg in messages {
            let flags: Vec<&str> = msg.truth.flags.iter().map(|f| f.imap_name()).collect();
            batch.extend_from_slice(
                format!(
                    " ({}) \"{}\" {{{}+}}\r\n",
                    flags.join(" "),
                    internal_date(msg.truth.date),
                    msg.raw.len()
                )
                .as_bytes(),
            );
            batch.extend_from_slice(&msg.raw);
            in_batch += 1;
            truths.push(msg.truth);
            if in_batch >= BATCH_MESSAGES || batch.len() >= BATCH_BYTES {
                self.append_batch(mailbox, &batch);
                batch.clear();
                in_batch = 0;
            }
        }
        if in_batch > 0 {
            self.append_batch(mailbox, &batch);
        }
        truths
    }

    fn append_batch(&mut self, mailbox: &str, batch: &[u8]) {
        let mut command = format!("APPEND {}", quote(mailbox)).into_bytes();
        command.extend_from_slice(batch);
        self.run(&command);
    }

    /// The UIDs and system flags of `mailbox`, read with EXAMINE and UID FETCH.
    pub(super) fn flags(&mut self, mailbox: &str) -> BTreeMap<u32, SystemFlags> {
        let selected = self.run(format!("EXAMINE {}", quote(mailbox)).as_bytes());
        let exists = selected
            .iter()
            .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
            .unwrap_or(0u32);
        let mut map = BTreeMap::new();
        if exists > 0 {
            for line in self.run(b"UID FETCH 1:* (FLAGS)") {
                if let Some((uid, flags)) = parse_fetch_flags(&line) {
                    map.insert(uid, flags);
                }
            }
        }
        self.run(b"UNSELECT");
        assert_eq!(map.len(), exists as usize, "one FETCH per message");
        map
    }

    pub(super) fn logout(mut self) {
        self.command(b"LOGOUT");
    }

    /// One response line without its CRLF, with any literals it announces inlined.
    fn read_response_line(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line).unwrap();
            assert!(n > 0, "Cyrus closed the harness session");
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            let literal = literal_len(&line);
            out.extend_from_slice(&line);
            match literal {
                Some(len) => {
                    let mut body = vec![0; len];
                    self.reader.read_exact(&mut body).unwrap();
                    out.extend_from_slice(&body);
                }
                None => return String::from_utf8_lossy(&out).into_owned(),
            }
        }
    }
}

/// `{n}` at the end of a line: the length of the literal that follows.
fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// `* 3 FETCH (FLAGS (\Seen) UID 7)` (in either order) → (7, SEEN).
fn parse_fetch_flags(line: &str) -> Option<(u32, SystemFlags)> {
    let items = line.split_once(" FETCH (")?.1;
    let uid = items
        .split_once("UID ")?
        .1
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let list = items.split_once("FLAGS (")?.1.split_once(')')?.0;
    let mut flags = SystemFlags::empty();
    for flag in list.split_whitespace() {
        match flag.to_ascii_lowercase().as_str() {
            "\\seen" => flags.insert(SystemFlags::SEEN),
            "\\flagged" => flags.insert(SystemFlags::FLAGGED),
            "\\answered" => flags.insert(SystemFlags::ANSWERED),
            "\\draft" => flags.insert(SystemFlags::DRAFT),
            "\\deleted" => flags.insert(SystemFlags::DELETED),
            _ => {}
        }
    }
    Some((uid, flags))
}

/// An IMAP quoted string (the harness's names and passwords are plain ASCII).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Unix seconds as an IMAP date-time in UTC: `07-Mar-2024 09:05:00 +0000`.
fn internal_date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let d = mail_parser::DateTime::from_timestamp(unix);
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} +0000",
        d.day,
        MONTHS[usize::from(d.month.clamp(1, 12)) - 1],
        d.year,
        d.hour,
        d.minute,
        d.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates_are_utc() {
        assert_eq!(internal_date(0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(internal_date(1_709_802_300), "07-Mar-2024 09:05:00 +0000");
    }

    #[test]
    fn fetch_flags_in_either_order() {
        assert_eq!(
            parse_fetch_flags("* 3 FETCH (FLAGS (\\Seen \\Flagged $X) UID 7)"),
            Some((7, SystemFlags::SEEN | SystemFlags::FLAGGED))
        );
        assert_eq!(
            parse_fetch_flags("* 1 FETCH (UID 12 FLAGS ())"),
            Some((12, SystemFlags::empty()))
        );
    }

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* LIST () \"/\" {5}"), Some(5));
        assert_eq!(literal_len(b"* OK done"), None);
    }
}
