//! RFC 4467 GENURLAUTH responses (Anvert patch).
//!
//! ```text
//! genurlauth-resp = "GENURLAUTH" 1*(SP url-full)   ; url-full is sent as an astring
//! ```
//! The URLs are bytes, not `str`: a hostile server may send anything, and the caller checks
//! each against the URL it asked for. They carry an access token: never log them.

use std::borrow::Cow;

use nom::{
    bytes::streaming::{tag, tag_no_case},
    combinator::map,
    multi::many1,
    sequence::preceded,
    IResult, Parser,
};

use crate::core::astring;
use crate::Response;

pub(crate) fn resp_genurlauth(i: &[u8]) -> IResult<&[u8], Response<'_>> {
    map(
        preceded(
            tag_no_case("GENURLAUTH"),
            many1(preceded(tag(" "), astring)),
        ),
        |urls| Response::GenUrlAuth(urls.into_iter().map(Cow::Borrowed).collect()),
    )
    .parse(i)
}
