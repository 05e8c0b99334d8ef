//! The IMAP side of Lemonade (RFC 5550): `APPEND … CATENATE` (RFC 4469), which assembles a
//! message on the server from new text and URL references to parts of messages already
//! there, and `GENURLAUTH` (RFC 4467), which signs a URL so that a submission server can
//! fetch a message by reference (BURL). Protocol only: which parts and which URLs is the
//! sync layer's business; URLs are built in [`super::url`].
//!
//! A signed URL (`…:internal:<token>`) is a credential: anyone holding it reads the message.
//! It never goes into a log, a trace, an error or the store: [`ImapSession::genurlauth`]
//! returns it to the caller, who keeps it in memory for the BURL that follows. Errors about a
//! URL name the part by its position, never the URL.
//!
//! CATENATE's TEXT parts are literals: non-synchronizing (`{n+}`) where the server offers
//! LITERAL+, so the whole command leaves in one flight; otherwise synchronizing (`{n}`), each
//! sent only after the server's `+` continuation. The command is driven here rather than
//! through `exchange`, which sends one line per command.

use async_imap::imap_proto::{Response, Status};
use tokio::io::AsyncWriteExt;

use super::{
    AppendOutcome, ImapSession, UidPlusCode, connect::map_err, exchange::Completion,
    guard::Unparsable, session::check, session::quote,
};
use crate::error::{Error, Result};

/// The longest URL accepted in a CATENATE part or a GENURLAUTH rump, in bytes.
pub const MAX_URL: usize = 4096;
/// How many parts one CATENATE may carry.
pub const MAX_PARTS: usize = 1000;
/// The longest signed URL accepted back from GENURLAUTH beyond the rump asked for: RFC 4467's
/// `:internal:` and a verifier of at least 32 hex digits (Dovecot and Cyrus send 40).
const MAX_TOKEN_SUFFIX: usize = 512;
/// The response code a CATENATE refusal carries when a URL could not be resolved.
pub const BADURL: &str = "[BADURL]";
/// The response code a CATENATE refusal carries when the result would be too large.
pub const TOOBIG: &str = "[TOOBIG]";

/// One piece of a message assembled with CATENATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatPart<'a> {
    /// Bytes sent as they are (new headers, new text, MIME boundary lines). No NUL.
    Text(&'a [u8]),
    /// A relative IMAP URL (RFC 5092) the server resolves in the user's own mailboxes, e.g.
    /// `/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2.MIME` (see [`super::url::relative`]).
    Url(&'a str),
}

/// An owned [`CatPart`], for part lists built ahead of the session (see
/// `mime::forward_catenate_parts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedCatPart {
    Text(Vec<u8>),
    Url(String),
}

impl OwnedCatPart {
    /// The borrowed form [`ImapSession::append_catenate`] takes.
    pub fn as_part(&self) -> CatPart<'_> {
        match self {
            OwnedCatPart::Text(bytes) => CatPart::Text(bytes),
            OwnedCatPart::Url(url) => CatPart::Url(url),
        }
    }
}

/// The command as pieces: `head` goes as the tagged command line, then for each literal its
/// bytes followed by `tail` (the command up to the next literal's header, or its end).
struct Pieces<'a> {
    head: String,
    literals: Vec<(&'a [u8], String)>,
    /// Literals are `{n}`: wait for `+` before each.
    synchronizing: bool,
}

fn pieces<'a>(
    mailbox: &str,
    flags: &[&str],
    parts: &[CatPart<'a>],
    literal_plus: bool,
) -> Result<Pieces<'a>> {
    if parts.is_empty() || parts.len() > MAX_PARTS {
        return Err(Error::Config {
            reason: format!("a CATENATE needs 1 to {MAX_PARTS} parts"),
        });
    }
    for flag in flags {
        if flag.is_empty()
            || !flag.bytes().all(|b| {
                b.is_ascii_graphic() && !matches!(b, b'(' | b')' | b'{' | b'"' | b'%' | b'*' | b']')
            })
        {
            return Err(Error::Config {
                reason: "an invalid flag for APPEND".into(),
            });
        }
    }
    let plus = if literal_plus { "+" } else { "" };
    let mut head = format!(
        "APPEND {} ({}) CATENATE (",
        quote(mailbox)?,
        flags.join(" ")
    );
    let mut literals: Vec<(&[u8], String)> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let out = match literals.last_mut() {
            Some((_, tail)) => tail,
            None => &mut head,
        };
        if i > 0 {
            out.push(' ');
        }
        match part {
            CatPart::Text(bytes) => {
                if bytes.is_empty() || bytes.contains(&0) {
                    return Err(Error::Config {
                        reason: format!("CATENATE text part {} is empty or holds a NUL", i + 1),
                    });
                }
                out.push_str(&format!("TEXT {{{}{plus}}}", bytes.len()));
                literals.push((bytes, String::new()));
            }
            CatPart::Url(url) => {
                if url.is_empty()
                    || url.len() > MAX_URL
                    || !url.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(Error::Config {
                        reason: format!("CATENATE URL part {} is not a printable ASCII URL", i + 1),
                    });
                }
                out.push_str("URL ");
                out.push_str(&quote(url)?);
            }
        }
    }
    match literals.last_mut() {
        Some((_, tail)) => tail.push(')'),
        None => head.push(')'),
    }
    Ok(Pieces {
        head,
        literals,
        synchronizing: !literal_plus,
    })
}

impl ImapSession {
    /// `APPEND <folder> (<flags>) CATENATE (TEXT {n+} … URL "…" …)` (RFC 4469): the server
    /// builds the message from `parts` in order. The APPENDUID comes back under UIDPLUS.
    ///
    /// A `NO [BADURL …]` becomes `Error::ServerNo` whose text starts with [`BADURL`] and
    /// names the URL part by its position (never the URL); a `NO [TOOBIG]` one starting with
    /// [`TOOBIG`]. Untagged responses that arrive meanwhile (EXISTS of a selected Sent) are
    /// not handed on: the next sync of the folder sees the new message.
    pub async fn append_catenate(
        &mut self,
        folder: &str,
        flags: &[&str],
        parts: &[CatPart<'_>],
    ) -> Result<AppendOutcome> {
        if !self.capabilities().catenate() {
            return Err(Error::Unsupported { what: "CATENATE" });
        }
        let pieces = pieces(folder, flags, parts, self.capabilities().has("LITERAL+"))?;
        let completion = self.drive(&pieces).await?;
        if !completion.ok {
            return Err(refusal(&completion, parts));
        }
        check(std::slice::from_ref(&completion), "APPEND")?;
        let uid = match completion.uidplus {
            Some(UidPlusCode::Append { uidvalidity, uids }) => {
                uids.first().map(|(first, _)| (uidvalidity, *first))
            }
            _ => None,
        };
        Ok(AppendOutcome { uid })
    }

    /// Sends `pieces` as one tagged command (waiting for `+` before each synchronizing
    /// literal) and reads to its tagged completion. Under LITERAL+ the stream is corked
    /// meanwhile, so the whole command leaves in one write (one TLS record per 16 KiB).
    async fn drive(&mut self, pieces: &Pieces<'_>) -> Result<Completion> {
        use std::sync::atomic::Ordering;
        let corked = !pieces.synchronizing;
        if corked {
            self.cork.store(true, Ordering::Release);
        }
        let sent = self.send_pieces(pieces).await;
        if corked {
            self.cork.store(false, Ordering::Release);
            let flushed = tokio::time::timeout(self.timeout, self.inner.as_mut().flush()).await;
            if sent.is_ok() {
                flushed
                    .map_err(|_| Error::Timeout {
                        during: "sending APPEND",
                    })?
                    .map_err(|e| map_err("APPEND", async_imap::error::Error::Io(e)))?;
            }
        }
        let (tag, refused) = sent?;
        if let Some(done) = refused {
            return Ok(done);
        }
        self.read_until(&tag, false)
            .await?
            .ok_or_else(|| Error::protocol("APPEND ended without a completion"))
    }

    /// Writes the command: its tag, and the server's completion when it refused a
    /// synchronizing literal instead of asking for it.
    async fn send_pieces(
        &mut self,
        pieces: &Pieces<'_>,
    ) -> Result<(async_imap::imap_proto::RequestId, Option<Completion>)> {
        let timeout = self.timeout;
        let tag = tokio::time::timeout(timeout, self.inner.run_command(&pieces.head))
            .await
            .map_err(|_| Error::Timeout {
                during: "sending APPEND",
            })?
            .map_err(|e| map_err("APPEND", e))?;
        for (bytes, tail) in &pieces.literals {
            if pieces.synchronizing {
                // The server may refuse right away (NO/BAD instead of `+`).
                if let Some(done) = self.read_until(&tag, true).await? {
                    return Ok((tag, Some(done)));
                }
            }
            let mut rest = Vec::with_capacity(tail.len() + 2);
            rest.extend_from_slice(tail.as_bytes());
            rest.extend_from_slice(b"\r\n");
            let io = self.inner.as_mut();
            let write = async {
                io.write_all(bytes).await?;
                io.write_all(&rest).await?;
                io.flush().await
            };
            tokio::time::timeout(timeout, write)
                .await
                .map_err(|_| Error::Timeout {
                    during: "sending APPEND",
                })?
                .map_err(|e| map_err("APPEND", async_imap::error::Error::Io(e)))?;
        }
        Ok((tag, None))
    }

    /// Reads responses until the tagged completion of `tag` (returned), or, when
    /// `continuation`, until a `+` (then `None`). Other untagged responses are skipped; a
    /// BYE or a marker of an unparsable response is an error.
    async fn read_until(
        &mut self,
        tag: &async_imap::imap_proto::RequestId,
        continuation: bool,
    ) -> Result<Option<Completion>> {
        loop {
            let response = tokio::time::timeout(self.timeout, self.inner.read_response())
                .await
                .map_err(|_| Error::Timeout {
                    during: "waiting for the server",
                })?
                .map_err(|e| map_err("APPEND", e.into()))?
                .ok_or(Error::ConnectionClosed)?;
            if let Some(bad) = Unparsable::from_response(response.parsed()) {
                return Err(Error::protocol(format!(
                    "unparsable {} response to APPEND",
                    bad.kind
                )));
            }
            match response.parsed() {
                Response::Continue(_) if continuation => return Ok(None),
                Response::Continue(_) => {
                    return Err(Error::protocol("a continuation APPEND did not ask for"));
                }
                Response::Done {
                    tag: done,
                    status,
                    outcome,
                } => {
                    if done != tag {
                        return Err(Error::protocol(
                            "a tagged response for a command never sent",
                        ));
                    }
                    return Ok(Some(super::exchange::completion(status, outcome)));
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    return Err(Error::ServerNo {
                        command: "APPEND".into(),
                        text: format!(
                            "BYE {}",
                            super::connect::redact(
                                outcome.information.as_deref().unwrap_or_default()
                            )
                        ),
                    });
                }
                _ => {}
            }
        }
    }

    /// `GENURLAUTH "<rump>" INTERNAL` (RFC 4467): the server signs `rump_url` (an absolute
    /// URL ending in `;urlauth=submit+<user>`, see [`super::url::submit_rump`]) and the
    /// signed URL, `<rump>:internal:<token>`, is returned. It is a credential: keep it in
    /// memory only, never log or store it.
    ///
    /// The answer must be exactly one `* GENURLAUTH` URL that starts with the rump
    /// (case-insensitively), followed by `:internal:` and a hex verifier; anything else
    /// (none, two, another URL, an overlong one) is an `Error::Protocol` that quotes none of it.
    pub async fn genurlauth(&mut self, rump_url: &str) -> Result<String> {
        if !self.capabilities().urlauth() {
            return Err(Error::Unsupported { what: "URLAUTH" });
        }
        if rump_url.is_empty()
            || rump_url.len() > MAX_URL
            || !rump_url.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::Config {
                reason: "a GENURLAUTH rump that is not a printable ASCII URL".into(),
            });
        }
        let command = format!("GENURLAUTH {} INTERNAL", quote(rump_url)?);
        let mut urls: Vec<Vec<u8>> = Vec::new();
        let mut count = 0usize;
        let completions = self
            .exchange(&[command], 1, |_, response| {
                if let Response::GenUrlAuth(found) = response {
                    count += found.len();
                    // Only what could be ours is kept, and never more than two.
                    for url in found.iter().take(2) {
                        if url.len() <= rump_url.len() + MAX_TOKEN_SUFFIX {
                            urls.push(url.to_vec());
                        }
                    }
                }
                Ok(())
            })
            .await?;
        // The server may quote the rump in a refusal: it names the message, keep it out.
        let completions: Vec<Completion> = completions
            .into_iter()
            .map(|mut c| {
                c.text = c.text.replace(rump_url, "<url>");
                c
            })
            .collect();
        check(&completions, "GENURLAUTH")?;
        match (count, urls.pop()) {
            (1, Some(url)) => signed(rump_url, url),
            (0, _) => Err(Error::protocol("GENURLAUTH answered OK without a URL")),
            (1, None) => Err(Error::protocol("GENURLAUTH answered with an overlong URL")),
            _ => Err(Error::protocol(
                "GENURLAUTH answered with more URLs than were asked for",
            )),
        }
    }
}

/// The signed URL if `url` is `rump` + `:internal:` + a hex verifier of 32 digits or more.
fn signed(rump: &str, url: Vec<u8>) -> Result<String> {
    let mismatch =
        || Error::protocol("GENURLAUTH answered with a URL other than the one asked for");
    let (prefix, rest) = url.split_at_checked(rump.len()).ok_or_else(mismatch)?;
    if !prefix.eq_ignore_ascii_case(rump.as_bytes()) {
        return Err(mismatch());
    }
    let (mechanism, verifier) = rest.split_at_checked(10).ok_or_else(mismatch)?;
    if !mechanism.eq_ignore_ascii_case(b":internal:")
        || verifier.len() < 32
        || !verifier.iter().all(u8::is_ascii_hexdigit)
    {
        return Err(mismatch());
    }
    String::from_utf8(url).map_err(|_| mismatch())
}

/// The error for a refused CATENATE: `[BADURL]` naming the URL part (by position) the
/// server could not resolve, `[TOOBIG]`, or the server's text with every part's URL removed.
fn refusal(completion: &Completion, parts: &[CatPart<'_>]) -> Error {
    let text = &completion.text;
    let upper = text.to_ascii_uppercase();
    let command = "APPEND CATENATE".to_string();
    // The text after the response code, with the URLs taken out.
    let after_code = match text.strip_prefix('[') {
        Some(inside) => inside.split_once(']').map_or("", |(_, after)| after.trim()),
        None => text.as_str(),
    };
    let mut said = after_code.to_string();
    for part in parts {
        if let CatPart::Url(url) = part {
            said = said.replace(url, "<url>");
        }
    }
    if upper.starts_with("[BADURL") {
        let position = parts.iter().enumerate().find_map(|(i, p)| match p {
            CatPart::Url(url) if text.contains(url) => Some(i + 1),
            _ => None,
        });
        let which = position.map_or_else(
            || "a URL part".to_string(),
            |i| format!("URL part {i} of {}", parts.len()),
        );
        return Error::ServerNo {
            command,
            text: format!("{BADURL} the server cannot resolve {which}: {said}"),
        };
    }
    if upper.starts_with("[TOOBIG") {
        return Error::ServerNo {
            command,
            text: format!("{TOOBIG} the assembled message is too large: {said}"),
        };
    }
    let text = if text.starts_with('[') {
        format!("{}] {said}", text.split(']').next().unwrap_or_default())
    } else {
        said
    };
    if completion.status == "BAD" {
        Error::ServerBad { command, text }
    } else {
        Error::ServerNo { command, text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(p: &Pieces<'_>) -> Vec<u8> {
        let mut out = p.head.clone().into_bytes();
        out.extend_from_slice(b"\r\n");
        for (bytes, tail) in &p.literals {
            out.extend_from_slice(bytes);
            out.extend_from_slice(tail.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn catenate_command_with_literal_plus() {
        let parts = [
            CatPart::Text(b"Subject: x\r\n\r\n"),
            CatPart::Url("/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2.MIME"),
            CatPart::Url("/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2"),
            CatPart::Text(b"\r\n--b--\r\n"),
        ];
        let p = pieces("Sent", &["\\Seen"], &parts, true).unwrap();
        assert!(!p.synchronizing);
        assert_eq!(
            String::from_utf8(wire(&p)).unwrap(),
            "APPEND \"Sent\" (\\Seen) CATENATE (TEXT {14+}\r\nSubject: x\r\n\r\n \
             URL \"/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2.MIME\" \
             URL \"/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2\" TEXT {9+}\r\n\r\n--b--\r\n)\r\n"
        );
    }

    #[test]
    fn catenate_command_without_literal_plus_or_literals() {
        let p = pieces(
            "Sent",
            &[],
            &[CatPart::Url("/INBOX;UIDVALIDITY=1/;UID=2")],
            false,
        )
        .unwrap();
        assert!(p.literals.is_empty());
        assert_eq!(
            p.head,
            "APPEND \"Sent\" () CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=2\")"
        );
        let p = pieces(
            "Sent",
            &[],
            &[CatPart::Text(b"ab"), CatPart::Text(b"c")],
            false,
        )
        .unwrap();
        assert!(p.synchronizing);
        assert_eq!(p.head, "APPEND \"Sent\" () CATENATE (TEXT {2}");
        assert_eq!(p.literals[0].1, " TEXT {1}");
        assert_eq!(p.literals[1].1, ")");
    }

    #[test]
    fn bad_parts_are_refused_before_anything_is_sent() {
        let long = "/".repeat(MAX_URL + 1);
        for parts in [
            vec![],
            vec![CatPart::Text(b"")],
            vec![CatPart::Text(b"a\0b")],
            vec![CatPart::Url("")],
            vec![CatPart::Url("/a b")],
            vec![CatPart::Url("/a\r\nb")],
            vec![CatPart::Url(&long)],
        ] {
            assert!(pieces("Sent", &[], &parts, true).is_err(), "{parts:?}");
        }
        assert!(pieces("Sent", &["\\Seen)"], &[CatPart::Text(b"x")], true).is_err());
        assert!(pieces("Se\r\nnt", &[], &[CatPart::Text(b"x")], true).is_err());
    }

    fn no(text: &str) -> Completion {
        Completion {
            ok: false,
            status: "NO",
            text: text.to_string(),
            uidplus: None,
            badcharset: false,
        }
    }

    #[test]
    fn refusals_name_the_part_never_the_url() {
        let parts = [
            CatPart::Text(b"x"),
            CatPart::Url("/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2.MIME"),
            CatPart::Url("/INBOX;UIDVALIDITY=5/;UID=9/;SECTION=2"),
        ];
        let e = refusal(
            &no(
                "[BADURL /INBOX;UIDVALIDITY=5/;UID=9/;SECTION=2] Bad URL /INBOX;UIDVALIDITY=5/;UID=9/;SECTION=2",
            ),
            &parts,
        );
        let Error::ServerNo { text, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(text.starts_with(BADURL), "{text}");
        assert!(text.contains("URL part 3 of 3"), "{text}");
        assert!(!text.contains("UID=9"), "{text}");
        let e = refusal(&no("[TOOBIG] Message too large"), &parts);
        assert!(matches!(&e, Error::ServerNo { text, .. } if text.starts_with(TOOBIG)));
        let e = refusal(
            &no("[TRYCREATE] Mailbox /INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2.MIME"),
            &parts,
        );
        assert!(
            matches!(&e, Error::ServerNo { text, .. } if text == "[TRYCREATE] Mailbox <url>"),
            "{e:?}"
        );
    }

    #[test]
    fn signed_urls_must_extend_the_rump() {
        let rump = "imap://a@h:1/Sent;UIDVALIDITY=7/;UID=4;urlauth=submit+a";
        let token = "0123456789abcdef0123456789ABCDEF01234567";
        let good = format!("{rump}:internal:{token}");
        assert_eq!(signed(rump, good.clone().into_bytes()).unwrap(), good);
        // The server may change the case of what it echoes.
        let upper = format!("{}:INTERNAL:{token}", rump.to_ascii_uppercase());
        assert!(signed(rump, upper.into_bytes()).is_ok());
        for bad in [
            String::new(),
            rump.to_string(),
            format!("{rump}:internal:"),
            format!("{rump}:internal:abc"),
            format!("{rump}:internal:{token} x"),
            format!("{rump}:external:{token}"),
            format!("imap://evil@h:1/Sent;UIDVALIDITY=7/;UID=4;urlauth=submit+a:internal:{token}"),
        ] {
            let e = signed(rump, bad.clone().into_bytes()).unwrap_err();
            assert!(!e.to_string().contains("imap://"), "{e}");
        }
    }
}
