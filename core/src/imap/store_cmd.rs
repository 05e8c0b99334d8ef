//! `UID STORE` for flag write-back, with CONDSTORE's `UNCHANGEDSINCE` (RFC 7162 §3.1.3), and
//! the small `UID FETCH (FLAGS MODSEQ)` used to look at messages afterwards. Protocol only:
//! what to store and what to do with the answer is the sync layer's business.
//!
//! The command is never `.SILENT`, so the server reports what it changed as FETCH responses.
//! UIDs it refused because they changed after `UNCHANGEDSINCE` come back in the tagged OK's
//! `[MODIFIED uid-set]` code, which imap-proto does not parse: it stays in the completion text
//! (kept whole by `exchange`) and is read here.

use async_imap::imap_proto::Response;

use super::{FlagUpdate, ImapSession, body::uid_set, session::check};
use crate::error::{Error, Result};

/// What one `UID STORE` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    /// Messages the server reported (UID, flags after the command, MODSEQ if CONDSTORE).
    pub changed: Vec<(u32, Vec<String>, Option<u64>)>,
    /// UIDs not stored because they changed since `UNCHANGEDSINCE` (the MODIFIED code).
    pub modified: Vec<u32>,
}

/// One `UID STORE` to send: `+FLAGS` (`add`) or `-FLAGS` of `flags` on `uids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCommand {
    pub uids: Vec<u32>,
    pub add: bool,
    pub flags: Vec<String>,
}

impl ImapSession {
    /// `UID STORE <uids> [(UNCHANGEDSINCE n)] +FLAGS|-FLAGS (<flags>)` on the selected folder.
    /// Flags must be system flags (`\Seen`, ...) or atoms; anything else is refused unsent.
    pub async fn store_flags(
        &mut self,
        uids: &[u32],
        add: bool,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome> {
        let command = StoreCommand {
            uids: uids.to_vec(),
            add,
            flags: flags.to_vec(),
        };
        self.store_many(std::slice::from_ref(&command), unchanged_since)
            .await?
            .pop()
            .unwrap_or_else(|| Ok(StoreOutcome::default()))
    }

    /// Several `UID STORE`s in one flight, each standing on its own: the outer error is a
    /// connection-level failure; the inner one is that command's own (its NO or BAD, or a
    /// flag name refused unsent), which never stops the others.
    pub async fn store_many(
        &mut self,
        commands: &[StoreCommand],
        unchanged_since: Option<u64>,
    ) -> Result<Vec<Result<StoreOutcome>>> {
        let condition = match unchanged_since {
            Some(m) => format!(" (UNCHANGEDSINCE {m})"),
            None => String::new(),
        };
        let mut out: Vec<Result<StoreOutcome>> = Vec::with_capacity(commands.len());
        // Which slot of `out` each sent command fills.
        let mut sent: Vec<(usize, String)> = Vec::new();
        for c in commands {
            if c.uids.is_empty() || c.flags.is_empty() {
                out.push(Ok(StoreOutcome::default()));
            } else if !c.flags.iter().all(|f| valid_flag(f)) {
                out.push(Err(Error::Config {
                    reason: "a flag name is not valid in IMAP".into(),
                }));
            } else {
                sent.push((
                    out.len(),
                    format!(
                        "UID STORE {}{condition} {}FLAGS ({})",
                        uid_set(&c.uids),
                        if c.add { '+' } else { '-' },
                        c.flags.join(" ")
                    ),
                ));
                out.push(Ok(StoreOutcome::default()));
            }
        }
        if sent.is_empty() {
            return Ok(out);
        }
        let texts: Vec<String> = sent.iter().map(|(_, t)| t.clone()).collect();
        let mut changed: Vec<StoreOutcome> = vec![StoreOutcome::default(); sent.len()];
        let completions = self
            .exchange(&texts, texts.len(), |index, response| {
                if let Response::Fetch(seq, attrs) = response {
                    let update = super::fetch::flag_update(*seq, attrs);
                    if let (Some(uid), Some(slot)) = (update.uid, changed.get_mut(index)) {
                        slot.changed.push((uid, update.flags, update.modseq));
                    }
                }
                Ok(())
            })
            .await?;
        for (((slot, _), done), changed) in sent.iter().zip(&completions).zip(changed) {
            let result = check(std::slice::from_ref(done), "UID STORE").map(|()| StoreOutcome {
                changed: changed.changed,
                modified: modified_uids(&done.text, &commands[*slot].uids),
            });
            out[*slot] = result;
        }
        Ok(out)
    }

    /// `UID FETCH <uids> (UID FLAGS [MODSEQ])`: the current flags of some messages. UIDs that
    /// no longer exist are simply absent from the answer.
    pub async fn fetch_flags_of(&mut self, uids: &[u32]) -> Result<Vec<FlagUpdate>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let items = if self.has_condstore() {
            "(UID FLAGS MODSEQ)"
        } else {
            "(UID FLAGS)"
        };
        let command = format!("UID FETCH {} {items}", uid_set(uids));
        let mut out = Vec::new();
        let completions = self
            .exchange(&[command], 1, |_, response| {
                if let Response::Fetch(seq, attrs) = response {
                    out.push(super::fetch::flag_update(*seq, attrs));
                }
                Ok(())
            })
            .await?;
        check(&completions, "UID FETCH")?;
        Ok(out)
    }
}

/// A system flag we write, or a keyword atom.
fn valid_flag(name: &str) -> bool {
    const SYSTEM: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];
    SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(name))
        || (!name.is_empty()
            && name.len() <= 200
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b)))
}

/// The UIDs of `sent` named by a `[MODIFIED set]` code at the start of `text`. Only UIDs we
/// sent are kept, so a hostile range never expands to more than the command named.
fn modified_uids(text: &str, sent: &[u32]) -> Vec<u32> {
    let Some(rest) = text
        .get(..10)
        .filter(|p| p.eq_ignore_ascii_case("[MODIFIED "))
        .and_then(|_| text.get(10..))
    else {
        return Vec::new();
    };
    let Some(set) = rest.split(']').next() else {
        return Vec::new();
    };
    let mut ranges = Vec::new();
    for item in set.split(',') {
        let mut ends = item.splitn(2, ':').map(|n| n.trim().parse::<u32>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), None) => ranges.push((a, a)),
            (Some(Ok(a)), Some(Ok(b))) => ranges.push((a.min(b), a.max(b))),
            _ => {}
        }
    }
    let mut out: Vec<u32> = sent
        .iter()
        .copied()
        .filter(|uid| ranges.iter().any(|(a, b)| (*a..=*b).contains(uid)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_code_is_read_from_the_completion_text() {
        let sent = [3, 4, 5, 7, 9, 12];
        assert_eq!(
            modified_uids("[MODIFIED 7,9:12] Conditional STORE failed", &sent),
            [7, 9, 12]
        );
        assert_eq!(modified_uids("[modified 4] x", &sent), [4]);
        assert_eq!(modified_uids("[MODIFIED 1:4294967295]", &sent), sent);
        assert!(modified_uids("Store completed", &sent).is_empty());
        assert!(modified_uids("[HIGHESTMODSEQ 9] ok", &sent).is_empty());
        assert!(modified_uids("[MODIFIED x:y] ok", &sent).is_empty());
    }

    #[test]
    fn only_system_flags_and_atoms_go_out() {
        assert!(valid_flag("\\Seen") && valid_flag("$Junk"));
        assert!(!valid_flag("\\Recent") && !valid_flag("a b") && !valid_flag("x)"));
    }
}
