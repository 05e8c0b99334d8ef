//! Fuzz-ish tests: seeded random bytes, and random mixtures of the tokens the decoders look
//! for, fed to every public function. They pass when nothing panics and the documented
//! bounds hold.

use std::borrow::Cow;

use imap_proto::{
    AttributeValue, BodyContentCommon, BodyContentSinglePart, BodyStructure, ContentDisposition,
    ContentEncoding, ContentType, Envelope, Response,
};

use super::*;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        (0..self.below(max)).map(|_| self.next() as u8).collect()
    }
    /// A mixture of tokens that matter to the decoders, and random bytes.
    fn tokens(&mut self, max: usize) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"=?",
            b"?=",
            b"?B?",
            b"?q?",
            b"utf-8",
            b"koi8-r",
            b"iso-2022-jp",
            b"*",
            b"'",
            b"%",
            b"%C3",
            b"%zz",
            b"<",
            b">",
            b"@",
            b"\r\n",
            b"\n ",
            b" ",
            b"\t",
            b"..",
            b"/",
            b"\\",
            b".",
            b"\0",
            b"\x1b",
            b"\xff",
            b"\xc3",
            b"\xe2\x80\xae",
            b"AAAA",
            b"====",
            b"-",
            b":",
            b"+0000",
            b"Jul",
            b"1996",
            b"31",
            b"(",
            b")",
        ];
        let mut out = Vec::new();
        for _ in 0..self.below(max) {
            match self.below(3) {
                0 => out.push(self.next() as u8),
                _ => out.extend_from_slice(TOKENS[self.below(TOKENS.len())]),
            }
        }
        out
    }
}

#[test]
fn header_functions_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let raw = if round % 2 == 0 {
            rng.bytes(200)
        } else {
            rng.tokens(60)
        };
        let text = decode_header_text(&raw);
        assert!(
            !text.contains('\n') || raw.contains(&b'?'),
            "line breaks only from decoded words"
        );
        let _ = message_id(Some(&raw));
        for id in references(&raw) {
            assert!(!id.is_empty() && !id.chars().any(char::is_whitespace));
        }
        let lossy = String::from_utf8_lossy(&raw);
        let _ = parse_internal_date(&lossy);
        let _ = parse_header_date(&raw);
        let safe = safe_file_name(&lossy);
        assert!(
            !safe.contains(['/', '\\'])
                && !safe.starts_with('.')
                && !safe.chars().any(char::is_control),
            "{lossy:?} → {safe:?}"
        );
        assert!(!safe.is_empty() && safe.len() <= 200);
        assert!(!safe.ends_with(['.', ' ']), "{lossy:?} → {safe:?}");
        assert!(
            !safe.contains(['/', '\\'])
                && !safe.starts_with('.')
                && !safe.chars().any(char::is_control)
        );
    }
}

#[test]
fn dates_near_valid_never_panic() {
    let mut rng = Rng(42);
    let base = b"17-Jul-1996 02:44:25 -0700";
    for _ in 0..20_000 {
        let mut s = base.to_vec();
        for _ in 0..=rng.below(4) {
            if s.is_empty() {
                break;
            }
            let at = rng.below(s.len());
            match rng.below(3) {
                0 => s[at] = b"0123456789 -+:9"[rng.below(15)],
                1 => s.truncate(at),
                _ => s.insert(at, rng.next() as u8),
            }
        }
        let text = String::from_utf8_lossy(&s);
        if let Some(t) = parse_internal_date(&text) {
            assert!((-100_000_000_000..300_000_000_000).contains(&t));
        }
        let _ = parse_header_date(&s);
    }
}

fn random_str(rng: &mut Rng) -> Cow<'static, str> {
    Cow::Owned(String::from_utf8_lossy(&rng.tokens(12)).into_owned())
}

fn random_params(rng: &mut Rng) -> Option<Vec<(Cow<'static, str>, Cow<'static, str>)>> {
    const KEYS: &[&str] = &[
        "charset",
        "name",
        "name*",
        "name*0*",
        "name*1",
        "NAME*2*",
        "filename",
        "filename*",
        "filename*0*",
    ];
    (rng.below(4) > 0).then(|| {
        (0..rng.below(5))
            .map(|_| {
                let key = match rng.below(3) {
                    0 => random_str(rng),
                    _ => Cow::Borrowed(KEYS[rng.below(KEYS.len())]),
                };
                (key, random_str(rng))
            })
            .collect()
    })
}

fn random_common(rng: &mut Rng, ty: &'static str) -> BodyContentCommon<'static> {
    BodyContentCommon {
        ty: ContentType {
            ty: Cow::Borrowed(ty),
            subtype: random_str(rng),
            params: random_params(rng),
        },
        disposition: (rng.below(2) == 0).then(|| ContentDisposition {
            ty: random_str(rng),
            params: random_params(rng),
        }),
        language: None,
        location: (rng.below(4) == 0).then(|| random_str(rng)),
    }
}

fn random_single(rng: &mut Rng) -> BodyContentSinglePart<'static> {
    BodyContentSinglePart {
        id: (rng.below(2) == 0).then(|| random_str(rng)),
        md5: None,
        description: None,
        transfer_encoding: ContentEncoding::Other(random_str(rng)),
        octets: rng.next() as u32,
    }
}

/// A random tree, at most `depth` levels, with every kind of node.
fn random_tree(rng: &mut Rng, depth: usize) -> BodyStructure<'static> {
    let kind = if depth == 0 {
        rng.below(2)
    } else {
        rng.below(4)
    };
    match kind {
        0 => BodyStructure::Basic {
            common: random_common(rng, "application"),
            other: random_single(rng),
            extension: None,
        },
        1 => BodyStructure::Text {
            common: random_common(rng, "TEXT"),
            other: random_single(rng),
            lines: 3,
            extension: None,
        },
        2 => BodyStructure::Message {
            common: random_common(rng, "MESSAGE"),
            other: random_single(rng),
            envelope: Envelope {
                date: None,
                subject: None,
                from: None,
                sender: None,
                reply_to: None,
                to: None,
                cc: None,
                bcc: None,
                in_reply_to: None,
                message_id: None,
            },
            body: Box::new(random_tree(rng, depth - 1)),
            lines: 1,
            extension: None,
        },
        _ => BodyStructure::Multipart {
            common: random_common(rng, "MULTIPART"),
            bodies: (0..=rng.below(4))
                .map(|_| random_tree(rng, depth - 1))
                .collect(),
            extension: None,
        },
    }
}

#[test]
fn random_structures_give_bounded_well_numbered_parts() {
    let mut rng = Rng(7);
    for _ in 0..3_000 {
        let depth = 1 + rng.below(40);
        let tree = random_tree(&mut rng, depth);
        let parts = parts_from_bodystructure(&tree);
        assert!(parts.len() <= MAX_PARTS);
        for part in &parts {
            let numbers: Vec<&str> = part.section.split('.').collect();
            assert!(numbers.len() <= MAX_DEPTH + 1, "{}", part.section);
            assert!(
                numbers
                    .iter()
                    .all(|n| n.parse::<u32>().is_ok_and(|n| n > 0)),
                "{}",
                part.section
            );
            assert_eq!(part.mime_type, part.mime_type.to_ascii_lowercase());
        }
        let mut sections: Vec<&str> = parts.iter().map(|p| p.section.as_str()).collect();
        let count = sections.len();
        sections.sort_unstable();
        sections.dedup();
        assert_eq!(sections.len(), count, "sections are unique");
    }
}

#[test]
fn mutated_bodystructure_responses_never_panic() {
    let seed = br#"* 1 FETCH (BODYSTRUCTURE ((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)("APPLICATION" "PDF" ("NAME" "=?utf-8?Q?a=C3=A9?=") "<c@d>" NIL "BASE64" 20 NIL ("ATTACHMENT" ("FILENAME*0*" "utf-8''%C3%A9" "FILENAME*1" "b")) NIL NIL) "MIXED" ("BOUNDARY" "x") NIL NIL NIL)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 30 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "HTML" NIL NIL NIL "8BIT" 5 1 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "y") NIL NIL NIL))"#;
    let mut rng = Rng(99);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut line = seed.to_vec();
        for _ in 0..=rng.below(3) {
            let at = 26 + rng.below(line.len() - 26);
            match rng.below(3) {
                0 => line[at] = b"()\" 0129%*'=?\\\xc3"[rng.below(15)],
                1 => {
                    line.remove(at);
                }
                _ => line.insert(at, rng.next() as u8),
            }
        }
        line.extend_from_slice(b"\r\n");
        if let Ok((_, Response::Fetch(_, attrs))) = Response::parse(&line) {
            for attr in &attrs {
                if let AttributeValue::BodyStructure(bs) = attr {
                    parsed += 1;
                    for part in parts_from_bodystructure(bs) {
                        let _ = safe_file_name(part.filename.as_deref().unwrap_or_default());
                    }
                }
            }
        }
    }
    assert!(
        parsed > 100,
        "the mutations should keep some responses parseable ({parsed})"
    );
}
