//! Folder roles for a whole LIST: SPECIAL-USE where the server gives it, else from a table of
//! well-known names and their localised variants (the names Thunderbird, K-9 and FairEmail
//! recognise), and the name to give a role folder the account lacks. Pure functions: no
//! session, no store.
//!
//! Rules, in order:
//! 1. A SPECIAL-USE attribute always wins: a role any folder carries by SPECIAL-USE is never
//!    given to another folder by its name.
//! 2. A name matches when its last component (after the server's delimiter), decoded from
//!    modified UTF-7, equals a table name case-insensitively (Unicode lower case, surrounding
//!    blanks ignored). It may stand at the top level or one level under a namespace-like
//!    parent: `INBOX` (`INBOX.Sent`), a bracketed name (`[Gmail]/Sent Mail`), or a parent
//!    that is not selectable or not listed. `Projects/Trash` is a user's folder, not the
//!    Trash. Folders that cannot be selected get no role.
//! 3. When several folders match one role, the first by (depth, the name's place in the
//!    role's table, length, name) wins: top level before `INBOX.`, the canonical English
//!    name ("Sent") before the others ("Sent Items", "Gesendet"), then the shorter, then the
//!    name's bytes. The others get no role.
//!
//! This module must never decide anything the app overrode: overrides are applied by the
//! store over what is computed here.

use crate::{imap::Folder, store::Role};

use super::convert;

/// Well-known names per role, lower case, the canonical English name first. No name is
/// listed under two roles (a unit test checks).
const NAMES: &[(Role, &[&str])] = &[
    (
        Role::Sent,
        &[
            "sent",
            "sent items",
            "sent messages",
            "sent mail",
            "sent-mail",
            "gesendet",
            "gesendete elemente",
            "gesendete objekte",
            "gesendete nachrichten",
            "envoyés",
            "éléments envoyés",
            "messages envoyés",
            "enviados",
            "elementos enviados",
            "correo enviado",
            "mensajes enviados",
            "itens enviados",
            "mensagens enviadas",
            "inviata",
            "inviati",
            "posta inviata",
            "elementi inviati",
            "messaggi inviati",
            "verzonden",
            "verzonden items",
            "verzonden berichten",
            "skickat",
            "skickade",
            "skickade objekt",
            "skickade meddelanden",
            "sendt",
            "sendte elementer",
            "sendte meldinger",
            "lähetetyt",
            "lähetetyt kohteet",
            "wysłane",
            "elementy wysłane",
            "odeslané",
            "odeslaná pošta",
            "odeslané položky",
            "elküldött",
            "elküldött elemek",
            "elküldött üzenetek",
            "gönderilmiş öğeler",
            "gönderilenler",
            "отправленные",
            "отправленные элементы",
            "надіслані",
            "απεσταλμένα",
            "送信済み",
            "送信済みアイテム",
            "已发送",
            "已发送邮件",
            "寄件備份",
            "보낸 편지함",
        ],
    ),
    (
        Role::Drafts,
        &[
            "drafts",
            "draft",
            "entwürfe",
            "entwurf",
            "brouillons",
            "borradores",
            "bozze",
            "rascunhos",
            "concepten",
            "utkast",
            "kladder",
            "kladd",
            "luonnokset",
            "kopie robocze",
            "szkice",
            "koncepty",
            "piszkozatok",
            "taslaklar",
            "черновики",
            "чернетки",
            "πρόχειρα",
            "下書き",
            "草稿",
            "草稿箱",
            "임시 보관함",
        ],
    ),
    (
        Role::Trash,
        &[
            "trash",
            "deleted items",
            "deleted messages",
            "deleted",
            "bin",
            "papierkorb",
            "gelöschte elemente",
            "gelöschte objekte",
            "gelöschte nachrichten",
            "gelöscht",
            "corbeille",
            "éléments supprimés",
            "messages supprimés",
            "papelera",
            "elementos eliminados",
            "mensajes eliminados",
            "eliminados",
            "lixo",
            "lixeira",
            "itens excluídos",
            "itens eliminados",
            "cestino",
            "posta eliminata",
            "elementi eliminati",
            "prullenbak",
            "verwijderde items",
            "verwijderde berichten",
            "papperskorgen",
            "borttagna objekt",
            "papirkurv",
            "slettede elementer",
            "roskakori",
            "poistetut",
            "poistetut kohteet",
            "kosz",
            "elementy usunięte",
            "koš",
            "odstraněná pošta",
            "odstraněné položky",
            "kuka",
            "törölt elemek",
            "törölt üzenetek",
            "çöp kutusu",
            "silinmiş öğeler",
            "корзина",
            "удаленные",
            "удалённые",
            "удаленные элементы",
            "кошик",
            "видалені",
            "κάδος απορριμμάτων",
            "διεγραμμένα",
            "ゴミ箱",
            "削除済みアイテム",
            "已删除",
            "已删除邮件",
            "휴지통",
        ],
    ),
    (
        Role::Junk,
        &[
            "junk",
            "spam",
            "junk e-mail",
            "junk email",
            "junk mail",
            "bulk mail",
            "bulk",
            "spamverdacht",
            "junk-e-mail",
            "indésirables",
            "courrier indésirable",
            "pourriel",
            "correo no deseado",
            "no deseado",
            "posta indesiderata",
            "indesiderata",
            "lixo eletrônico",
            "ongewenste e-mail",
            "ongewenst",
            "skräppost",
            "uønsket e-mail",
            "søppelpost",
            "roskaposti",
            "wiadomości-śmieci",
            "niechciane",
            "nevyžádaná pošta",
            "levélszemét",
            "gereksiz",
            "istenmeyen",
            "спам",
            "нежелательная почта",
            "ανεπιθύμητα",
            "迷惑メール",
            "垃圾邮件",
            "스팸 메일함",
        ],
    ),
    (
        Role::Archive,
        &[
            "archive",
            "archives",
            "archiv",
            "archivo",
            "archivio",
            "arquivo",
            "archief",
            "arkiv",
            "arkisto",
            "archiwum",
            "archívum",
            "arşiv",
            "архив",
            "αρχείο",
            "アーカイブ",
            "归档",
            "存档",
        ],
    ),
];

/// The role of every folder of `folders` (the full LIST), in the same order.
pub fn assign(folders: &[Folder]) -> Vec<Option<Role>> {
    let mut roles: Vec<Option<Role>> = folders
        .iter()
        .map(|f| f.special_use.and_then(convert::role))
        .collect();
    for (role, _) in NAMES {
        if roles.contains(&Some(*role)) {
            continue; // SPECIAL-USE wins
        }
        let best = folders
            .iter()
            .enumerate()
            .filter(|(i, f)| roles[*i].is_none() && f.selectable)
            .filter_map(|(i, f)| {
                let (r, depth, rank) = by_name(f, folders)?;
                (r == *role).then_some(((depth, rank, f.name.len(), f.name.as_str()), i))
            })
            .min();
        if let Some((_, i)) = best {
            roles[i] = Some(*role);
        }
    }
    roles
}

/// The role `folder`'s name stands for, with its depth (0 top level, 1 under a prefix) and
/// its place in that role's table.
fn by_name(folder: &Folder, all: &[Folder]) -> Option<(Role, usize, usize)> {
    // Split the name as sent: modified base64 never holds a delimiter (`/`, `.`), and the
    // parent is compared with other names as sent.
    let name = folder.name.as_str();
    let (depth, leaf) = match folder.delimiter.as_deref().filter(|d| !d.is_empty()) {
        None => (0, name),
        Some(d) => {
            let mut parts = name.split(d);
            let first = parts.next()?;
            match (parts.next(), parts.next()) {
                (None, _) => (0, first),
                (Some(leaf), None) if namespace_like(first, all) => (1, leaf),
                _ => return None,
            }
        }
    };
    let decoded = decode_mutf7(leaf);
    let leaf = decoded.as_deref().unwrap_or(leaf).trim().to_lowercase();
    NAMES.iter().find_map(|(role, names)| {
        let rank = names.iter().position(|n| *n == leaf)?;
        Some((*role, depth, rank))
    })
}

/// Whether a top-level name `parent` is a namespace or a provider's container rather than a
/// user's folder: INBOX, `[Gmail]`-style brackets, or a parent that is not selectable or
/// not listed at all.
fn namespace_like(parent: &str, all: &[Folder]) -> bool {
    if parent.eq_ignore_ascii_case("INBOX") || (parent.starts_with('[') && parent.ends_with(']')) {
        return true;
    }
    all.iter()
        .find(|f| f.name == parent)
        .is_none_or(|f| !f.selectable)
}

/// Decodes a modified UTF-7 mailbox name; it lives in `imap` (IMAP URLs need it too).
pub use crate::imap::decode_mutf7;

/// The name to create a missing role folder under, in the server's style: with the
/// delimiter INBOX has, and under `INBOX<delimiter>` when every other folder lives there
/// (Courier and Cyrus-style servers); else at the top level. NAMESPACE is not asked (our
/// parser does not read it): a top-level CREATE the server refuses is retried under INBOX by
/// the caller ([`inbox_child`]).
pub fn new_folder_name(role: Role, folders: &[Folder]) -> Option<String> {
    let leaf = english(role)?;
    let delimiter = delimiter(folders);
    let under_inbox = delimiter.as_deref().is_some_and(|d| {
        let prefix = format!("INBOX{d}");
        let others: Vec<&Folder> = folders
            .iter()
            .filter(|f| !f.name.eq_ignore_ascii_case("INBOX"))
            .collect();
        !others.is_empty()
            && others.iter().all(|f| {
                f.name.len() > prefix.len()
                    && f.name.is_char_boundary(prefix.len())
                    && f.name[..prefix.len()].eq_ignore_ascii_case(&prefix)
            })
    });
    Some(match (under_inbox, delimiter) {
        (true, Some(d)) => format!("INBOX{d}{leaf}"),
        _ => leaf.to_string(),
    })
}

/// `INBOX<delimiter><leaf>` for a role, when the server has a delimiter: where a server that
/// keeps every folder under INBOX wants a new one.
pub fn inbox_child(role: Role, folders: &[Folder]) -> Option<String> {
    Some(format!("INBOX{}{}", delimiter(folders)?, english(role)?))
}

/// The server's hierarchy delimiter, as INBOX (else any folder) reports it.
pub fn delimiter(folders: &[Folder]) -> Option<String> {
    folders
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("INBOX"))
        .and_then(|f| f.delimiter.clone())
        .or_else(|| folders.iter().find_map(|f| f.delimiter.clone()))
        .filter(|d| !d.is_empty())
}

/// The English name of a role folder the engine creates.
fn english(role: Role) -> Option<&'static str> {
    Some(match role {
        Role::Sent => "Sent",
        Role::Drafts => "Drafts",
        Role::Trash => "Trash",
        Role::Junk => "Junk",
        Role::Archive => "Archive",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "roles_tests.rs"]
mod tests;
