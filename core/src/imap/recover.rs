//! Other ways to a message's summary when the summary FETCH could not deliver it (issue 13):
//! the summary again without BODYSTRUCTURE, PREVIEW and References; then at least the UID
//! and flags; and the message's own bytes (`BODY.PEEK[]`, by byte ranges) from which the
//! sync layer reads the structure and the References itself. Protocol only: what to do with
//! the answers is the sync layer's business. Every answer is matched by what it carries (the
//! UID, the section, the origin), never by which command is oldest in flight, and nothing is
//! allocated in proportion to a number the server claims: sets of sequence numbers are kept
//! as ranges.

use std::collections::BTreeMap;

use async_imap::imap_proto::{AttributeValue, Response};

use super::{FlagUpdate, ImapSession, SummaryItems, Window, fetch::SummaryFetch};
use crate::{
    error::{Error, Result},
    net::Purpose,
};

/// A set of message numbers (sequence numbers or UIDs) as sorted, disjoint, non-adjacent
/// inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet(Vec<(u32, u32)>);

impl SeqSet {
    /// `lo..=hi` (empty when `lo > hi`).
    pub fn range(lo: u32, hi: u32) -> SeqSet {
        if lo > hi {
            SeqSet::default()
        } else {
            SeqSet(vec![(lo, hi)])
        }
    }

    /// The set of `numbers`, in any order, repeats allowed.
    pub fn of(numbers: impl IntoIterator<Item = u32>) -> SeqSet {
        let mut sorted: Vec<u32> = numbers.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for n in sorted {
            match ranges.last_mut() {
                Some((_, hi)) if hi.checked_add(1) == Some(n) => *hi = n,
                _ => ranges.push((n, n)),
            }
        }
        SeqSet(ranges)
    }

    /// This set without `numbers`. Costs O(k log k) for k numbers, whatever the set's size.
    pub fn without(&self, numbers: impl IntoIterator<Item = u32>) -> SeqSet {
        let mut remove: Vec<u32> = numbers.into_iter().collect();
        remove.sort_unstable();
        remove.dedup();
        let mut out = Vec::new();
        let mut next = remove.iter().copied().peekable();
        for &(lo, hi) in &self.0 {
            while next.next_if(|n| *n < lo).is_some() {}
            // The start of what is left of this range; `None` once past its end.
            let mut from = Some(lo);
            while let Some(start) = from {
                match next.next_if(|n| *n <= hi) {
                    Some(n) => {
                        if n > start {
                            out.push((start, n - 1));
                        }
                        from = n.checked_add(1).filter(|f| *f <= hi);
                    }
                    None => {
                        out.push((start, hi));
                        from = None;
                    }
                }
            }
        }
        SeqSet(out)
    }

    /// The union of both sets.
    pub fn union(&self, other: &SeqSet) -> SeqSet {
        let mut all: Vec<(u32, u32)> = self.0.iter().chain(&other.0).copied().collect();
        crate::sort::sort(&mut all);
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match out.last_mut() {
                Some((_, last)) if lo <= last.saturating_add(1) => *last = (*last).max(hi),
                _ => out.push((lo, hi)),
            }
        }
        SeqSet(out)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many numbers the set holds.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|(lo, hi)| u64::from(hi - lo) + 1).sum()
    }

    pub fn contains(&self, n: u32) -> bool {
        let at = self.0.partition_point(|(_, hi)| *hi < n);
        self.0.get(at).is_some_and(|(lo, _)| *lo <= n)
    }

    pub fn max(&self) -> Option<u32> {
        self.0.last().map(|(_, hi)| *hi)
    }

    /// The ranges, ascending.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// The IMAP form: `1:3,7,9:12`.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}:{hi}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A byte range of one message, as [`ImapSession::message_ranges`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRange {
    pub uid: u32,
    pub offset: u64,
    /// The bytes, at most as many as asked; fewer at the end of the message.
    pub data: Vec<u8>,
}

impl ImapSession {
    /// Summaries of the messages at sequence numbers `seqs`: with `items`, or without
    /// BODYSTRUCTURE, PREVIEW and References when `None` (`UID FLAGS INTERNALDATE RFC822.SIZE
    /// ENVELOPE`, for messages whose full summary could not be read; their `parts` are
    /// empty). Those that still do not parse are listed in the window's `unparsable`; only
    /// messages of `seqs` are kept. Nothing else may be in flight.
    pub async fn summaries_of(
        &mut self,
        seqs: &SeqSet,
        items: Option<SummaryItems>,
    ) -> Result<Window> {
        if seqs.is_empty() {
            return Ok(Window::default());
        }
        let command = match items {
            Some(items) => format!("FETCH {} {}", seqs.render(), items.render()),
            None => {
                let modseq = if self.has_condstore() { " MODSEQ" } else { "" };
                format!(
                    "FETCH {} (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE{modseq})",
                    seqs.render()
                )
            }
        };
        self.meter().set_purpose(Purpose::SyncMetadata);
        let mut pipe = self.pipeline(&[command], 1);
        pipe.take_unparsable_fetch();
        let mut fetch = SummaryFetch {
            pipe,
            ranges: vec![None],
            pending: Default::default(),
            structure: items.is_some(),
        };
        let mut window = self.next_window(&mut fetch).await?.unwrap_or_default();
        while self.next_window(&mut fetch).await?.is_some() {}
        // Only what was asked for.
        window.messages.retain(|m| seqs.contains(m.seq));
        window.unparsable.retain(|seq| seqs.contains(*seq));
        Ok(window)
    }

    /// The UID and flags (and MODSEQ with CONDSTORE) of the messages at sequence numbers
    /// `seqs`: the least a message can be stored with. Messages whose answer carries no UID,
    /// or does not parse, are left out. Nothing else may be in flight.
    pub async fn uids_and_flags(&mut self, seqs: &SeqSet) -> Result<Vec<FlagUpdate>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let modseq = if self.has_condstore() { " MODSEQ" } else { "" };
        let command = format!("FETCH {} (UID FLAGS{modseq})", seqs.render());
        self.meter().set_purpose(Purpose::SyncMetadata);
        let mut pipe = self.pipeline(&[command], 1);
        pipe.take_unparsable_fetch();
        let mut out: BTreeMap<u32, FlagUpdate> = BTreeMap::new();
        let mut failed = None;
        while let Some((_, completion)) = self
            .next_completion(&mut pipe, |_, response| {
                if let Response::Fetch(seq, attrs) = response
                    && seqs.contains(*seq)
                {
                    let update = super::fetch::flag_update(*seq, attrs);
                    if update.uid.is_some() {
                        out.entry(*seq).or_insert(update);
                    }
                }
                Ok(())
            })
            .await?
        {
            if !completion.ok {
                failed = Some(completion.text);
            }
        }
        if let Some(text) = failed {
            return Err(Error::ServerNo {
                command: "FETCH".into(),
                text,
            });
        }
        Ok(out.into_values().collect())
    }

    /// Byte ranges of whole messages (`BODY.PEEK[]<offset.length>`), one pipelined command
    /// per request `(uid, offset, length)`, counted as sync metadata. An answer is taken only
    /// when its UID, section (the whole message) and origin match a request and it is no
    /// longer than asked; a message expunged meanwhile has no entry. Nothing else may be in
    /// flight.
    pub async fn message_ranges(
        &mut self,
        requests: &[(u32, u64, u32)],
    ) -> Result<Vec<MessageRange>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let commands: Vec<String> = requests
            .iter()
            .map(|(uid, offset, len)| format!("UID FETCH {uid} (UID BODY.PEEK[]<{offset}.{len}>)"))
            .collect();
        self.meter().set_purpose(Purpose::SyncMetadata);
        let mut pipe = self.pipeline(&commands, commands.len().min(8));
        pipe.take_unparsable_fetch();
        let mut out: Vec<MessageRange> = Vec::new();
        let mut failed = None;
        while let Some((_, completion)) = self
            .next_completion(&mut pipe, |_, response| {
                if let Some(range) = whole_message_range(response)
                    && let Some((_, _, len)) = requests
                        .iter()
                        .find(|(uid, offset, _)| *uid == range.uid && *offset == range.offset)
                    && range.data.len() <= *len as usize
                    && !out
                        .iter()
                        .any(|r| r.uid == range.uid && r.offset == range.offset)
                {
                    out.push(range);
                }
                Ok(())
            })
            .await?
        {
            if !completion.ok {
                failed = Some(completion.text);
            }
        }
        if let Some(text) = failed {
            return Err(Error::ServerNo {
                command: "UID FETCH".into(),
                text,
            });
        }
        Ok(out)
    }
}

/// A `BODY[]<origin>` answer: the UID it carries, the origin and the bytes.
fn whole_message_range(response: &Response<'_>) -> Option<MessageRange> {
    let Response::Fetch(_, attrs) = response else {
        return None;
    };
    let (mut uid, mut found) = (None, None);
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::BodySection {
                section: None,
                index,
                data,
            } => found = Some((index.unwrap_or(0), data.as_deref().unwrap_or_default())),
            _ => {}
        }
    }
    let (offset, data) = found?;
    Some(MessageRange {
        uid: uid?,
        offset: u64::from(offset),
        data: data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_ranges_and_subtraction_costs_what_is_removed() {
        let all = SeqSet::range(1, 10);
        assert_eq!(all.render(), "1:10");
        assert_eq!(all.without([3, 4, 10, 1, 99]).render(), "2,5:9");
        assert_eq!(all.without(1..=10).render(), "");
        assert_eq!(SeqSet::range(5, 5).without([5]).render(), "");
        assert_eq!(SeqSet::of([7, 1, 2, 3, 9, 7]).render(), "1:3,7,9");
        let huge = SeqSet::range(1, u32::MAX);
        assert_eq!(huge.count(), u64::from(u32::MAX));
        assert_eq!(
            huge.without([u32::MAX]).render(),
            format!("1:{}", u32::MAX - 1)
        );
        assert_eq!(
            huge.without([1, u32::MAX]).render(),
            format!("2:{}", u32::MAX - 1)
        );
        assert_eq!(
            SeqSet::of([1, 2]).union(&SeqSet::of([3, 8])).render(),
            "1:3,8"
        );
        assert!(SeqSet::range(2, 1).is_empty());
    }
}
