//! OBJECTID (RFC 8474) in a folder's delta: new mail is recognised by its EMAILID before any
//! summary is fetched. `UID FETCH <new> (UID FLAGS EMAILID THREADID [MODSEQ])` first; a
//! message whose EMAILID the account already has takes over the stored row (see the store's
//! `objectid`: envelope, parts, body, snippet and downloads stay, nothing else is fetched);
//! only the others get the full summary items.
//!
//! Which row a message takes over: a tombstone first (the message left a folder synced
//! earlier in this pass), else, for new mail only, a live row in another folder not synced
//! yet in this pass (the move is seen at its target before its source; the store lists the
//! old place for checking). A live row in a folder this pass has synced is on the server
//! there: the new message is a copy, fetched whole.
//! One row per message and one message per row: a second message with the same EMAILID in
//! one folder (a copy, or a hostile server repeating one) gets its full summary.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    convert,
    folder::{FolderReport, FolderSync, NewMail},
    recover::Recovery,
};
use crate::{
    error::Result,
    imap::{MessageIds, SeqSet, Window},
    store::{EmailOwner, FolderId, Takeover},
};

impl FolderSync<'_> {
    /// New mail and `refetch` UIDs by EMAILID first (see the module docs). `sets` are the UID
    /// sets asked for; `wanted` tells the UIDs they are meant to bring.
    pub(super) async fn new_mail_by_ids(
        &mut self,
        sets: &[String],
        old_next: u32,
        refetch: &SeqSet,
        report: &mut FolderReport,
    ) -> Result<NewMail> {
        let wanted = |uid: u32| uid >= old_next || refetch.contains(uid);
        let ids = self.session.object_ids(sets).await?;
        let listed: Vec<MessageIds> = ids.messages.into_iter().filter(|m| wanted(m.uid)).collect();
        let email_ids: Vec<&str> = listed
            .iter()
            .filter_map(|m| m.email_id.as_deref())
            .collect();
        let owners = self.store.email_owners(self.folder, &email_ids).await?;
        let (taken_over, fetch) = plan(self.folder, self.settled, old_next, &listed, owners);
        let mut mail = NewMail {
            vanished: ids.vanished,
            taken_over,
            ..NewMail::default()
        };
        if fetch.is_empty() {
            return Ok(mail);
        }
        let items = self.items();
        let set = SeqSet::of(fetch.iter().map(|m| m.uid)).render();
        let mut summaries = self.session.start_summaries(&[set], true, items, 1);
        let mut got = Window::default();
        while let Some(w) = self.session.next_window(&mut summaries).await? {
            self.learn_preview(&w, items.preview).await?;
            got.messages.extend(w.messages);
            got.unparsable.extend(w.unparsable);
            mail.vanished.extend(w.vanished);
        }
        got.messages.retain(|m| wanted(m.uid));
        // Every message asked for is accounted for: one the server left out is fetched again
        // by its sequence number (`recover`).
        let fetched: BTreeSet<u32> = got.messages.iter().map(|m| m.uid).collect();
        got.missing = SeqSet::of(
            fetch
                .iter()
                .filter(|m| !fetched.contains(&m.uid))
                .map(|m| m.seq),
        )
        .without(got.unparsable.iter().copied());
        let recovered = Recovery {
            session: &mut *self.session,
            budget: self.budget,
            items,
            prefer_html: self.content.prefer_html,
        }
        .recover(got, report)
        .await?;
        mail.lost = !recovered.lost.is_empty();
        mail.messages = recovered
            .messages
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| wanted(m.uid))
            .collect();
        mail.bodies = recovered.bodies;
        Ok(mail)
    }
}

/// Splits `listed` into takeovers of stored rows and messages to fetch whole (module docs).
/// Pure: `owners` are the stored rows with the listed EMAILIDs, tombstones first.
pub(super) fn plan(
    folder: FolderId,
    settled: &[FolderId],
    old_next: u32,
    listed: &[MessageIds],
    owners: Vec<EmailOwner>,
) -> (Vec<Takeover>, Vec<MessageIds>) {
    let mut by_email: BTreeMap<String, Vec<EmailOwner>> = BTreeMap::new();
    for owner in owners {
        by_email
            .entry(owner.email_id.clone())
            .or_default()
            .push(owner);
    }
    let mut used = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut takeovers = Vec::new();
    let mut fetch = Vec::new();
    for m in listed {
        let pick = m
            .email_id
            .as_deref()
            .filter(|e| seen.insert(*e))
            .and_then(|e| by_email.get(e))
            .and_then(|rows| {
                rows.iter().find(|o| {
                    !used.contains(&o.message)
                        && (o.tombstone
                            || (o.folder != folder
                                && !settled.contains(&o.folder)
                                && m.uid >= old_next))
                })
            });
        match pick {
            Some(owner) => {
                used.insert(owner.message);
                takeovers.push(Takeover {
                    from: owner.message,
                    uid: m.uid,
                    flags: convert::flags(&m.flags),
                    modseq: m.modseq.unwrap_or(0),
                    server_thread: m.thread.clone(),
                });
            }
            None => fetch.push(m.clone()),
        }
    }
    (takeovers, fetch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageId;

    fn ids(uid: u32, email: Option<&str>) -> MessageIds {
        MessageIds {
            seq: uid,
            uid,
            email_id: email.map(str::to_string),
            ..MessageIds::default()
        }
    }

    fn owner(email: &str, id: i64, folder: i64, tombstone: bool) -> EmailOwner {
        EmailOwner {
            email_id: email.into(),
            message: MessageId(id),
            folder: FolderId(folder),
            uid: 1,
            tombstone,
        }
    }

    #[test]
    fn tombstones_first_live_rows_only_for_new_mail_one_row_each() {
        let here = FolderId(2);
        let listed = [
            ids(10, Some("A")),
            ids(11, Some("A")), // the same EMAILID again in one folder
            ids(12, Some("B")),
            ids(13, None),
            ids(5, Some("C")),  // a refetch below UIDNEXT: never a live row
            ids(14, Some("D")), // live only in this folder: a copy here
            ids(6, Some("E")),  // a refetch: a tombstone is fine
            ids(15, Some("F")), // live in a folder this pass synced: a copy
        ];
        let owners = vec![
            owner("A", 100, 1, true),
            owner("A", 101, 1, false),
            owner("B", 102, 1, false),
            owner("C", 103, 1, false),
            owner("D", 104, 2, false),
            owner("E", 105, 3, true),
            owner("F", 106, 4, false),
        ];
        let (taken, fetch) = plan(here, &[FolderId(4)], 10, &listed, owners);
        let taken: Vec<(u32, i64)> = taken.iter().map(|t| (t.uid, t.from.0)).collect();
        assert_eq!(taken, [(10, 100), (12, 102), (6, 105)]);
        let fetch: Vec<u32> = fetch.iter().map(|m| m.uid).collect();
        assert_eq!(fetch, [11, 13, 5, 14, 15]);
    }
}
