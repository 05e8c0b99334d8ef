//! The compact pieces of a CONDSTORE or plain resync: flags changed since a modseq, and the
//! folder's full UID set (ESEARCH `RETURN (ALL)` where offered: a few bytes for a folder of
//! any size with few holes).

use async_imap::imap_proto::{MailboxDatum, Response};

use super::{FlagUpdate, ImapSession, session::check};
use crate::error::Result;

impl ImapSession {
    /// `UID FETCH 1:* (UID FLAGS)`, with `(CHANGEDSINCE modseq)` when given (CONDSTORE).
    pub async fn fetch_flags(&mut self, changed_since: Option<u64>) -> Result<Vec<FlagUpdate>> {
        let command = match changed_since {
            Some(m) => format!("UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {m})"),
            None => "UID FETCH 1:* (UID FLAGS)".to_string(),
        };
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

    /// Every UID in the selected folder, ascending.
    pub async fn all_uids(&mut self) -> Result<Vec<u32>> {
        let esearch = self.capabilities().has("ESEARCH");
        let command = if esearch {
            "UID SEARCH RETURN (ALL) ALL"
        } else {
            "UID SEARCH ALL"
        };
        let mut uids = Vec::new();
        let mut failure = None;
        let completions = self
            .exchange(&[command.to_string()], 1, |_, response| {
                match response {
                    Response::ESearch(es) => {
                        if let Some(all) = &es.all
                            && let Err(e) = super::session::expand_ranges(all, &mut uids)
                        {
                            failure.get_or_insert(e);
                        }
                    }
                    Response::MailboxData(MailboxDatum::Search(list)) => {
                        uids.extend_from_slice(list)
                    }
                    _ => {}
                }
                Ok(())
            })
            .await?;
        if let Some(e) = failure {
            return Err(e);
        }
        check(&completions, "UID SEARCH")?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// How many messages have a UID below `uid` (their sequence numbers are `1..=count`).
    pub async fn count_below(&mut self, uid: u32) -> Result<u32> {
        if uid <= 1 {
            return Ok(0);
        }
        if !self.capabilities().has("ESEARCH") {
            let uids = self.all_uids().await?;
            return Ok(uids.iter().filter(|u| **u < uid).count() as u32);
        }
        let mut count = None;
        let command = format!("UID SEARCH RETURN (COUNT) UID 1:{}", uid - 1);
        let completions = self
            .exchange(&[command], 1, |_, response| {
                if let Response::ESearch(es) = response {
                    count = es.count;
                }
                Ok(())
            })
            .await?;
        check(&completions, "UID SEARCH")?;
        Ok(count.unwrap_or(0))
    }
}
