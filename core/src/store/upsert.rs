//! The JSON-batch path of `messages::write_messages`, for rows already stored: messages with
//! their parts' column upserted through one `json_each` batch (the update trigger keeps the
//! search index in step), and the flags-only update of a complete row that an incomplete
//! copy arrives for (issue 13: an incomplete summary never replaces a complete one's headers).

use serde::Serialize;
use sqlx::SqliteConnection;

use super::{
    FolderId,
    codec::{AddressList, batch_json, int_u64},
    messages::{NewMessage, summary_state},
    sql,
};
use crate::Result;

/// A message as one element of the JSON batch.
#[derive(Serialize)]
struct MessageRow<'a> {
    uid: u32,
    modseq: i64,
    flags: u8,
    keywords: &'a [String],
    internal_date: i64,
    date: Option<i64>,
    size: u32,
    subject: &'a str,
    from: AddressList<'a>,
    sender: AddressList<'a>,
    reply_to: AddressList<'a>,
    to: AddressList<'a>,
    cc: AddressList<'a>,
    bcc: AddressList<'a>,
    message_id: Option<&'a str>,
    in_reply_to: Option<&'a str>,
    references: &'a [String],
    preview: Option<&'a str>,
    has_attachments: bool,
    thread_id: i64,
    summary_state: &'static str,
    email_id: Option<&'a str>,
    server_thread: Option<&'a str>,
    /// The `parts` column's text (migration 0020).
    parts: String,
}

/// Upserts a window of messages. `WHERE true` lets SQLite parse `ON CONFLICT` after a SELECT.
pub(super) const UPSERT_MESSAGES: &str = "
    WITH b AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?2))
    INSERT INTO messages (folder_id, uid, modseq, flags, keywords, internal_date, date, size,
        subject, from_addrs, sender_addrs, reply_to_addrs, to_addrs, cc_addrs, bcc_addrs,
        header_message_id, header_in_reply_to, header_references, preview, has_attachments,
        thread_id, summary_state, email_id, server_thread, parts)
    SELECT ?1, b.v ->> 'uid', b.v ->> 'modseq', b.v ->> 'flags',
        b.v ->> 'keywords', b.v ->> 'internal_date', b.v ->> 'date',
        b.v ->> 'size', b.v ->> 'subject', b.v ->> 'from', b.v ->> 'sender',
        b.v ->> 'reply_to', b.v ->> 'to', b.v ->> 'cc', b.v ->> 'bcc',
        b.v ->> 'message_id', b.v ->> 'in_reply_to', b.v ->> 'references',
        b.v ->> 'preview', b.v ->> 'has_attachments', b.v ->> 'thread_id',
        b.v ->> 'summary_state', b.v ->> 'email_id', b.v ->> 'server_thread', b.v ->> 'parts'
    FROM b
    WHERE true
    ON CONFLICT (folder_id, uid) DO UPDATE SET
        modseq = excluded.modseq,
        flags = excluded.flags,
        keywords = excluded.keywords,
        internal_date = excluded.internal_date,
        date = excluded.date,
        size = excluded.size,
        subject = excluded.subject,
        from_addrs = excluded.from_addrs,
        sender_addrs = excluded.sender_addrs,
        reply_to_addrs = excluded.reply_to_addrs,
        to_addrs = excluded.to_addrs,
        cc_addrs = excluded.cc_addrs,
        bcc_addrs = excluded.bcc_addrs,
        header_message_id = excluded.header_message_id,
        header_in_reply_to = excluded.header_in_reply_to,
        header_references = excluded.header_references,
        preview = coalesce(excluded.preview, messages.preview),
        has_attachments = max(excluded.has_attachments, messages.has_attachments),
        thread_id = excluded.thread_id,
        summary_state = excluded.summary_state,
        email_id = coalesce(excluded.email_id, messages.email_id),
        server_thread = coalesce(excluded.server_thread, messages.server_thread),
        parts = iif(excluded.parts = '[]', messages.parts, excluded.parts)";

/// Adds to the folder's counts the first copy of each UID of the batch that is not stored
/// (`min(key)` makes SQLite take the other columns from that copy).
const COUNT_UPSERTED: &str = "
    UPDATE folder_counts
       SET total = total + n.added, unread = unread + n.added_unread
      FROM (SELECT count(*) AS added, coalesce(sum((b.flags & 1) = 0), 0) AS added_unread
              FROM (SELECT value ->> 'uid' AS uid, value ->> 'flags' AS flags, min(key)
                      FROM json_each(?2) GROUP BY 1) AS b
             WHERE NOT EXISTS (SELECT 1 FROM messages AS m
                               WHERE m.folder_id = ?1 AND m.uid = b.uid)) AS n
     WHERE folder_counts.folder_id = ?1";

/// Takes only the flags and MODSEQ of incomplete messages whose stored rows are complete.
const UPDATE_FLAGS_ONLY: &str = "
    WITH b AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?2))
    UPDATE messages
       SET modseq = b.v ->> 'modseq', flags = b.v ->> 'flags', keywords = b.v ->> 'keywords'
      FROM b
     WHERE messages.folder_id = ?1 AND messages.uid = b.v ->> 'uid'";

/// A flags-only update as one element of the JSON batch.
#[derive(Serialize)]
struct FlagsRow<'a> {
    uid: u32,
    modseq: i64,
    flags: u8,
    keywords: &'a [String],
}

/// Stores the flags and MODSEQ of incomplete messages whose rows are complete.
pub(super) async fn update_flags_only(
    conn: &mut SqliteConnection,
    folder: FolderId,
    messages: &[&NewMessage],
) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let rows = messages
        .iter()
        .map(|m| {
            Ok(FlagsRow {
                uid: m.uid,
                modseq: int_u64(m.modseq, "MODSEQ")?,
                flags: m.flags.system.bits(),
                keywords: &m.flags.keywords,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    sqlx::query(UPDATE_FLAGS_ONLY)
        .bind(folder.0)
        .bind(batch_json(&rows, "flags")?)
        .execute(&mut *conn)
        .await
        .map_err(sql("store the flags of incomplete messages"))?;
    Ok(())
}

/// Upserts messages with their parts through one JSON batch; for UIDs already stored. A
/// message's parts replace the stored ones, except that a message given without parts keeps
/// them (a UID's structure never changes; a summary without BODYSTRUCTURE says nothing of it).
/// The parts' download states (`part_states`) are kept.
pub(super) async fn upsert_json(
    conn: &mut SqliteConnection,
    folder: FolderId,
    messages: &[(&NewMessage, i64)],
) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(messages.len());
    for &(message, thread_id) in messages {
        rows.push(MessageRow {
            uid: message.uid,
            modseq: int_u64(message.modseq, "MODSEQ")?,
            flags: message.flags.system.bits(),
            keywords: &message.flags.keywords,
            internal_date: message.internal_date,
            date: message.date,
            size: message.size,
            subject: &message.subject,
            from: AddressList(&message.from),
            sender: AddressList(&message.sender),
            reply_to: AddressList(&message.reply_to),
            to: AddressList(&message.to),
            cc: AddressList(&message.cc),
            bcc: AddressList(&message.bcc),
            message_id: message.message_id.as_deref(),
            in_reply_to: message.in_reply_to.as_deref(),
            references: &message.references,
            preview: message.preview.as_deref(),
            has_attachments: message.parts.iter().any(|p| p.is_attachment),
            thread_id,
            summary_state: summary_state(message),
            email_id: message.email_id.as_deref(),
            server_thread: message.server_thread.as_deref(),
            parts: super::parts::encode(&message.parts)?,
        });
    }

    let batch = batch_json(&rows, "messages")?;
    // The rows this upsert will insert rather than update count in the folder (migration
    // 0017: no per-row insert trigger). Counted before it runs; a UID given twice is inserted
    // by its first copy, and its later copies' flags go through the update trigger.
    sqlx::query(COUNT_UPSERTED)
        .bind(folder.0)
        .bind(batch.as_str())
        .execute(&mut *conn)
        .await
        .map_err(sql("count new messages"))?;
    sqlx::query(UPSERT_MESSAGES)
        .bind(folder.0)
        .bind(batch)
        .execute(&mut *conn)
        .await
        .map_err(sql("store messages"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::messages::{Flags, SystemFlags};

    fn message(uid: u32, seen: bool) -> NewMessage {
        let mut flags = Flags::default();
        if seen {
            flags.system.insert(SystemFlags::SEEN);
        }
        NewMessage {
            uid,
            flags,
            internal_date: 1_700_000_000 + i64::from(uid),
            ..NewMessage::default()
        }
    }

    /// The sync only upserts UIDs it has stored, so no upsert inserts there; this one, given
    /// new UIDs directly (one of them twice), must still count what it inserts.
    #[tokio::test]
    async fn an_upsert_that_inserts_counts_its_new_rows() {
        let (_dir, store, account, ids) =
            crate::store::test_support::store_with_folders(&[("INBOX", None)]).await;
        let folder = ids[0];
        store
            .insert_window(folder, &Default::default(), &[message(1, true)])
            .await
            .unwrap();
        // 1 again (stored: an update to unread), 2 unread then read, 3 unread.
        let batch = [
            message(1, false),
            message(2, false),
            message(2, true),
            message(3, false),
        ];
        let rows: Vec<(&NewMessage, i64)> = batch.iter().map(|m| (m, 1)).collect();
        let mut tx = store.write().await.unwrap();
        upsert_json(&mut tx, folder, &rows).await.unwrap();
        tx.commit().await.unwrap();
        let listed = store.folders(account).await.unwrap();
        let inbox = listed.iter().find(|f| f.id == folder).unwrap();
        assert_eq!((inbox.total, inbox.unread), (3, 2));
        assert_eq!(store.message_count(folder).await.unwrap(), 3);
    }
}
