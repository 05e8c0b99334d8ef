//! A window's column texts and thread keys, made before its write transaction.
//!
//! A header sync reads window N+1 while window N commits, and the commit is the longer of the
//! two (issue 19: at 100,000 messages the commits took 3.2 s of a 3.9 s sync, the reading
//! side waited for them 0.7-0.9 s). What a write needs that depends on the messages alone
//! (the JSON of the address lists, keywords, references and parts, the search index's
//! address text, and the SHA-256 keys of the Message-IDs for threading) is made here, on the
//! reading side ([`Prepared::new`]); the transaction only binds and inserts. Callers that
//! write without preparing get the same work done inside the write.

use super::{
    json,
    messages::{Address, NewMessage},
    threads,
};
use crate::Result;

/// The prepared form of a batch of messages, in the batch's order ([`Store::insert_prepared_window`]).
///
/// [`Store::insert_prepared_window`]: super::Store::insert_prepared_window
pub struct Prepared {
    /// One per message of the batch it was made from (its length is checked against the
    /// batch it is written with).
    pub(super) encoded: Vec<Encoded>,
    /// Each message's thread link keys (`threads::ids_of`).
    pub(super) keys: Vec<Vec<i64>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("messages", &self.encoded.len())
            .finish()
    }
}

impl Prepared {
    /// Encodes every message of `messages`. Fails as the write would: on a part whose section
    /// is not an IMAP part number.
    pub fn new(messages: &[NewMessage]) -> Result<Prepared> {
        Ok(Prepared {
            encoded: messages.iter().map(Encoded::new).collect::<Result<_>>()?,
            keys: threads::keys_of(messages),
        })
    }
}

/// The JSON list columns of one message, encoded once.
#[derive(Default)]
pub(super) struct Encoded {
    pub(super) keywords: String,
    pub(super) addresses: [String; 6],
    pub(super) references: String,
    /// The `parts` column (migration 0020).
    pub(super) parts: String,
    /// The search index's `addresses` text: what the 0001 trigger built with SQL.
    pub(super) search: Option<String>,
}

/// An address list column's text, as `codec::AddressList` serializes it:
/// `[[name-or-null, email], ...]`.
fn address_list(list: &[Address]) -> String {
    let bytes = list
        .iter()
        .map(|a| a.email.len() + a.name.as_ref().map_or(4, String::len) + 8)
        .sum::<usize>();
    let mut out = json::Array::with_capacity(bytes + 2);
    for a in list {
        out.array(|pair| {
            pair.opt_str(a.name.as_deref());
            pair.str(&a.email);
        });
    }
    out.end()
}

impl Encoded {
    pub(super) fn new(message: &NewMessage) -> Result<Encoded> {
        let lists = [
            &message.from,
            &message.sender,
            &message.reply_to,
            &message.to,
            &message.cc,
            &message.bcc,
        ];
        let mut addresses: [String; 6] = Default::default();
        for (out, list) in addresses.iter_mut().zip(lists) {
            *out = address_list(list);
        }
        Ok(Encoded {
            keywords: json::strings(&message.flags.keywords),
            addresses,
            references: json::strings(&message.references),
            parts: super::parts::encode(&message.parts)?,
            search: search_addresses(lists),
        })
    }
}

/// The text the search index holds for a message's addresses: each address as
/// `concat_ws(' ', name, email)`, all of them (From, Sender, Reply-To, To, Cc, Bcc, in order)
/// joined by spaces; `None` for none, as `group_concat` over no rows gives NULL.
fn search_addresses(lists: [&Vec<Address>; 6]) -> Option<String> {
    // Sized once: grown from empty, the text was reallocated a few times a message.
    let bytes = lists
        .iter()
        .flat_map(|list| list.iter())
        .map(|a| a.email.len() + a.name.as_ref().map_or(0, |n| n.len() + 1) + 1)
        .sum::<usize>();
    let mut text: Option<String> = None;
    for address in lists.into_iter().flatten() {
        let out = match &mut text {
            Some(out) => {
                out.push(' ');
                out
            }
            None => text.insert(String::with_capacity(bytes)),
        };
        if let Some(name) = &address.name {
            out.push_str(name);
            out.push(' ');
        }
        out.push_str(&address.email);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_addresses_match_the_sql_form() {
        let a = |name: Option<&str>, email: &str| Address {
            name: name.map(str::to_string),
            email: email.to_string(),
        };
        let from = vec![a(Some("Ann Lee"), "ann@x.org")];
        let to = vec![a(None, "bob@y.org"), a(Some(""), "c@z.org")];
        let none = Vec::new();
        assert_eq!(
            search_addresses([&from, &none, &none, &to, &none, &none]).as_deref(),
            Some("Ann Lee ann@x.org bob@y.org  c@z.org")
        );
        assert_eq!(
            search_addresses([&none, &none, &none, &none, &none, &none]),
            None
        );
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn address_lists_are_written_as_serde_json_wrote_them() {
        let a = |name: Option<&str>, email: &str| Address {
            name: name.map(str::to_string),
            email: email.to_string(),
        };
        let lists = [
            vec![],
            vec![a(Some("Zoë \"Z\" Ünal"), "z@x.org")],
            vec![
                a(None, "b@y.org"),
                a(Some(""), "c\\d@z.org"),
                a(Some("t\tab"), "e@f"),
            ],
        ];
        for list in lists {
            assert_eq!(
                address_list(&list),
                serde_json::to_string(&super::super::codec::AddressList(&list)).unwrap()
            );
        }
    }
}
