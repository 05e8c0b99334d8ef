//! A message's MIME parts as one JSON column of its row, and the per-part download states
//! (migration 0020): encoding, decoding, and the state a part's stored content is in.
//!
//! The column holds one array per part, in BODYSTRUCTURE order: `[section, mime_type,
//! charset, encoding, size, lines, disposition, filename, content_id, is_attachment]`.
//! Decoding is strict (a row that does not read back is an error naming the column, never a
//! silently shorter list): the column is only ever written by [`encode`] and by the
//! migration, with the same shape.

use serde::Deserialize;
use sqlx::SqliteConnection;

use super::{
    MessageId,
    content::write_err,
    invalid, json,
    messages::{DownloadState, NewPart},
    sql,
};
use crate::{Error, Result};

/// One part as read back.
#[derive(Deserialize)]
struct Read(
    String,
    String,
    Option<String>,
    Option<String>,
    u32,
    Option<u32>,
    Option<String>,
    Option<String>,
    Option<String>,
    u8,
);

/// The column's text for `parts`. A section that is not an IMAP part number ("1", "2.1":
/// digits and dots, as the `parts` table's CHECK required before migration 0020) is refused,
/// and with it the whole write.
pub(super) fn encode(parts: &[NewPart]) -> Result<String> {
    if parts.is_empty() {
        return Ok("[]".to_string());
    }
    if let Some(bad) = parts.iter().find(|p| !is_part_number(&p.section)) {
        return Err(invalid(format!(
            "{:?} is not a MIME part number",
            bad.section
        )));
    }
    let bytes = parts
        .iter()
        .map(|p| {
            p.section.len()
                + p.mime_type.len()
                + p.filename.as_ref().map_or(0, String::len)
                + p.content_id.as_ref().map_or(0, String::len)
                + 64
        })
        .sum::<usize>();
    let mut out = json::Array::with_capacity(bytes);
    for p in parts {
        // The order of `Read`'s fields.
        out.array(|row| {
            row.str(&p.section);
            row.str(&p.mime_type);
            row.opt_str(p.charset.as_deref());
            row.opt_str(p.encoding.as_deref());
            row.num(u64::from(p.size));
            row.opt_num(p.lines.map(u64::from));
            row.opt_str(p.disposition.as_deref());
            row.opt_str(p.filename.as_deref());
            row.opt_str(p.content_id.as_deref());
            row.num(u64::from(p.is_attachment));
        });
    }
    Ok(out.end())
}

/// Digits and dots, not empty.
fn is_part_number(section: &str) -> bool {
    !section.is_empty() && section.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// The parts a column holds, in order.
pub(super) fn decode(text: &str) -> Result<Vec<NewPart>> {
    let rows: Vec<Read> = serde_json::from_str(text)
        .map_err(|_| invalid("column parts is not a list of message parts"))?;
    Ok(rows
        .into_iter()
        .map(|r| NewPart {
            section: r.0,
            mime_type: r.1,
            charset: r.2,
            encoding: r.3,
            size: r.4,
            lines: r.5,
            disposition: r.6,
            filename: r.7,
            content_id: r.8,
            is_attachment: r.9 != 0,
        })
        .collect())
}

/// Whether a message's stored parts include `section`.
const HAS_PART: &str = "
    SELECT EXISTS (SELECT 1 FROM messages AS m, json_each(m.parts) AS p
                    WHERE m.id = ?1 AND p.value ->> 0 = ?2)";

/// Moves a part's download state; `NotFound` when the message has no such part, `DiskFull`
/// when the disk is.
pub(super) async fn set_state(
    conn: &mut SqliteConnection,
    message: MessageId,
    section: &str,
    state: DownloadState,
) -> Result<()> {
    let found: bool = sqlx::query_scalar(HAS_PART)
        .bind(message.0)
        .bind(section)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("look up a part"))?;
    if !found {
        return Err(Error::NotFound {
            what: "part of message",
            id: message.0,
        });
    }
    let query = match state {
        DownloadState::None => {
            sqlx::query("DELETE FROM part_states WHERE message_id = ?1 AND section = ?2")
        }
        _ => sqlx::query(
            "INSERT INTO part_states (message_id, section, download_state) VALUES (?1, ?2, ?3)
             ON CONFLICT (message_id, section) DO UPDATE SET download_state = excluded.download_state",
        ),
    };
    query
        .bind(message.0)
        .bind(section)
        .bind(state.as_sql())
        .execute(&mut *conn)
        .await
        .map_err(write_err("store a part's download state"))?;
    Ok(())
}

/// The download states of a message's parts that have content stored, by section.
pub(super) async fn states(
    conn: &mut SqliteConnection,
    message: MessageId,
) -> Result<Vec<(String, DownloadState)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT section, download_state FROM part_states WHERE message_id = ?1")
            .bind(message.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("read a message's part states"))?;
    rows.into_iter()
        .map(|(section, state)| Ok((section, DownloadState::from_sql(&state)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// One part as the column stores it (a JSON array).
    type Stored<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        u32,
        Option<u32>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        u8,
    );

    #[test]
    fn parts_read_back_as_written() {
        let parts = vec![
            NewPart {
                section: "1".into(),
                mime_type: "text/plain".into(),
                charset: Some("utf-8".into()),
                encoding: Some("quoted-printable".into()),
                size: 1234,
                lines: Some(40),
                ..NewPart::default()
            },
            NewPart {
                section: "2".into(),
                mime_type: "application/pdf".into(),
                encoding: Some("base64".into()),
                size: u32::MAX,
                disposition: Some("attachment".into()),
                filename: Some("r\u{e9}sum\u{e9} \"1\".pdf".into()),
                content_id: Some("<c@x>".into()),
                is_attachment: true,
                ..NewPart::default()
            },
        ];
        let text = encode(&parts).unwrap();
        assert_eq!(decode(&text).unwrap(), parts);
        // The hand-written text is what serde_json wrote for the same tuples before.
        let rows: Vec<Stored<'_>> = parts
            .iter()
            .map(|p| {
                (
                    p.section.as_str(),
                    p.mime_type.as_str(),
                    p.charset.as_deref(),
                    p.encoding.as_deref(),
                    p.size,
                    p.lines,
                    p.disposition.as_deref(),
                    p.filename.as_deref(),
                    p.content_id.as_deref(),
                    u8::from(p.is_attachment),
                )
            })
            .collect();
        assert_eq!(text, serde_json::to_string(&rows).unwrap());
        assert_eq!(encode(&[]).unwrap(), "[]");
        assert!(decode("[]").unwrap().is_empty());
    }

    #[test]
    fn a_section_that_is_no_part_number_is_refused() {
        for section in ["", "TEXT", "1.MIME", "2 ", "1\u{0}"] {
            let part = NewPart {
                section: section.into(),
                mime_type: "text/plain".into(),
                ..NewPart::default()
            };
            assert!(encode(&[part]).is_err(), "{section:?}");
        }
    }

    #[test]
    fn a_damaged_column_is_an_error() {
        for text in [
            "",
            "{}",
            "[[\"1\"]]",
            "[[\"1\",\"text/plain\",null,null,-1,null,null,null,null,0]]",
        ] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
