//! Content fetches: whole MIME sections or byte ranges of them
//! (`BODY.PEEK[section]<offset.length>`), for snippets, readable bodies and chunked
//! attachment downloads. Requests for many messages go out pipelined, one command per
//! distinct section and range. Never marks a message `\Seen` (always `.PEEK`).
//!
//! An answer is only taken when it is exactly what was asked: the UID, the section, the
//! origin of a byte range, and no more bytes than its length. Body sections of other
//! messages (unsolicited, or a hostile server's) are ignored; anything that could pass for
//! an answer of ours but does not match it is a protocol error, never data.

use std::collections::{BTreeMap, BTreeSet};

use async_imap::imap_proto::{AttributeValue, MessageSection, Response, SectionPath};

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
    /// `(offset, length)` in encoded bytes (decoded ones with `binary`), or the whole
    /// section.
    pub range: Option<(u64, u32)>,
    /// `BINARY.PEEK` (RFC 3516: the server decodes the part) instead of `BODY.PEEK`. The
    /// answer must then be a `BINARY[section]` item.
    pub binary: bool,
}

/// What came back for one request. A message expunged meanwhile simply has no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionData {
    pub uid: u32,
    pub section: String,
    /// The encoded bytes, decoded ones for a `binary` request (empty past the end of the
    /// section).
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

/// What came back for a prefetch ([`ImapSession::prefetch_sections`]).
#[derive(Debug, Default)]
pub struct Prefetched {
    /// The answers that match their requests, one per request answered.
    pub data: Vec<SectionData>,
    /// Messages whose answers were all dropped because one did not match what was asked.
    pub refused: usize,
}

impl ImapSession {
    /// Fetches the requested sections of messages in the selected folder, counting the bytes
    /// under `purpose`. One pipelined command per (section, range) group.
    ///
    /// Every answer is checked against what was asked (see [`Expected`]): a body section for
    /// a UID that was not asked for is ignored; one for a UID that was, but with another
    /// section or origin, more bytes than asked, or a second time, is an `Error::Protocol`,
    /// returned once every command has completed (the session stays usable). A request
    /// with no answer (the message was expunged) simply has no entry.
    pub async fn fetch_sections(
        &mut self,
        purpose: Purpose,
        requests: &[SectionRequest],
    ) -> Result<Vec<SectionData>> {
        let expected = self.fetch_checked(purpose, requests).await?;
        match expected.first_refusal {
            Some(e) => Err(e),
            None => Ok(expected.into_data()),
        }
    }

    /// [`fetch_sections`](ImapSession::fetch_sections) for content fetched ahead of need
    /// (snippets, bodies): a message with an answer that does not match its request gets no
    /// entry at all, and is counted, rather than failing the whole batch. Nothing of a
    /// refused message is kept; it is asked for again another time.
    pub async fn prefetch_sections(
        &mut self,
        purpose: Purpose,
        requests: &[SectionRequest],
    ) -> Result<Prefetched> {
        let expected = self.fetch_checked(purpose, requests).await?;
        let refused = expected
            .refused
            .iter()
            .filter(|uid| expected.asked_for(**uid))
            .count();
        Ok(Prefetched {
            data: expected.into_data(),
            refused,
        })
    }

    /// Sends the commands and checks every answer against `requests`. Fails only for the
    /// exchange itself (and a refused command); refused answers are in what it returns.
    async fn fetch_checked(
        &mut self,
        purpose: Purpose,
        requests: &[SectionRequest],
    ) -> Result<Expected> {
        let (mut expected, commands) = fetch_commands(requests)?;
        self.meter().set_purpose(purpose);
        // Responses are matched by the UID, section and origin they carry, never by which
        // command is oldest in flight: a server may run pipelined FETCHes concurrently and
        // interleave them. A mismatch is only recorded, and the commands read to their end,
        // so the session is still in step with the server afterwards. Content fetches never
        // carry a deferred ENABLE (nothing here uses it).
        let completions = self
            .exchange_read_only(&commands, commands.len().min(FETCH_DEPTH), |_, response| {
                if let Response::Fetch(_, attrs) = response {
                    // Recorded in `expected`; the first refusal is reported by the caller.
                    let _ = expected.accept(attrs);
                }
                Ok(())
            })
            .await;
        self.meter().set_purpose(Purpose::SyncMetadata);
        let completions = completions?;
        if expected.first_refusal.is_none() {
            check(&completions, "UID FETCH")?;
        }
        Ok(expected)
    }
}

/// The most section FETCHes in flight at once.
pub(super) const FETCH_DEPTH: usize = 8;

/// The expectations of `requests` and their commands: one `UID FETCH` per distinct
/// (section, range), for all the UIDs that asked for it.
pub(super) fn fetch_commands(requests: &[SectionRequest]) -> Result<(Expected, Vec<String>)> {
    let expected = Expected::new(requests)?;
    type Group = (String, Option<(u64, u32)>, bool);
    let mut groups: BTreeMap<Group, Vec<u32>> = BTreeMap::new();
    for r in requests {
        groups
            .entry((r.section.clone(), r.range, r.binary))
            .or_default()
            .push(r.uid);
    }
    let mut commands = Vec::with_capacity(groups.len());
    for ((section, range, binary), uids) in groups {
        commands.push(format!(
            "UID FETCH {} (UID {})",
            uid_set(&uids),
            fetch_item(&section, range, binary)
        ));
    }
    Ok((expected, commands))
}

/// `BODY.PEEK[section]<o.l>` or `BINARY.PEEK[section]<o.l>` (the section is validated by
/// `Expected::new` before any command is sent).
pub(super) fn fetch_item(section: &str, range: Option<(u64, u32)>, binary: bool) -> String {
    let range_text = range.map(|(o, l)| format!("<{o}.{l}>")).unwrap_or_default();
    let kind = if binary { "BINARY" } else { "BODY" };
    format!("{kind}.PEEK[{section}]{range_text}")
}

/// What the answers to one `fetch_sections` call must carry: for each request, its UID, its
/// section, its origin (only for a byte range) and at most its length in bytes.
#[derive(Debug)]
pub(super) struct Expected {
    /// (UID, section as numbers, origin) -> the request's answer so far.
    slots: BTreeMap<(u32, Vec<u32>, Option<u64>), Slot>,
    /// UIDs with an answer that did not match: none of their answers is handed back.
    refused: BTreeSet<u32>,
    /// Why the first answer was refused.
    pub(super) first_refusal: Option<Error>,
}

#[derive(Debug)]
struct Slot {
    /// The section as the caller wrote it (returned as is).
    section: String,
    /// The most bytes the answer may hold (a range's length).
    max_len: Option<u32>,
    /// A `BINARY[...]` answer is wanted, not a `BODY[...]` one.
    binary: bool,
    data: Option<Vec<u8>>,
}

impl Expected {
    /// The expectations of `requests`; `Error::Config` for an invalid section number, or two
    /// ranges of one section that start at the same offset (their answers would look alike).
    fn new(requests: &[SectionRequest]) -> Result<Expected> {
        let mut expected = Expected::empty();
        for r in requests {
            expected.add(r)?;
        }
        Ok(expected)
    }

    /// Nothing expected yet (see [`add`](Expected::add)).
    pub(super) fn empty() -> Expected {
        Expected {
            slots: BTreeMap::new(),
            refused: BTreeSet::new(),
            first_refusal: None,
        }
    }

    /// Expects the answer of one more request (`Error::Config` as in `new`).
    pub(super) fn add(&mut self, r: &SectionRequest) -> Result<()> {
        let path = section_path(&r.section).ok_or_else(|| Error::Config {
            reason: "invalid MIME section number".into(),
        })?;
        let key = (r.uid, path, r.range.map(|(offset, _)| offset));
        let max_len = r.range.map(|(_, len)| len);
        match self.slots.get(&key) {
            Some(Slot {
                max_len: known,
                binary,
                ..
            }) if *known != max_len || *binary != r.binary => Err(Error::Config {
                reason: "two ranges of one section from the same offset".into(),
            }),
            Some(_) => Ok(()),
            None => {
                self.slots.insert(
                    key,
                    Slot {
                        section: r.section.clone(),
                        max_len,
                        binary: r.binary,
                        data: None,
                    },
                );
                Ok(())
            }
        }
    }

    /// Takes out the answer to `r` (and forgets the request): `None` when nothing came for
    /// it, or its UID was refused.
    pub(super) fn take_answer(&mut self, r: &SectionRequest) -> Option<Vec<u8>> {
        let key = (
            r.uid,
            section_path(&r.section)?,
            r.range.map(|(offset, _)| offset),
        );
        let slot = self.slots.remove(&key)?;
        if self.refused.contains(&r.uid) {
            return None;
        }
        slot.data
    }

    fn asked_for(&self, uid: u32) -> bool {
        self.slots
            .range((uid, Vec::new(), None)..)
            .next()
            .is_some_and(|((u, _, _), _)| *u == uid)
    }

    /// Takes the body sections of one `* n FETCH` response. Ignored: a response without a
    /// body section (a flag update), without a UID, or for a UID nothing was asked for.
    /// Refused: a body section for a UID that was asked for, but not as asked; that UID's
    /// answers are then all dropped (an answer taken before may have been the wrong one),
    /// and the first refusal is kept for the caller.
    pub(super) fn accept(&mut self, attrs: &[AttributeValue<'_>]) -> Result<()> {
        let Err(reason) = self.take(attrs) else {
            return Ok(());
        };
        for uid in attrs.iter().filter_map(|a| match a {
            AttributeValue::Uid(u) => Some(*u),
            _ => None,
        }) {
            self.refused.insert(uid);
            for (_, slot) in self
                .slots
                .range_mut((uid, Vec::new(), None)..)
                .take_while(|((u, _, _), _)| *u == uid)
            {
                slot.data = None;
            }
        }
        if self.first_refusal.is_none() {
            self.first_refusal = Some(Error::protocol(reason.clone()));
        }
        Err(Error::protocol(reason))
    }

    fn take(&mut self, attrs: &[AttributeValue<'_>]) -> std::result::Result<(), String> {
        let mut uids = attrs.iter().filter_map(|a| match a {
            AttributeValue::Uid(u) => Some(*u),
            _ => None,
        });
        let sections = attrs.iter().filter_map(|a| match a {
            AttributeValue::BodySection {
                section,
                index,
                data,
            } => Some((
                false,
                describe(section.as_ref(), *index),
                match section {
                    Some(SectionPath::Part(path, None)) => Some(path.clone()),
                    _ => None,
                },
                *index,
                data,
            )),
            AttributeValue::BinarySection {
                section,
                index,
                data,
            } => Some((
                true,
                describe_binary(section, *index),
                Some(section.clone()).filter(|p| !p.is_empty()),
                *index,
                data,
            )),
            _ => None,
        });
        let Some(uid) = uids.next() else {
            return Ok(());
        };
        if sections.clone().next().is_none() {
            return Ok(());
        }
        let other_uid = uids.find(|u| *u != uid);
        if !self.asked_for(uid) && other_uid.is_none_or(|u| !self.asked_for(u)) {
            return Ok(()); // another message's: not ours, not kept
        }
        if self.refused.contains(&uid) {
            return Ok(()); // already refused: nothing of it is kept
        }
        if other_uid.is_some() {
            return Err("a FETCH response carried two different UIDs".into());
        }
        for (binary, answered, path, index, data) in sections {
            // An empty path is never a key: no request has one.
            let key = (uid, path.unwrap_or_default(), index.map(u64::from));
            let Some(slot) = self.slots.get_mut(&key).filter(|s| s.binary == binary) else {
                return Err(format!(
                    "the server answered {answered} for UID {uid}, which was not asked for"
                ));
            };
            let data = data.as_deref().unwrap_or_default();
            if let Some(max) = slot.max_len
                && data.len() as u64 > u64::from(max)
            {
                return Err(format!(
                    "the server sent {} bytes of {answered} for UID {uid} where at most {max} \
                     were asked",
                    data.len()
                ));
            }
            if slot.data.is_some() {
                return Err(format!(
                    "the server answered {answered} for UID {uid} twice"
                ));
            }
            slot.data = Some(data.to_vec());
        }
        Ok(())
    }

    /// The answers received, one per distinct request, none for a refused UID.
    pub(super) fn into_data(self) -> Vec<SectionData> {
        let refused = self.refused;
        self.slots
            .into_iter()
            .filter(|((uid, _, _), _)| !refused.contains(uid))
            .filter_map(|((uid, _, _), slot)| {
                Some(SectionData {
                    uid,
                    section: slot.section,
                    data: slot.data?,
                })
            })
            .collect()
    }
}

/// A valid section number as numbers (`2.1` -> `[2, 1]`).
fn section_path(section: &str) -> Option<Vec<u32>> {
    if !valid_section(section) {
        return None;
    }
    section.split('.').map(|n| n.parse().ok()).collect()
}

/// How a body section item reads on the wire (`BODY[2]<65536>`), for errors: never data.
fn describe(section: Option<&SectionPath>, index: Option<u32>) -> String {
    let inner = match section {
        None => String::new(),
        Some(SectionPath::Full(text)) => message_section(text).to_string(),
        Some(SectionPath::Part(path, text)) => {
            let numbers = path
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(".");
            match text {
                Some(text) => format!("{numbers}.{}", message_section(text)),
                None => numbers,
            }
        }
    };
    let origin = index.map(|o| format!("<{o}>")).unwrap_or_default();
    format!("BODY[{inner}]{origin}")
}

/// How a binary section item reads on the wire (`BINARY[2]<65536>`), for errors.
fn describe_binary(path: &[u32], index: Option<u32>) -> String {
    let numbers = path
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let origin = index.map(|o| format!("<{o}>")).unwrap_or_default();
    format!("BINARY[{numbers}]{origin}")
}

fn message_section(text: &MessageSection) -> &'static str {
    match text {
        MessageSection::Header => "HEADER",
        MessageSection::Mime => "MIME",
        MessageSection::Text => "TEXT",
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

    fn range(uid: u32, section: &str, offset: u64, len: u32) -> SectionRequest {
        SectionRequest {
            uid,
            section: section.into(),
            range: Some((offset, len)),
            binary: false,
        }
    }

    fn whole(uid: u32, section: &str) -> SectionRequest {
        SectionRequest {
            uid,
            section: section.into(),
            range: None,
            binary: false,
        }
    }

    /// `* n FETCH (UID uid BODY[path]<index> data)`.
    fn answer<'a>(
        uid: u32,
        path: &[u32],
        index: Option<u32>,
        data: Option<&'a [u8]>,
    ) -> Vec<AttributeValue<'a>> {
        vec![
            AttributeValue::Uid(uid),
            AttributeValue::BodySection {
                section: Some(SectionPath::Part(path.to_vec(), None)),
                index,
                data: data.map(std::borrow::Cow::Borrowed),
            },
        ]
    }

    fn reason(result: Result<()>) -> String {
        match result {
            Err(Error::Protocol { reason }) => reason,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn a_matching_answer_is_taken() {
        let mut expected =
            Expected::new(&[range(102, "2", 65536, 100), whole(103, "1.2")]).unwrap();
        expected
            .accept(&answer(102, &[2], Some(65536), Some(b"abc")))
            .unwrap();
        expected
            .accept(&answer(103, &[1, 2], None, Some(b"body")))
            .unwrap();
        let data = expected.into_data();
        assert_eq!(
            data,
            vec![
                SectionData {
                    uid: 102,
                    section: "2".into(),
                    data: b"abc".to_vec()
                },
                SectionData {
                    uid: 103,
                    section: "1.2".into(),
                    data: b"body".to_vec()
                },
            ]
        );
    }

    #[test]
    fn other_messages_and_flag_updates_are_ignored() {
        let mut expected = Expected::new(&[range(102, "2", 0, 100)]).unwrap();
        // The unsolicited answer of issue 13, for another message.
        expected.accept(&answer(101, &[2], Some(0), None)).unwrap();
        expected
            .accept(&answer(101, &[1], Some(0), Some(b"x")))
            .unwrap();
        // A flag update for our message, and a body section without any UID.
        expected
            .accept(&[AttributeValue::Uid(102), AttributeValue::Flags(vec![])])
            .unwrap();
        expected
            .accept(&[AttributeValue::BodySection {
                section: Some(SectionPath::Part(vec![2], None)),
                index: Some(0),
                data: None,
            }])
            .unwrap();
        assert!(expected.into_data().is_empty());
    }

    #[test]
    fn another_section_origin_or_length_is_refused() {
        let asked = [range(102, "2", 65536, 100)];
        let cases: [(Vec<AttributeValue<'_>>, &str); 5] = [
            (
                answer(102, &[1], Some(65536), Some(b"x")),
                "the server answered BODY[1]<65536> for UID 102, which was not asked for",
            ),
            (
                answer(102, &[2], Some(0), Some(b"x")),
                "the server answered BODY[2]<0> for UID 102, which was not asked for",
            ),
            (
                answer(102, &[2], None, Some(b"x")),
                "the server answered BODY[2] for UID 102, which was not asked for",
            ),
            (
                answer(102, &[2], Some(65536), Some(&[b'x'; 101])),
                "the server sent 101 bytes of BODY[2]<65536> for UID 102 where at most 100 \
                 were asked",
            ),
            (
                vec![
                    AttributeValue::Uid(102),
                    AttributeValue::BodySection {
                        section: Some(SectionPath::Full(MessageSection::Text)),
                        index: None,
                        data: Some(std::borrow::Cow::Borrowed(b"x")),
                    },
                ],
                "the server answered BODY[TEXT] for UID 102, which was not asked for",
            ),
        ];
        for (attrs, wanted) in cases {
            let mut expected = Expected::new(&asked).unwrap();
            assert_eq!(reason(expected.accept(&attrs)), wanted);
        }
        // A whole section answered as a range.
        let mut expected = Expected::new(&[whole(102, "2")]).unwrap();
        assert_eq!(
            reason(expected.accept(&answer(102, &[2], Some(0), Some(b"x")))),
            "the server answered BODY[2]<0> for UID 102, which was not asked for"
        );
    }

    #[test]
    fn a_second_answer_or_a_second_uid_is_refused() {
        let mut expected = Expected::new(&[range(102, "2", 0, 10)]).unwrap();
        expected
            .accept(&answer(102, &[2], Some(0), Some(b"first")))
            .unwrap();
        assert_eq!(
            reason(expected.accept(&answer(102, &[2], Some(0), Some(b"again")))),
            "the server answered BODY[2]<0> for UID 102 twice"
        );
        let mut expected = Expected::new(&[range(102, "2", 0, 10)]).unwrap();
        let mut two = answer(101, &[2], Some(0), Some(b"x"));
        two.push(AttributeValue::Uid(102));
        assert_eq!(
            reason(expected.accept(&two)),
            "a FETCH response carried two different UIDs"
        );
    }

    #[test]
    fn a_refused_message_keeps_no_answer_and_others_keep_theirs() {
        let mut expected =
            Expected::new(&[whole(102, "1"), range(102, "2", 0, 10), whole(103, "1")]).unwrap();
        expected
            .accept(&answer(102, &[1], None, Some(b"taken")))
            .unwrap();
        expected
            .accept(&answer(103, &[1], None, Some(b"fine")))
            .unwrap();
        // Part 2 of 102 from the wrong origin: everything of 102 goes, even what matched.
        expected
            .accept(&answer(102, &[2], Some(5), Some(b"x")))
            .unwrap_err();
        // Later answers for 102 are not taken either, and not refused again.
        expected
            .accept(&answer(102, &[2], Some(0), Some(b"late")))
            .unwrap();
        assert_eq!(
            expected.first_refusal.as_ref().map(ToString::to_string),
            Some(
                "protocol violation: the server answered BODY[2]<5> for UID 102, which was \
                 not asked for"
                    .to_string()
            )
        );
        assert_eq!(expected.refused.len(), 1);
        assert_eq!(
            expected.into_data(),
            vec![SectionData {
                uid: 103,
                section: "1".into(),
                data: b"fine".to_vec()
            }]
        );
    }

    #[test]
    fn requests_are_checked_before_anything_is_sent() {
        assert!(matches!(
            Expected::new(&[whole(1, "1]<0.5> (FLAGS")]),
            Err(Error::Config { .. })
        ));
        assert!(matches!(
            Expected::new(&[range(1, "2", 0, 10), range(1, "2", 0, 20)]),
            Err(Error::Config { .. })
        ));
        // The same request twice is one expectation; `02` is section 2.
        let mut expected = Expected::new(&[range(1, "02", 0, 10), range(1, "02", 0, 10)]).unwrap();
        expected
            .accept(&answer(1, &[2], Some(0), Some(b"x")))
            .unwrap();
        assert_eq!(expected.into_data().len(), 1);
    }

    #[test]
    fn binary_answers_match_binary_requests_only() {
        let binary = SectionRequest {
            binary: true,
            ..range(102, "2", 65536, 4)
        };
        let bin_answer = |index, data: &'static [u8]| {
            vec![
                AttributeValue::Uid(102),
                AttributeValue::BinarySection {
                    section: vec![2],
                    index,
                    data: Some(std::borrow::Cow::Borrowed(data)),
                },
            ]
        };
        let mut expected = Expected::new(std::slice::from_ref(&binary)).unwrap();
        expected
            .accept(&bin_answer(Some(65536), b"\0\x01\x02"))
            .unwrap();
        assert_eq!(expected.into_data()[0].data, b"\0\x01\x02");
        // A BODY answer to a BINARY request, another origin, too many bytes: refused.
        let mut expected = Expected::new(std::slice::from_ref(&binary)).unwrap();
        assert_eq!(
            reason(expected.accept(&answer(102, &[2], Some(65536), Some(b"x")))),
            "the server answered BODY[2]<65536> for UID 102, which was not asked for"
        );
        let mut expected = Expected::new(std::slice::from_ref(&binary)).unwrap();
        assert_eq!(
            reason(expected.accept(&bin_answer(Some(0), b"x"))),
            "the server answered BINARY[2]<0> for UID 102, which was not asked for"
        );
        let mut expected = Expected::new(std::slice::from_ref(&binary)).unwrap();
        assert_eq!(
            reason(expected.accept(&bin_answer(Some(65536), b"12345"))),
            "the server sent 5 bytes of BINARY[2]<65536> for UID 102 where at most 4 were asked"
        );
        // A BINARY answer to a BODY request.
        let mut expected = Expected::new(&[range(102, "2", 65536, 4)]).unwrap();
        assert_eq!(
            reason(expected.accept(&bin_answer(Some(65536), b"x"))),
            "the server answered BINARY[2]<65536> for UID 102, which was not asked for"
        );
        let (_, commands) = fetch_commands(&[binary]).unwrap();
        assert_eq!(
            commands,
            vec!["UID FETCH 102 (UID BINARY.PEEK[2]<65536.4>)".to_string()]
        );
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 12, 13, 14, 3]), "1:3,5,9,12:14");
        assert_eq!(uid_set(&[7]), "7");
    }
}
