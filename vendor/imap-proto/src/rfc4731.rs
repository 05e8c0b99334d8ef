//! RFC 4731 ESEARCH responses (Anvert patch).
//!
//! ```text
//! esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
//! search-correlator = SP "(" "TAG" SP tag-string ")"
//! search-return-data = "MIN" SP nz-number / "MAX" SP nz-number /
//!                      "ALL" SP sequence-set / "COUNT" SP number
//! ```
//! Unknown return data (e.g. MODSEQ n) is skipped as `name SP atom`.

use std::borrow::Cow;

use nom::{
    branch::alt,
    bytes::streaming::{tag, tag_no_case, take_while1},
    combinator::{map, opt},
    multi::many0,
    sequence::{delimited, preceded},
    IResult, Parser,
};

use crate::core::{number, number_64, quoted_utf8, sequence_set};
use crate::Response;

/// One `ESEARCH` response.
#[derive(Debug, Default, Eq, PartialEq, Clone)]
pub struct ESearch<'a> {
    pub tag: Option<Cow<'a, str>>,
    pub uid: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub count: Option<u32>,
    pub all: Option<Vec<std::ops::RangeInclusive<u32>>>,
    pub modseq: Option<u64>,
}

impl ESearch<'_> {
    pub fn into_owned(self) -> ESearch<'static> {
        ESearch {
            tag: self.tag.map(|t| Cow::Owned(t.into_owned())),
            uid: self.uid,
            min: self.min,
            max: self.max,
            count: self.count,
            all: self.all,
            modseq: self.modseq,
        }
    }
}

enum Item {
    Min(u32),
    Max(u32),
    Count(u32),
    All(Vec<std::ops::RangeInclusive<u32>>),
    ModSeq(u64),
    Other,
}

fn item(i: &[u8]) -> IResult<&[u8], Item> {
    preceded(
        tag(" "),
        alt((
            map(preceded(tag_no_case("MIN "), number), Item::Min),
            map(preceded(tag_no_case("MAX "), number), Item::Max),
            map(preceded(tag_no_case("COUNT "), number), Item::Count),
            map(preceded(tag_no_case("ALL "), sequence_set), Item::All),
            map(preceded(tag_no_case("MODSEQ "), number_64), Item::ModSeq),
            map(
                (
                    take_while1(|c: u8| c.is_ascii_alphanumeric() || c == b'-'),
                    tag(" "),
                    take_while1(|c: u8| c != b' ' && c != b'\r'),
                ),
                |_| Item::Other,
            ),
        )),
    )
    .parse(i)
}

pub(crate) fn resp_esearch(i: &[u8]) -> IResult<&[u8], Response<'_>> {
    let (rest, (_, tag_value, uid, items)) = (
        tag_no_case("ESEARCH"),
        opt(delimited(tag_no_case(" (TAG "), quoted_utf8, tag(")"))),
        opt(tag_no_case(" UID")),
        many0(item),
    )
        .parse(i)?;
    let mut es = ESearch {
        tag: tag_value,
        uid: uid.is_some(),
        ..ESearch::default()
    };
    for it in items {
        match it {
            Item::Min(n) => es.min = Some(n),
            Item::Max(n) => es.max = Some(n),
            Item::Count(n) => es.count = Some(n),
            Item::All(set) => es.all = Some(set),
            Item::ModSeq(m) => es.modseq = Some(m),
            Item::Other => {}
        }
    }
    Ok((rest, Response::ESearch(es)))
}
