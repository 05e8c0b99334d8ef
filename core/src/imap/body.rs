//! Content fetches: whole MIME sections or byte ranges of them
//! (`BODY.PEEK[section]<offset.length>`), for snippets, readable bodies and chunked
//! attachment downloads. Requests for many messages go out pipelined, one command per
//! distinct section and range. Never marks a message `\Seen` (always `.PEEK`).

use std::collections::BTreeMap;

use async_imap::imap_proto::{AttributeValue, Response, SectionPath};

use super::{ImapSession, session::check};
use crate::{
    error::{Error, Result},
    net::Purpose,
};

/// One section (or a byte range of it) of one message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SectionRequest {
    pub uid: u32,
    /// An IMAP part number such as `1` or `2.1`.
    pub section: String,
    /// `(offset, length)` in encoded bytes, or the whole section.
    pub range: Option<(u64, u32)>,
}

/// What came back for one request. A message expunged meanwhile simply has no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionData {
    pub uid: u32,
    pub section: String,
    /// The encoded bytes (empty past the end of the section).
    pub data: Vec<u8>,
}

/// Whether `section` is a plain IMAP part number (digits separated by dots). Anything else
/// is refused before it can reach a command line.
pub fn valid_section(section: &str) -> bool {
    !section.is_empty()
        && section.len() <= 64
        && section
            .split('.')
            .all(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl ImapSession {
    /// Fetches the requested sections of messages in the selected folder, counting the bytes
    /// under `purpose`. One pipelined command per (section, range) group.
    pub async fn fetch_sections(
        &mut self,
        purpose: Purpose,
        requests: &[SectionRequest],
    ) -> Result<Vec<SectionData>> {
        // (section, range) -> UIDs: one command per group.
        type Group = (String, Option<(u64, u32)>);
        let mut groups: BTreeMap<Group, Vec<u32>> = BTreeMap::new();
        for r in requests {
            if !valid_section(&r.section) {
                return Err(Error::Config {
                    reason: "invalid MIME section number".into(),
                });
            }
            groups
                .entry((r.section.clone(), r.range))
                .or_default()
                .push(r.uid);
        }
        let mut commands = Vec::with_capacity(groups.len());
        for ((section, range), uids) in groups {
            let range_text = range.map(|(o, l)| format!("<{o}.{l}>")).unwrap_or_default();
            commands.push(format!(
                "UID FETCH {} (UID BODY.PEEK[{section}]{range_text})",
                uid_set(&uids)
            ));
        }
        self.meter().set_purpose(purpose);
        let mut out = Vec::new();
        // Responses are matched by the UID and section they carry, never by which command is
        // oldest in flight: a server may run pipelined FETCHes concurrently and interleave them.
        let completions = self
            .exchange(&commands, commands.len().min(8), |_, response| {
                if let Response::Fetch(_, attrs) = response {
                    let mut uid = None;
                    let mut found = None;
                    for a in attrs {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(*u),
                            AttributeValue::BodySection {
                                section: Some(SectionPath::Part(path, None)),
                                data,
                                ..
                            } => {
                                let section = path
                                    .iter()
                                    .map(u32::to_string)
                                    .collect::<Vec<_>>()
                                    .join(".");
                                found =
                                    Some((section, data.as_deref().unwrap_or_default().to_vec()));
                            }
                            _ => {}
                        }
                    }
                    if let (Some(uid), Some((section, data))) = (uid, found) {
                        out.push(SectionData { uid, section, data });
                    }
                }
                Ok(())
            })
            .await?;
        self.meter().set_purpose(Purpose::SyncMetadata);
        check(&completions, "UID FETCH")?;
        Ok(out)
    }
}

/// A compact UID set: sorted, runs collapsed (`1:5,9,12:14`).
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_validated() {
        assert!(valid_section("1") && valid_section("2.1.3"));
        for bad in [
            "",
            "1.",
            ".1",
            "1..2",
            "TEXT",
            "1 BODY[]",
            "1]<0.5> (FLAGS",
            "1\r\nA1 LOGOUT",
        ] {
            assert!(!valid_section(bad), "{bad:?}");
        }
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 12, 13, 14, 3]), "1:3,5,9,12:14");
        assert_eq!(uid_set(&[7]), "7");
    }
}
