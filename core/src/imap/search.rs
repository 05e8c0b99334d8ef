//! The compact pieces of a CONDSTORE or plain resync: flags changed since a modseq, and the
//! folder's full UID set (ESEARCH `RETURN (ALL)` where offered: a few bytes for a folder of
//! any size with few holes). Also the user's search on the server: `UID SEARCH` with the
//! criteria of a [`Criteria`], in a folder EXAMINEd in the same flight.

use async_imap::imap_proto::{AttributeValue, MailboxDatum, Response};

use super::{
    Criteria, FlagUpdate, ImapSession, SearchSupport,
    session::{SelectCollector, check},
};
use crate::error::{Error, Result};

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
                collect_uids(response, &mut uids, &mut failure);
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

    /// What this server offers for a user's search.
    pub fn search_support(&self) -> SearchSupport {
        let caps = self.capabilities();
        SearchSupport {
            esearch: caps.has("ESEARCH"),
            literal_plus: caps.has("LITERAL+"),
            literal_minus: caps.has("LITERAL-"),
            fuzzy: caps.has("SEARCH=FUZZY"),
        }
    }

    /// The UIDs of the messages of `folder` that match `criteria`, ascending. The folder is
    /// EXAMINEd in the same flight unless it is selected now (one round trip either way);
    /// `Error::FolderChanged` when its UIDVALIDITY is not `uid_validity`. A server that
    /// refuses the CHARSET (`[BADCHARSET]`) gives `Error::Unsupported`.
    pub async fn search_in(
        &mut self,
        folder: &str,
        uid_validity: Option<u32>,
        criteria: &Criteria,
        fuzzy: bool,
    ) -> Result<Vec<u32>> {
        let command = criteria.render(self.search_support(), fuzzy)?;
        let examine = match self.current(folder) {
            Some(sel) if sel.uid_validity != uid_validity => return Err(Error::FolderChanged),
            Some(_) => None,
            None => Some(self.start_examine(folder)?),
        };
        let lead = usize::from(examine.is_some());
        let mut commands: Vec<String> = examine.into_iter().collect();
        commands.push(command);
        let mut sel = SelectCollector::default();
        let mut uids = Vec::new();
        let mut failure = None;
        self.meter().set_purpose(crate::net::Purpose::SyncMetadata);
        let completions = self
            .exchange_read_only(&commands, commands.len(), |index, response| {
                if index < lead {
                    sel.on_response(response);
                } else {
                    collect_uids(response, &mut uids, &mut failure);
                }
                Ok(())
            })
            .await?;
        if lead == 1 {
            self.finish_examine(folder, uid_validity, completions.get(..1), sel)?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let search = completions.get(lead..).unwrap_or_default();
        if search.iter().any(|c| c.badcharset) {
            return Err(Error::Unsupported {
                what: "searching for non-ASCII text (it refuses CHARSET UTF-8)",
            });
        }
        check(search, "UID SEARCH")?;
        // UID 0 names no message (a broken server's answer): it is not a hit.
        uids.retain(|u| *u != 0);
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// The INTERNALDATE (Unix seconds) of `uids` of `folder` (EXAMINEd in the same flight
    /// unless selected now), for ordering search hits of several folders. A message the
    /// server does not answer for, or whose date cannot be read, is left out.
    pub async fn internal_dates_in(
        &mut self,
        folder: &str,
        uid_validity: Option<u32>,
        uids: &[u32],
    ) -> Result<Vec<(u32, i64)>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let examine = match self.current(folder) {
            Some(sel) if sel.uid_validity != uid_validity => return Err(Error::FolderChanged),
            Some(_) => None,
            None => Some(self.start_examine(folder)?),
        };
        let lead = usize::from(examine.is_some());
        let mut commands: Vec<String> = examine.into_iter().collect();
        commands.push(format!(
            "UID FETCH {} (UID INTERNALDATE)",
            super::uid_set(uids)
        ));
        let mut sel = SelectCollector::default();
        let mut dates = Vec::new();
        self.meter().set_purpose(crate::net::Purpose::SyncMetadata);
        let completions = self
            .exchange_read_only(&commands, commands.len(), |index, response| {
                match response {
                    _ if index < lead => sel.on_response(response),
                    Response::Fetch(_, attrs) => {
                        let mut uid = None;
                        let mut date = None;
                        for attr in attrs {
                            match attr {
                                AttributeValue::Uid(u) => uid = Some(*u),
                                AttributeValue::InternalDate(d) => {
                                    date = crate::mime::parse_internal_date(d)
                                }
                                _ => {}
                            }
                        }
                        if let (Some(uid), Some(date)) = (uid, date)
                            && uids.contains(&uid)
                        {
                            dates.push((uid, date));
                        }
                    }
                    _ => {}
                }
                Ok(())
            })
            .await?;
        if lead == 1 {
            self.finish_examine(folder, uid_validity, completions.get(..1), sel)?;
        }
        check(completions.get(lead..).unwrap_or_default(), "UID FETCH")?;
        Ok(dates)
    }
}

/// The UIDs of an ESEARCH `ALL` or a plain SEARCH answer, added to `uids`; the first range
/// that cannot be expanded (a hostile one) is kept in `failure`.
fn collect_uids(response: &Response<'_>, uids: &mut Vec<u32>, failure: &mut Option<Error>) {
    match response {
        Response::ESearch(es) => {
            if let Some(all) = &es.all
                && let Err(e) = super::session::expand_ranges(all, uids)
            {
                failure.get_or_insert(e);
            }
        }
        Response::MailboxData(MailboxDatum::Search(list)) => uids.extend_from_slice(list),
        _ => {}
    }
}
