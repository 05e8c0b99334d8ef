//! Content the app asks for: a message's readable body when it is opened. The stored copy
//! is served when there is one; otherwise only the text/plain or text/html part the policy
//! prefers is fetched (never an attachment), over whatever connection the account layer
//! leases, with EXAMINE when the folder is not the one selected (read-only work never
//! SELECTs). The answer is taken only when the folder's UIDVALIDITY is still the one the
//! message was stored under; then it is decoded, stored compressed and returned.

use crate::{
    blobs,
    error::{Error, Result},
    imap::{ImapSession, SectionRequest},
    mime,
    net::Purpose,
    store::{MessageDetail, MessageId, MessageLocation, PartDetail, Store},
};

/// The bound on a stored body once decompressed (a zstd bomb stops here).
const BODY_LIMIT: usize = 64 << 20;

/// A message's readable body, decoded to UTF-8, with every part and its download state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub text: Option<String>,
    pub html: Option<String>,
    pub parts: Vec<PartDetail>,
}

/// The stored body of `message`, if there is one.
pub async fn stored_body(store: &Store, message: MessageId) -> Result<Option<Body>> {
    let Some(stored) = store.body(message).await? else {
        return Ok(None);
    };
    let parts = store
        .message(message)
        .await?
        .map(|m| m.parts)
        .unwrap_or_default();
    Ok(Some(Body {
        text: stored
            .text_zstd
            .as_deref()
            .map(|b| blobs::decompress(b, BODY_LIMIT))
            .transpose()?,
        html: stored
            .html_zstd
            .as_deref()
            .map(|b| blobs::decompress(b, BODY_LIMIT))
            .transpose()?,
        parts,
    }))
}

/// Where a stored message lives and what is stored of it.
pub async fn locate(store: &Store, message: MessageId) -> Result<(MessageLocation, MessageDetail)> {
    let location = store
        .message_location(message)
        .await?
        .ok_or(Error::NotFound {
            what: "message",
            id: message.0,
        })?;
    let detail = store.message(message).await?.ok_or(Error::NotFound {
        what: "message",
        id: message.0,
    })?;
    Ok((location, detail))
}

/// The part a reader needs: the preferred alternative, not an attachment.
pub fn body_part(parts: &[PartDetail], prefer_html: bool) -> Option<&PartDetail> {
    let readable = |t: &str| parts.iter().find(|p| !p.is_attachment && p.mime_type == t);
    let (first, second) = if prefer_html {
        ("text/html", "text/plain")
    } else {
        ("text/plain", "text/html")
    };
    readable(first).or_else(|| readable(second))
}

/// Fetches `requests` (messages of the folder at `location`) with the folder selected or
/// examined (EXAMINE rides in the FETCH's flight), refusing the answers once the folder's
/// UIDVALIDITY is not the stored one (`Error::FolderChanged`).
pub async fn fetch_in_folder(
    session: &mut ImapSession,
    location: &MessageLocation,
    purpose: Purpose,
    requests: &[SectionRequest],
) -> Result<Vec<crate::imap::SectionData>> {
    session
        .fetch_sections_in(
            &location.folder_name,
            location.uidvalidity,
            purpose,
            requests,
        )
        .await
}

/// Fetches, decodes and stores `part` of the message at `location` over `session`. A base64
/// or quoted-printable part comes through BINARY (RFC 3516) where the session uses it: the
/// server decodes it, so fewer bytes cross the link (3/4 for base64). A part the server
/// cannot decode (`NO [UNKNOWN-CTE]`, or BAD) is fetched again through BODY.PEEK.
pub async fn fetch_body(
    session: &mut ImapSession,
    store: &Store,
    message: MessageId,
    location: &MessageLocation,
    detail: &MessageDetail,
    part: &PartDetail,
) -> Result<Body> {
    let encoded = matches!(
        blobs::TransferEncoding::from_name(part.encoding.as_deref().unwrap_or("7bit")),
        blobs::TransferEncoding::Base64 | blobs::TransferEncoding::QuotedPrintable
    );
    let mut binary = encoded && session.uses_binary();
    let data = loop {
        let request = SectionRequest {
            uid: location.uid,
            section: part.section.clone(),
            range: None,
            binary,
        };
        match fetch_in_folder(session, location, Purpose::Bodies, &[request]).await {
            Err(e) if binary && cannot_decode(&e) => binary = false,
            other => break other?,
        }
    }
    .into_iter()
    .find(|d| d.uid == location.uid)
    .ok_or(Error::NotFound {
        what: "message on the server",
        id: message.0,
    })?;
    // `fetch_sections` took only an answer for this UID, section and no origin. An empty
    // one (NIL or "") for a part BODYSTRUCTURE says has bytes is not its body.
    if data.data.is_empty() && part.size > 0 {
        return Err(Error::protocol(format!(
            "the server returned no data for part {} of {} bytes",
            part.section, part.size
        )));
    }
    // Through BINARY the bytes are decoded already: only the charset is left.
    let encoding = if binary {
        Some("binary")
    } else {
        part.encoding.as_deref()
    };
    let decoded = mime::decode_part_text(&data.data, encoding, part.charset.as_deref());
    let body = if part.mime_type == "text/html" {
        Body {
            text: None,
            html: Some(decoded),
            parts: detail.parts.clone(),
        }
    } else {
        Body {
            text: Some(decoded),
            html: None,
            parts: detail.parts.clone(),
        }
    };
    let text = body.text.as_deref().map(blobs::compress).transpose()?;
    let html = body.html.as_deref().map(blobs::compress).transpose()?;
    let stored = text.as_ref().map_or(0, Vec::len) + html.as_ref().map_or(0, Vec::len);
    store
        .put_body(message, text.as_deref(), html.as_deref(), stored as u64)
        .await?;
    Ok(body)
}

/// Whether `e` is the server's refusal to decode a part through BINARY: `NO [UNKNOWN-CTE]`
/// (RFC 3516), or BAD from a server that does not take BINARY for it after all.
pub(crate) fn cannot_decode(e: &Error) -> bool {
    match e {
        Error::ServerBad { .. } => true,
        Error::ServerNo { text, .. } => text
            .get(..13)
            .is_some_and(|t| t.eq_ignore_ascii_case("[UNKNOWN-CTE]")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refusal_to_decode_falls_back_to_body() {
        let no = |text: &str| Error::ServerNo {
            command: "UID FETCH".into(),
            text: text.into(),
        };
        assert!(cannot_decode(&no("[UNKNOWN-CTE] Can't decode")));
        assert!(cannot_decode(&no("[unknown-cte] x")));
        assert!(cannot_decode(&Error::ServerBad {
            command: "UID FETCH".into(),
            text: "Unknown item".into()
        }));
        assert!(!cannot_decode(&no("[SERVERBUG] oops")));
        assert!(!cannot_decode(&no("")));
        assert!(!cannot_decode(&Error::ConnectionClosed));
    }
}
