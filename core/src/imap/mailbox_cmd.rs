//! Commands that move messages between folders or remove them, and APPEND: `UID MOVE`
//! (RFC 6851), its fallback `UID COPY` + `\Deleted` + `UID EXPUNGE`, `UID EXPUNGE` (UIDPLUS,
//! RFC 4315), `APPEND` with a non-synchronizing literal (LITERAL+), and the search that finds
//! a copy by its Message-ID where the server sends no COPYUID. Protocol only: which messages
//! and what to do with the new UIDs is the sync layer's business.
//!
//! async-imap's own `uid_mv`, `uid_copy` and `append` drop the response codes, so these go
//! through the raw command path (`exchange`), which keeps COPYUID and APPENDUID whether they
//! come on the tagged OK (COPY, APPEND) or on an untagged `* OK [COPYUID …]` before the
//! expunges of a MOVE (Dovecot). Without UIDPLUS there is no `UID EXPUNGE`: a plain `EXPUNGE`
//! removes every message marked `\Deleted`, so it is sent only when `UID SEARCH DELETED`,
//! right before, finds no message marked `\Deleted` but ours; otherwise ours are left marked
//! and reported as waiting (the caller tries again later). Never a plain `EXPUNGE` otherwise.

use async_imap::imap_proto::{MailboxDatum, Response, Status};

use super::{ImapSession, UidPlusCode, body::uid_set, session::check, session::quote};
use crate::error::{Error, Result};

/// UID pairs read from one COPYUID at most (a hostile range cannot make us allocate more).
const MAX_PAIRS: usize = 100_000;

/// What a move (or copy) did, by COPYUID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveOutcome {
    /// The target folder's UIDVALIDITY, when the server sent COPYUID.
    pub uidvalidity: Option<u32>,
    /// (source UID, target UID) for every message the server moved and reported; only UIDs
    /// we sent are kept.
    pub moved: Vec<(u32, u32)>,
    /// Whether the server reported UIDs at all (UIDPLUS): if it did, a UID we sent that is
    /// missing was not there any more.
    pub reported: bool,
    /// `UID MOVE` was used (else `UID COPY`: the originals are still there).
    pub used_move: bool,
}

/// What an APPEND did, by APPENDUID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// (UIDVALIDITY, UID) of the new message, when the server said.
    pub uid: Option<(u32, u32)>,
}

impl ImapSession {
    /// Whether the server offers `MOVE`.
    pub fn has_move(&self) -> bool {
        self.capabilities().has("MOVE")
    }

    /// Whether the server offers UIDPLUS (`UID EXPUNGE`, COPYUID, APPENDUID).
    pub fn has_uidplus(&self) -> bool {
        self.capabilities().has("UIDPLUS")
    }

    /// Moves messages of the selected folder to `target` with `UID MOVE` (the server must
    /// offer MOVE; see [`ImapSession::has_move`]).
    pub async fn move_uids(&mut self, uids: &[u32], target: &str) -> Result<MoveOutcome> {
        self.transfer("UID MOVE", uids, target).await
    }

    /// Copies messages of the selected folder to `target` with `UID COPY`: the first half of
    /// a move on a server without MOVE. The caller removes the originals once it has
    /// recorded the copy, with [`ImapSession::expunge_uids`] (so a failure between the two
    /// never copies twice).
    pub async fn copy_uids(&mut self, uids: &[u32], target: &str) -> Result<MoveOutcome> {
        self.transfer("UID COPY", uids, target).await
    }

    async fn transfer(
        &mut self,
        verb: &'static str,
        uids: &[u32],
        target: &str,
    ) -> Result<MoveOutcome> {
        let mut out = MoveOutcome {
            used_move: verb == "UID MOVE",
            ..MoveOutcome::default()
        };
        if uids.is_empty() {
            return Ok(out);
        }
        let set = uid_set(uids);
        let mailbox = quote(target)?;
        let mut codes = Vec::new();
        let completions = self
            .exchange(&[format!("{verb} {set} {mailbox}")], 1, |_, response| {
                if let Response::Data {
                    status: Status::Ok,
                    outcome,
                } = response
                    && let Some(code) = UidPlusCode::from_code(outcome.code.as_ref())
                {
                    codes.push(code);
                }
                Ok(())
            })
            .await?;
        check(&completions, verb)?;
        codes.extend(completions.into_iter().filter_map(|c| c.uidplus));
        for code in codes {
            if let UidPlusCode::Copy {
                uidvalidity,
                source,
                target,
            } = code
            {
                out.uidvalidity = Some(uidvalidity);
                out.reported = true;
                out.moved.extend(
                    pairs(&source, &target)
                        .into_iter()
                        .filter(|(s, _)| uids.contains(s)),
                );
            }
        }
        Ok(out)
    }

    /// Removes messages of the selected folder: `UID STORE <uids> +FLAGS.SILENT (\Deleted)`
    /// then `UID EXPUNGE <uids>` (UIDPLUS), pipelined: only these messages go, never others
    /// marked `\Deleted`. Without UIDPLUS: the STORE, then `UID SEARCH DELETED` and
    /// `UID SEARCH UID <uids> UNDELETED` (pipelined), then a plain `EXPUNGE` only when no
    /// message but ours is marked `\Deleted`; otherwise ours stay marked and are returned as
    /// [`Expunged::waiting`].
    pub async fn expunge_uids(&mut self, uids: &[u32]) -> Result<Expunged> {
        let mut out = Expunged::default();
        if uids.is_empty() {
            return Ok(out);
        }
        let set = uid_set(uids);
        let store = format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)");
        if self.has_uidplus() {
            let completions = self
                .exchange(&[store, format!("UID EXPUNGE {set}")], 2, |_, _| Ok(()))
                .await?;
            check(&completions, "UID EXPUNGE")?;
            return Ok(out);
        }
        let completions = self.exchange(&[store], 1, |_, _| Ok(())).await?;
        check(&completions, "UID STORE")?;
        // After the STORE has completed (a SEARCH pipelined behind it could be answered
        // from before it): who is marked \Deleted, and which of ours did not keep the flag.
        // One at a time: Dovecot runs pipelined SEARCHes in parallel and may answer them out
        // of order.
        let (mut deleted, mut undeleted) = (Vec::new(), Vec::new());
        let completions = self
            .exchange(
                &[
                    "UID SEARCH DELETED".to_string(),
                    format!("UID SEARCH UID {set} UNDELETED"),
                ],
                1,
                |i, response| {
                    if let Response::MailboxData(MailboxDatum::Search(list)) = response {
                        match i {
                            0 => deleted.extend_from_slice(list),
                            _ => undeleted.extend_from_slice(list),
                        }
                    }
                    Ok(())
                },
            )
            .await?;
        check(&completions, "UID SEARCH")?;
        out.not_kept = undeleted.into_iter().filter(|u| uids.contains(u)).collect();
        let (ours, others): (Vec<u32>, Vec<u32>) =
            deleted.into_iter().partition(|u| uids.contains(u));
        out.others_deleted = others.len();
        if !others.is_empty() {
            out.waiting = ours;
        } else if !ours.is_empty() {
            let completions = self
                .exchange(&["EXPUNGE".to_string()], 1, |_, _| Ok(()))
                .await?;
            check(&completions, "EXPUNGE")?;
            out.plain_expunge = true;
        }
        out.waiting.sort_unstable();
        out.not_kept.sort_unstable();
        Ok(out)
    }

    /// The UID of the newest message of the selected folder whose `Message-ID` header
    /// contains each of `message_ids` (`UID SEARCH HEADER Message-ID "<id>"`, pipelined), or
    /// `None`: not found, refused, or an id that cannot be sent as a quoted ASCII string. A
    /// copy just made has the highest UID of the messages carrying its Message-ID. One round
    /// trip per id.
    pub async fn uids_by_message_id(&mut self, message_ids: &[&str]) -> Result<Vec<Option<u32>>> {
        let mut found = vec![None; message_ids.len()];
        let mut commands = Vec::new();
        let mut index = Vec::new();
        for (i, id) in message_ids.iter().enumerate() {
            if id.is_ascii()
                && !id.trim().is_empty()
                && let Ok(quoted) = quote(id.trim())
            {
                commands.push(format!("UID SEARCH HEADER Message-ID {quoted}"));
                index.push(i);
            }
        }
        if commands.is_empty() {
            return Ok(found);
        }
        let mut hits: Vec<Option<u32>> = vec![None; commands.len()];
        let completions = self
            .exchange(&commands, SEARCH_DEPTH, |i, response| {
                if let Response::MailboxData(MailboxDatum::Search(list)) = response
                    && let Some(hit) = hits.get_mut(i)
                {
                    *hit = list.iter().copied().max().max(*hit);
                }
                Ok(())
            })
            .await?;
        for ((i, hit), completion) in index.into_iter().zip(hits).zip(&completions) {
            if completion.ok {
                found[i] = hit;
            }
        }
        Ok(found)
    }

    /// `APPEND <folder> (<flags>) {n+}` with the message as a non-synchronizing literal
    /// (one round trip) when the server offers LITERAL+ and the message is 7-bit or UTF-8
    /// text; otherwise async-imap's synchronizing APPEND, which does not report APPENDUID.
    pub async fn append(
        &mut self,
        folder: &str,
        flags: &[&str],
        raw: &[u8],
    ) -> Result<AppendOutcome> {
        let mailbox = quote(folder)?;
        let flags = flags.join(" ");
        let literal_plus = self.capabilities().has("LITERAL+");
        match std::str::from_utf8(raw) {
            Ok(text) if literal_plus && !text.contains('\0') => {
                let command = format!("APPEND {mailbox} ({flags}) {{{}+}}\r\n{text}", raw.len());
                let completions = self.exchange(&[command], 1, |_, _| Ok(())).await?;
                check(&completions, "APPEND")?;
                let uid = completions.into_iter().find_map(|c| match c.uidplus {
                    Some(UidPlusCode::Append { uidvalidity, uids }) => {
                        uids.first().map(|(first, _)| (uidvalidity, *first))
                    }
                    _ => None,
                });
                Ok(AppendOutcome { uid })
            }
            _ => {
                let timeout = self.timeout;
                tokio::time::timeout(
                    timeout,
                    self.inner
                        .append(&mailbox, Some(&format!("({flags})")), None, raw),
                )
                .await
                .map_err(|_| Error::Timeout {
                    during: "appending a message",
                })?
                .map_err(|e| super::connect::map_err("APPEND", e))?;
                Ok(AppendOutcome::default())
            }
        }
    }
}

/// Message-ID searches in flight at once: one, since Dovecot runs pipelined SEARCHes in
/// parallel and may answer them out of order.
const SEARCH_DEPTH: usize = 1;

/// What removing messages did, beyond the ones that are gone (see
/// [`ImapSession::expunge_uids`]). All empty with UIDPLUS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expunged {
    /// Ours still in the folder, marked `\Deleted`: without UIDPLUS, another message there is
    /// marked `\Deleted` too and a plain EXPUNGE would remove it as well.
    pub waiting: Vec<u32>,
    /// How many other messages of the folder are marked `\Deleted`.
    pub others_deleted: usize,
    /// Ours still in the folder without `\Deleted` after the STORE: the server does not keep
    /// the flag in this folder, so they can never be removed.
    pub not_kept: Vec<u32>,
    /// A plain `EXPUNGE` was sent (no message but ours was marked `\Deleted`).
    pub plain_expunge: bool,
}

/// COPYUID's source and target sets paired in order (both are listed in the same order).
fn pairs(source: &[(u32, u32)], target: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let expand = |set: &[(u32, u32)]| {
        set.iter()
            .flat_map(|(a, b)| {
                let (lo, hi) = ((*a).min(*b), (*a).max(*b));
                let up = a <= b;
                (lo..=hi).map(move |u| if up { u } else { hi - (u - lo) })
            })
            .take(MAX_PAIRS)
            .collect::<Vec<u32>>()
    };
    expand(source).into_iter().zip(expand(target)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyuid_sets_pair_in_order() {
        assert_eq!(
            pairs(&[(3, 5), (9, 9)], &[(20, 23)]),
            [(3, 20), (4, 21), (5, 22), (9, 23)]
        );
        // A hostile huge range is bounded.
        assert_eq!(pairs(&[(1, u32::MAX)], &[(1, u32::MAX)]).len(), MAX_PAIRS);
    }
}
