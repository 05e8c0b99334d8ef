//! A RETR'd message on disk (the spool file) to what the store records, without holding the
//! message in memory: one streaming pass builds a [`Skeleton`] (headers and structure, part
//! bodies elided), mail-parser parses that, and each part's body is read back from its byte
//! range in the spool: the readable body into memory (it is stored compressed anyway, up to
//! `BODY_READ_MAX`), attachments through the streaming transfer decoder into their files 64
//! KiB at a time. Memory stays near the skeleton's size whatever the message's.
//!
//! When the skeleton cannot stand for the message (see `pop3_skeleton`), the message is read
//! and parsed whole, as before the spool existed; the results are the same either way. What
//! mail-parser is given is bounded ([`STRUCTURE_MAX`], [`WHOLE_MAX`]): past that the message
//! is unparsable (left headers-only and counted by the sync). It never runs SQL and never
//! talks to the server.

use std::{ops::Range, path::Path};

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{
    pop3_parse,
    pop3_skeleton::{Builder, Skeleton, SpooledPart},
};
use crate::{
    blobs::{self, PartFile, StreamDecoder, TransferEncoding},
    error::{Error, Result},
    mime::{self, PartInfo},
    store::NewMessage,
};

/// Bytes read from the spool at a time.
const READ_CHUNK: usize = 64 * 1024;
/// The largest skeleton handed to mail-parser. A real message's is headers, boundaries and
/// placeholders (a header block is cut at 1 MiB); mail-parser needs up to about 30 bytes of
/// memory per byte of pure MIME structure (messages nested in messages; header lines and part
/// boundaries about 16), so a hostile message made of nothing else is refused here, as
/// unparsable, instead of growing memory by gigabytes.
pub const STRUCTURE_MAX: usize = 2 * 1024 * 1024;
/// The largest message parsed whole when the skeleton cannot stand for it (held in memory,
/// and its structure is not bounded by the skeleton's rules): larger ones are unparsable.
pub const WHOLE_MAX: u64 = 8 * 1024 * 1024;
/// The most encoded bytes of a readable body read into memory (the rest is not shown).
const BODY_READ_MAX: u64 = 64 << 20;

/// Where an attachment's encoded bytes are.
#[derive(Debug)]
pub(super) enum Source {
    /// A byte range of the spool file.
    Spool(Range<u64>),
    /// In memory (a message parsed whole).
    Memory(Vec<u8>),
}

/// What a downloaded message holds, ready for the store.
#[derive(Debug)]
pub(super) struct Extracted {
    /// The headers as a message row without parts.
    pub headers: NewMessage,
    pub parts: Vec<PartInfo>,
    /// (is_html, text) of the preferred readable part.
    pub body: Option<(bool, String)>,
    pub attachments: Vec<(PartInfo, Source)>,
}

/// Reads the spooled message at `path`. `size` is the message size and `now` stands in for a
/// missing Date. `None` when mail-parser finds no message at all, or when the message is
/// past the bounds on what it is given.
pub(super) async fn extract(
    path: &Path,
    size: u64,
    now: i64,
    prefer_html: bool,
) -> Result<Option<Extracted>> {
    let skeleton = skeleton(path).await?;
    let planned = plan(&skeleton, size, now);
    drop(skeleton);
    match planned {
        Planned::Unparsable => Ok(None),
        Planned::Whole => whole(path, size, now, prefer_html).await,
        Planned::Spooled(headers, parts) => {
            let body = match readable(&parts, prefer_html) {
                Some(p) => {
                    let end = p.range.end.min(p.range.start.saturating_add(BODY_READ_MAX));
                    let raw = read_range(path, p.range.start..end).await?;
                    let text = mime::decode_part_text(
                        &raw,
                        p.info.encoding.as_deref(),
                        p.info.charset.as_deref(),
                    );
                    Some((p.info.mime_type == "text/html", text))
                }
                None => None,
            };
            let attachments = parts
                .iter()
                .filter(|p| p.info.is_attachment)
                .map(|p| (p.info.clone(), Source::Spool(p.range.clone())))
                .collect();
            Ok(Some(Extracted {
                headers: *headers,
                parts: parts.into_iter().map(|p| p.info).collect(),
                body,
                attachments,
            }))
        }
    }
}

/// Decodes an attachment into a new file at `destination` (fsynced and renamed into place);
/// returns the decoded length.
pub(super) async fn write_attachment(
    spool: &Path,
    info: &PartInfo,
    source: &Source,
    destination: &Path,
) -> Result<u64> {
    let encoding = TransferEncoding::from_name(info.encoding.as_deref().unwrap_or("7bit"));
    let mut decoder = StreamDecoder::new(encoding);
    let mut file =
        PartFile::create(destination, blobs::decoded_limit(u64::from(info.size))).await?;
    let mut out = Vec::with_capacity(READ_CHUNK);
    match source {
        Source::Memory(bytes) => {
            for chunk in bytes.chunks(READ_CHUNK) {
                decoder.feed(chunk, &mut out)?;
                file.append(&out).await?;
                out.clear();
            }
        }
        Source::Spool(range) => {
            let mut reader = open_at(spool, range.start).await?;
            let mut left = range.end.saturating_sub(range.start);
            let mut buf = vec![0; READ_CHUNK];
            while left > 0 {
                let want = usize::try_from(left).map_or(READ_CHUNK, |l| l.min(READ_CHUNK));
                let n = reader.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(short_spool());
                }
                left -= n as u64;
                decoder.feed(&buf[..n], &mut out)?;
                file.append(&out).await?;
                out.clear();
            }
        }
    }
    decoder.finish(&mut out)?;
    file.append(&out).await?;
    file.finish().await
}

/// The skeleton of the spooled message, in one streaming pass.
async fn skeleton(path: &Path) -> Result<Skeleton> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut builder = Builder::new();
    let mut buf = vec![0; READ_CHUNK];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(builder.finish());
        }
        builder.feed(&buf[..n]);
    }
}

enum Planned {
    Spooled(Box<NewMessage>, Vec<SpooledPart>),
    /// The skeleton cannot stand for the message: parse it whole.
    Whole,
    Unparsable,
}

/// Parses the skeleton (synchronously: the parsed message never lives across an await).
fn plan(skeleton: &Skeleton, size: u64, now: i64) -> Planned {
    if skeleton.bytes().len() > STRUCTURE_MAX {
        return Planned::Unparsable;
    }
    let Some(parsed) = pop3_parse::parse(skeleton.bytes()) else {
        return Planned::Unparsable;
    };
    match skeleton.parts(&parsed) {
        Some(parts) => Planned::Spooled(
            Box::new(pop3_parse::headers(&parsed, size, now, false)),
            parts,
        ),
        None => Planned::Whole,
    }
}

/// The message read and parsed whole, as a fallback.
async fn whole(path: &Path, size: u64, now: i64, prefer_html: bool) -> Result<Option<Extracted>> {
    if tokio::fs::metadata(path).await?.len() > WHOLE_MAX {
        return Ok(None);
    }
    let raw = tokio::fs::read(path).await?;
    let Some(parsed) = pop3_parse::parse(&raw) else {
        return Ok(None);
    };
    let headers = pop3_parse::headers(&parsed, size, now, false);
    let full = pop3_parse::full(&parsed, prefer_html);
    let attachments = full
        .parts
        .iter()
        .filter(|p| p.info.is_attachment)
        .map(|p| (p.info.clone(), Source::Memory(p.body.to_vec())))
        .collect();
    Ok(Some(Extracted {
        headers,
        parts: full.parts.into_iter().map(|p| p.info).collect(),
        body: full.body,
        attachments,
    }))
}

/// The preferred readable part, as `pop3_parse::full` picks it.
fn readable(parts: &[SpooledPart], prefer_html: bool) -> Option<&SpooledPart> {
    let find = |ty: &str| {
        parts
            .iter()
            .find(|p| !p.info.is_attachment && p.info.mime_type == ty)
    };
    match prefer_html {
        true => find("text/html").or_else(|| find("text/plain")),
        false => find("text/plain").or_else(|| find("text/html")),
    }
}

async fn open_at(path: &Path, at: u64) -> Result<tokio::fs::File> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(at)).await?;
    Ok(file)
}

async fn read_range(path: &Path, range: Range<u64>) -> Result<Vec<u8>> {
    let len = range.end.saturating_sub(range.start);
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    open_at(path, range.start)
        .await?
        .take(len)
        .read_to_end(&mut out)
        .await?;
    if (out.len() as u64) < len {
        return Err(short_spool());
    }
    Ok(out)
}

fn short_spool() -> Error {
    // The spool is a local file: its shortness is a disk problem, not the network's.
    Error::from(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the POP3 spool file is shorter than the message it held",
    ))
}

#[cfg(test)]
mod tests {
    //! The spooled path gives what the whole-message parse gives, through the skeleton and
    //! through the fallback (an encoded message/rfc822).
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn b64(n: usize) -> String {
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n".repeat(n)
    }

    async fn check(raw: &str, spooled: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retr.eml");
        std::fs::write(&path, raw).unwrap();
        let skeleton = skeleton(&path).await.unwrap();
        assert_eq!(
            matches!(plan(&skeleton, 0, 0), Planned::Spooled(..)),
            spooled
        );
        let got = extract(&path, raw.len() as u64, 7, false)
            .await
            .unwrap()
            .unwrap();
        let parsed = pop3_parse::parse(raw.as_bytes()).unwrap();
        let want = pop3_parse::full(&parsed, false);
        let infos: Vec<&PartInfo> = want.parts.iter().map(|p| &p.info).collect();
        assert_eq!(got.parts.iter().collect::<Vec<_>>(), infos);
        assert_eq!(got.body, want.body);
        assert_eq!(got.headers.subject, "x");
        let attachments: Vec<_> = want.parts.iter().filter(|p| p.info.is_attachment).collect();
        assert_eq!(got.attachments.len(), attachments.len());
        for ((info, source), part) in got.attachments.iter().zip(attachments) {
            let dest = dir.path().join(format!("a{}", info.section));
            let n = write_attachment(&path, info, source, &dest).await.unwrap();
            let mut decoder = StreamDecoder::new(TransferEncoding::from_name(
                info.encoding.as_deref().unwrap_or("7bit"),
            ));
            let mut expected = Vec::new();
            decoder.feed(part.body, &mut expected).unwrap();
            decoder.finish(&mut expected).unwrap();
            assert_eq!(n, expected.len() as u64);
            assert_eq!(std::fs::read(&dest).unwrap(), expected, "{}", info.section);
        }
    }

    #[tokio::test]
    async fn spooled_and_whole_paths_match_a_whole_parse() {
        let text = "Some text: with a colon.\r\n\r\nAnd more.\r\n".repeat(50);
        let mixed = format!(
            "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{text}--b\r\nContent-Type: application/pdf; \
name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--b\r\nContent-Type: message/rfc822\r\n\
\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\n{text}--b--\r\n",
            b64(500)
        );
        check(&mixed, true).await;
        let encoded_nested = format!(
            "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}--b--\r\n",
            "U3ViamVjdDogaW5uZXINCg0KaW5uZXIgYm9keQ0K\r\n"
        );
        check(&encoded_nested, false).await;
    }

    /// Messages made of nothing but MIME structure (a message nested 100,000 levels deep,
    /// 300,000 empty parts) are unparsable at a bound, through the skeleton and through the
    /// whole-message fallback (`hostile_pop3` measures the memory this saves).
    #[tokio::test]
    async fn pure_structure_is_refused_at_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut nested = String::from("Subject: deep\r\n");
        for _ in 0..100_000 {
            nested += "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n";
        }
        nested += "\r\nbottom\r\n";
        let parts = format!(
            "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n{}--b--\r\n",
            "--b\r\n\r\nx\r\n".repeat(300_000)
        );
        // Forced onto the whole-message path by an encoded nested message first.
        let whole = format!(
            "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n\
U3ViamVjdDogaW5uZXINCg0KaW5uZXIgYm9keQ0K\r\n--b\r\n\r\n{}--b--\r\n",
            "y".repeat(WHOLE_MAX as usize)
        );
        for (name, raw) in [("nested", nested), ("parts", parts), ("whole", whole)] {
            let path = dir.path().join(name);
            std::fs::write(&path, &raw).unwrap();
            let started = std::time::Instant::now();
            let got = extract(&path, raw.len() as u64, 0, false).await.unwrap();
            assert!(got.is_none(), "{name}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{name}: {:?}",
                started.elapsed()
            );
        }
    }
}
