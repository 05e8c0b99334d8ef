use nom::{
    branch::alt,
    bytes::streaming::{tag, tag_no_case},
    character::streaming::char,
    combinator::{map, opt},
    multi::many0,
    sequence::{delimited, preceded},
    IResult, Parser,
};
use std::borrow::Cow;

use crate::core::*;
use crate::rfc3501::AttributeValue;

pub fn section_part(i: &[u8]) -> IResult<&[u8], Vec<u32>> {
    let (i, (part, mut rest)) = (number, many0(preceded(char('.'), number))).parse(i)?;
    rest.insert(0, part);
    Ok((i, rest))
}

pub fn section_msgtext(i: &[u8]) -> IResult<&[u8], MessageSection> {
    alt((
        map(
            (
                tag_no_case("HEADER.FIELDS"),
                opt(tag_no_case(".NOT")),
                tag(" "),
                parenthesized_list(astring),
            ),
            |_| MessageSection::Header,
        ),
        map(tag_no_case("HEADER"), |_| MessageSection::Header),
        map(tag_no_case("TEXT"), |_| MessageSection::Text),
    ))
    .parse(i)
}

#[derive(Debug, Eq, PartialEq)]
pub enum MessageSection {
    Header,
    Mime,
    Text,
}

impl MessageSection {
    pub fn parse(i: &[u8]) -> IResult<&[u8], Self> {
        alt((
            section_msgtext,
            map(tag_no_case("MIME"), |_| MessageSection::Mime),
        ))
        .parse(i)
    }
}

#[derive(Debug, Eq, PartialEq)]
pub enum SectionPath {
    Full(MessageSection),
    Part(Vec<u32>, Option<MessageSection>),
}

impl SectionPath {
    pub fn parse(i: &[u8]) -> IResult<&[u8], Self> {
        alt((
            map(section_msgtext, SectionPath::Full),
            map(
                (
                    section_part,
                    opt(preceded(char('.'), MessageSection::parse)),
                ),
                |(part, text)| SectionPath::Part(part, text),
            ),
        ))
        .parse(i)
    }
}

pub fn section(i: &[u8]) -> IResult<&[u8], Option<SectionPath>> {
    delimited(char('['), opt(SectionPath::parse), char(']')).parse(i)
}

pub fn msg_att_body_section(i: &[u8]) -> IResult<&[u8], AttributeValue<'_>> {
    map(
        (
            tag_no_case("BODY"),
            section,
            opt(delimited(char('<'), number, char('>'))),
            tag(" "),
            nstring,
        ),
        |(_, section, index, _, data)| AttributeValue::BodySection {
            section,
            index,
            data: data.map(Cow::Borrowed),
        },
    )
    .parse(i)
}

/// Anvert patch (RFC 3516): `section-binary = "[" [section-part] "]"`.
fn section_binary(i: &[u8]) -> IResult<&[u8], Vec<u32>> {
    map(delimited(char('['), opt(section_part), char(']')), |p| {
        p.unwrap_or_default()
    })
    .parse(i)
}

/// Anvert patch (RFC 3516):
/// `"BINARY" section-binary ["<" number ">"] SP (nstring / literal8)`.
pub fn msg_att_binary_section(i: &[u8]) -> IResult<&[u8], AttributeValue<'_>> {
    map(
        (
            tag_no_case("BINARY"),
            section_binary,
            opt(delimited(char('<'), number, char('>'))),
            tag(" "),
            alt((map(literal8, Some), nstring)),
        ),
        |(_, section, index, _, data)| AttributeValue::BinarySection {
            section,
            index,
            data: data.map(Cow::Borrowed),
        },
    )
    .parse(i)
}

/// Anvert patch (RFC 3516): `"BINARY.SIZE" section-binary SP number`.
pub fn msg_att_binary_size(i: &[u8]) -> IResult<&[u8], AttributeValue<'_>> {
    map(
        (
            tag_no_case("BINARY.SIZE"),
            section_binary,
            tag(" "),
            number_64,
        ),
        |(_, section, _, size)| AttributeValue::BinarySize { section, size },
    )
    .parse(i)
}

#[cfg(test)]
mod binary_tests {
    use super::*;

    #[test]
    fn binary_sections_parse_with_literal8_literal_and_nil() {
        let (rest, v) = msg_att_binary_section(b"BINARY[2]<65536> ~{3}\r\na\x00b)").unwrap();
        assert_eq!(rest, b")");
        assert_eq!(
            v,
            AttributeValue::BinarySection {
                section: vec![2],
                index: Some(65536),
                data: Some(Cow::Borrowed(&b"a\x00b"[..])),
            }
        );
        let (_, v) = msg_att_binary_section(b"BINARY[1.2] {2}\r\nhi)").unwrap();
        assert!(
            matches!(v, AttributeValue::BinarySection { ref section, index: None, .. } if section == &vec![1, 2])
        );
        let (_, v) = msg_att_binary_section(b"BINARY[3]<0> NIL)").unwrap();
        assert!(matches!(
            v,
            AttributeValue::BinarySection { data: None, .. }
        ));
        let (_, v) = msg_att_binary_section(b"BINARY[] \"\")").unwrap();
        assert!(
            matches!(v, AttributeValue::BinarySection { ref section, .. } if section.is_empty())
        );
        let (_, v) = msg_att_binary_size(b"BINARY.SIZE[2] 1234567)").unwrap();
        assert_eq!(
            v,
            AttributeValue::BinarySize {
                section: vec![2],
                size: 1234567
            }
        );
        // An incomplete literal8 asks for more input.
        assert!(matches!(
            msg_att_binary_section(b"BINARY[2]<0> ~{10}\r\nabc"),
            Err(nom::Err::Incomplete(_))
        ));
    }
}
