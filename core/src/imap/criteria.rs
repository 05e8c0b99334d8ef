//! A server search query (text, from, to, subject, a date range, flags) and its translation
//! into `UID SEARCH` criteria (RFC 3501 §6.4.4, RFC 4731 ESEARCH, RFC 6203 FUZZY). The
//! query is checked before anything is rendered, so nothing malformed ever reaches the
//! wire: an empty query, unbalanced quotes in the text, control characters and oversized
//! input are refused with [`Error::InvalidQuery`]. ASCII strings go out as quoted strings
//! (with `"` and `\` escaped); non-ASCII ones as non-synchronizing literals (`{n+}`, LITERAL+
//! or LITERAL- within its 4096-byte bound) behind `CHARSET UTF-8`. A server without either
//! literal form gets [`Error::Unsupported`] rather than a synchronizing literal the session
//! cannot pipeline. Pure: no I/O, no store.

use crate::error::{Error, Result};

/// The longest text a query field may hold, in bytes.
pub const QUERY_FIELD_MAX: usize = 1024;

/// A flag condition: the message must have the flag (`Some(true)`), must not have it
/// (`Some(false)`), or either (`None`).
pub type FlagCondition = Option<bool>;

/// What to search for on the server. Every field given must match (AND). `text` is split
/// into words and "quoted phrases", each of which must occur somewhere in the message
/// (headers or body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    /// Messages whose INTERNALDATE is on or after this day (Unix seconds, UTC day).
    pub since: Option<i64>,
    /// Messages whose INTERNALDATE is before this day (Unix seconds, UTC day).
    pub before: Option<i64>,
    pub seen: FlagCondition,
    pub flagged: FlagCondition,
    pub answered: FlagCondition,
    pub draft: FlagCondition,
    pub deleted: FlagCondition,
    /// Ask for fuzzy matching (RFC 6203) where the server offers SEARCH=FUZZY; ignored
    /// elsewhere.
    pub fuzzy: bool,
}

/// The capabilities that shape a rendered search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchSupport {
    pub esearch: bool,
    pub literal_plus: bool,
    pub literal_minus: bool,
    pub fuzzy: bool,
}

/// A checked query, ready to render: its criteria atoms and strings in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    items: Vec<Item>,
    needs_utf8: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Atom(&'static str),
    /// A search key followed by a string argument (`TEXT "x"`).
    Keyed(&'static str, String),
    Date(&'static str, String),
}

fn invalid(reason: &str) -> Error {
    Error::InvalidQuery {
        reason: reason.to_string(),
    }
}

/// Refuses control characters (CR and LF would end the command; others have no place in a
/// search term) and oversized input.
fn checked(field: &str, value: &str) -> Result<String> {
    if value.len() > QUERY_FIELD_MAX {
        return Err(Error::InvalidQuery {
            reason: format!("the {field} is longer than {QUERY_FIELD_MAX} bytes"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidQuery {
            reason: format!("the {field} contains a control character"),
        });
    }
    Ok(value.trim().to_string())
}

/// Words and "quoted phrases" of the free text. Unbalanced quotes are refused.
fn terms(text: &str) -> Result<Vec<String>> {
    if text.matches('"').count() % 2 == 1 {
        return Err(invalid("the text has an unbalanced quote"));
    }
    let mut out = Vec::new();
    for (i, piece) in text.split('"').enumerate() {
        if i % 2 == 1 {
            let phrase = piece.split_whitespace().collect::<Vec<_>>().join(" ");
            if !phrase.is_empty() {
                out.push(phrase);
            }
        } else {
            out.extend(piece.split_whitespace().map(str::to_string));
        }
    }
    Ok(out)
}

/// `d-Mon-yyyy` (RFC 3501 `date`) of the UTC day holding `secs`.
fn imap_date(secs: i64) -> Result<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1..=9999).contains(&year) {
        return Err(invalid("a date is out of range"));
    }
    let name = usize::try_from(month - 1)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .ok_or_else(|| invalid("a date is out of range"))?;
    Ok(format!("{day}-{name}-{year}"))
}

impl SearchQuery {
    /// Checks the query and turns it into criteria. Refuses a query with no condition at
    /// all (it would list the whole folder).
    pub fn criteria(&self) -> Result<Criteria> {
        let mut items = Vec::new();
        if let Some(text) = &self.text {
            for term in terms(&checked("text", text)?)? {
                items.push(Item::Keyed("TEXT", term));
            }
        }
        for (key, field, value) in [
            ("FROM", "sender", &self.from),
            ("TO", "recipient", &self.to),
            ("SUBJECT", "subject", &self.subject),
        ] {
            if let Some(value) = value {
                let value = checked(field, value)?;
                if value.contains('"') && value.matches('"').count() % 2 == 1 {
                    return Err(Error::InvalidQuery {
                        reason: format!("the {field} has an unbalanced quote"),
                    });
                }
                let value = value.replace('"', "");
                let value = value.trim();
                if !value.is_empty() {
                    items.push(Item::Keyed(key, value.to_string()));
                }
            }
        }
        if let (Some(since), Some(before)) = (self.since, self.before)
            && before <= since
        {
            return Err(invalid(
                "the date range is empty (before is not after since)",
            ));
        }
        if let Some(since) = self.since {
            items.push(Item::Date("SINCE", imap_date(since)?));
        }
        if let Some(before) = self.before {
            items.push(Item::Date("BEFORE", imap_date(before)?));
        }
        for (condition, yes, no) in [
            (self.seen, "SEEN", "UNSEEN"),
            (self.flagged, "FLAGGED", "UNFLAGGED"),
            (self.answered, "ANSWERED", "UNANSWERED"),
            (self.draft, "DRAFT", "UNDRAFT"),
            (self.deleted, "DELETED", "UNDELETED"),
        ] {
            match condition {
                Some(true) => items.push(Item::Atom(yes)),
                Some(false) => items.push(Item::Atom(no)),
                None => {}
            }
        }
        if items.is_empty() {
            return Err(invalid("the query is empty"));
        }
        let needs_utf8 = items
            .iter()
            .any(|i| matches!(i, Item::Keyed(_, s) if !s.is_ascii()));
        Ok(Criteria { items, needs_utf8 })
    }
}

impl Criteria {
    /// Whether a string needs `CHARSET UTF-8`.
    pub fn needs_utf8(&self) -> bool {
        self.needs_utf8
    }

    /// The `UID SEARCH` command (without tag): `RETURN (ALL)` with ESEARCH, `FUZZY` on each
    /// string key where offered and asked for.
    pub fn render(&self, support: SearchSupport, fuzzy: bool) -> Result<String> {
        let mut out = String::from("UID SEARCH");
        if support.esearch {
            out.push_str(" RETURN (ALL)");
        }
        if self.needs_utf8 {
            out.push_str(" CHARSET UTF-8");
        }
        for item in &self.items {
            out.push(' ');
            match item {
                Item::Atom(a) => out.push_str(a),
                Item::Date(key, date) => {
                    out.push_str(key);
                    out.push(' ');
                    out.push_str(date);
                }
                Item::Keyed(key, value) => {
                    if fuzzy && support.fuzzy {
                        out.push_str("FUZZY ");
                    }
                    out.push_str(key);
                    out.push(' ');
                    out.push_str(&string(value, support)?);
                }
            }
        }
        Ok(out)
    }
}

/// An IMAP string: quoted when ASCII, else a non-synchronizing literal.
fn string(value: &str, support: SearchSupport) -> Result<String> {
    if value.is_ascii() {
        let mut out = String::with_capacity(value.len() + 2);
        out.push('"');
        for c in value.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        return Ok(out);
    }
    let len = value.len();
    if support.literal_plus || (support.literal_minus && len <= 4096) {
        Ok(format!("{{{len}+}}\r\n{value}"))
    } else {
        Err(Error::Unsupported {
            what: "searching for non-ASCII text on a server without LITERAL+",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> SearchSupport {
        SearchSupport {
            esearch: true,
            literal_plus: true,
            literal_minus: false,
            fuzzy: false,
        }
    }

    fn render(q: &SearchQuery) -> Result<String> {
        q.criteria()?.render(all(), q.fuzzy)
    }

    #[test]
    fn fields_render_as_quoted_criteria() {
        let q = SearchQuery {
            text: Some(r#"invoice "due date" a\b"#.into()),
            from: Some("bob@example.com".into()),
            since: Some(1_700_000_000),
            before: Some(1_700_000_000 + 86_400 * 3),
            seen: Some(false),
            flagged: Some(true),
            ..SearchQuery::default()
        };
        assert_eq!(
            render(&q).unwrap(),
            r#"UID SEARCH RETURN (ALL) TEXT "invoice" TEXT "due date" TEXT "a\\b" FROM "bob@example.com" SINCE 14-Nov-2023 BEFORE 17-Nov-2023 UNSEEN FLAGGED"#
        );
        let plain = q
            .criteria()
            .unwrap()
            .render(SearchSupport::default(), false)
            .unwrap();
        assert!(plain.starts_with("UID SEARCH TEXT "), "{plain}");
    }

    #[test]
    fn non_ascii_goes_as_a_literal_behind_charset() {
        let q = SearchQuery {
            subject: Some("Grüße".into()),
            ..SearchQuery::default()
        };
        assert_eq!(
            render(&q).unwrap(),
            "UID SEARCH RETURN (ALL) CHARSET UTF-8 SUBJECT {7+}\r\nGrüße"
        );
        let without = q
            .criteria()
            .unwrap()
            .render(SearchSupport::default(), false);
        assert!(matches!(without, Err(Error::Unsupported { .. })));
    }

    #[test]
    fn fuzzy_only_where_offered() {
        let q = SearchQuery {
            subject: Some("x".into()),
            fuzzy: true,
            ..SearchQuery::default()
        };
        assert_eq!(
            render(&q).unwrap(),
            r#"UID SEARCH RETURN (ALL) SUBJECT "x""#
        );
        let fuzzy = SearchSupport {
            fuzzy: true,
            ..all()
        };
        assert_eq!(
            q.criteria().unwrap().render(fuzzy, true).unwrap(),
            r#"UID SEARCH RETURN (ALL) FUZZY SUBJECT "x""#
        );
    }

    #[test]
    fn bad_queries_are_refused() {
        let bad = [
            SearchQuery::default(),
            SearchQuery {
                text: Some("   ".into()),
                ..SearchQuery::default()
            },
            SearchQuery {
                text: Some(r#"say "hello"#.into()),
                ..SearchQuery::default()
            },
            SearchQuery {
                subject: Some("a\r\nb".into()),
                ..SearchQuery::default()
            },
            SearchQuery {
                from: Some("a\u{0}".into()),
                ..SearchQuery::default()
            },
            SearchQuery {
                text: Some("x".repeat(QUERY_FIELD_MAX + 1)),
                ..SearchQuery::default()
            },
            SearchQuery {
                since: Some(200_000),
                before: Some(100_000),
                ..SearchQuery::default()
            },
        ];
        for q in bad {
            assert!(
                matches!(q.criteria(), Err(Error::InvalidQuery { .. })),
                "{q:?}"
            );
        }
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(imap_date(0).unwrap(), "1-Jan-1970");
        assert_eq!(imap_date(951_782_400).unwrap(), "29-Feb-2000");
        assert_eq!(imap_date(-1).unwrap(), "31-Dec-1969");
    }
}
