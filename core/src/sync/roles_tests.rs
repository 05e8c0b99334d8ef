//! Tables of LIST results and the roles `assign` must give them.

use super::*;
use crate::imap::SpecialUse;

fn folder(name: &str, delimiter: &str) -> Folder {
    Folder {
        name: name.into(),
        delimiter: (!delimiter.is_empty()).then(|| delimiter.to_string()),
        selectable: true,
        subscribed: true,
        special_use: name
            .eq_ignore_ascii_case("INBOX")
            .then_some(SpecialUse::Inbox),
        status: None,
    }
}

fn with_use(name: &str, use_: SpecialUse) -> Folder {
    Folder {
        special_use: Some(use_),
        ..folder(name, "/")
    }
}

fn noselect(name: &str, delimiter: &str) -> Folder {
    Folder {
        selectable: false,
        ..folder(name, delimiter)
    }
}

/// The (name, role) pairs that got a role.
fn roles_of(folders: &[Folder]) -> Vec<(String, Role)> {
    folders
        .iter()
        .zip(assign(folders))
        .filter_map(|(f, r)| Some((f.name.clone(), r?)))
        .collect()
}

fn role_of(folders: &[Folder], name: &str) -> Option<Role> {
    let i = folders.iter().position(|f| f.name == name).unwrap();
    assign(folders)[i]
}

#[test]
fn single_names_in_many_languages() {
    let cases: &[(&str, Role)] = &[
        ("Sent", Role::Sent),
        ("Sent Items", Role::Sent),
        ("Sent Messages", Role::Sent),
        ("Gesendet", Role::Sent),
        ("Gesendete Elemente", Role::Sent),
        ("Envoyés", Role::Sent),
        ("Éléments envoyés", Role::Sent),
        ("Enviados", Role::Sent),
        ("Inviata", Role::Sent),
        ("Posta inviata", Role::Sent),
        ("Verzonden", Role::Sent),
        ("Skickat", Role::Sent),
        ("Wysłane", Role::Sent),
        ("Отправленные", Role::Sent),
        ("Drafts", Role::Drafts),
        ("Entwürfe", Role::Drafts),
        ("Brouillons", Role::Drafts),
        ("Borradores", Role::Drafts),
        ("Bozze", Role::Drafts),
        ("Concepten", Role::Drafts),
        ("Черновики", Role::Drafts),
        ("Trash", Role::Trash),
        ("Deleted Items", Role::Trash),
        ("Deleted Messages", Role::Trash),
        ("Bin", Role::Trash),
        ("Papierkorb", Role::Trash),
        ("Gelöschte Elemente", Role::Trash),
        ("Corbeille", Role::Trash),
        ("Éléments supprimés", Role::Trash),
        ("Papelera", Role::Trash),
        ("Cestino", Role::Trash),
        ("Prullenbak", Role::Trash),
        ("Kosz", Role::Trash),
        ("Корзина", Role::Trash),
        ("Junk", Role::Junk),
        ("Spam", Role::Junk),
        ("Junk E-mail", Role::Junk),
        ("Bulk Mail", Role::Junk),
        ("Spamverdacht", Role::Junk),
        ("Indésirables", Role::Junk),
        ("Correo no deseado", Role::Junk),
        ("Archive", Role::Archive),
        ("Archives", Role::Archive),
        ("Archiv", Role::Archive),
    ];
    for (name, role) in cases {
        let list = [folder("INBOX", "/"), folder(name, "/")];
        assert_eq!(role_of(&list, name), Some(*role), "{name}");
        // Case never matters, nor blanks around the name.
        let shouted = format!(" {} ", name.to_uppercase());
        let list = [folder("INBOX", "/"), folder(&shouted, "/")];
        assert_eq!(role_of(&list, &shouted), Some(*role), "{shouted}");
    }
}

#[test]
fn ordinary_folders_get_no_role() {
    let list = [
        folder("INBOX", "/"),
        folder("Projects", "/"),
        folder("Sentinel", "/"),
        folder("Trash can stories", "/"),
        folder("Receipts", "/"),
    ];
    assert_eq!(roles_of(&list), vec![("INBOX".into(), Role::Inbox)]);
}

#[test]
fn prefixes_and_delimiters() {
    // Courier/Cyrus style: everything under INBOX with a dot.
    let list = [
        folder("INBOX", "."),
        folder("INBOX.Sent", "."),
        folder("INBOX.Drafts", "."),
        folder("INBOX.Trash", "."),
        folder("INBOX.spam", "."),
        folder("INBOX.Archives", "."),
    ];
    assert_eq!(
        roles_of(&list),
        vec![
            ("INBOX".into(), Role::Inbox),
            ("INBOX.Sent".into(), Role::Sent),
            ("INBOX.Drafts".into(), Role::Drafts),
            ("INBOX.Trash".into(), Role::Trash),
            ("INBOX.spam".into(), Role::Junk),
            ("INBOX.Archives".into(), Role::Archive),
        ]
    );
    // Slash under INBOX, and a provider's bracketed container.
    let list = [
        folder("INBOX", "/"),
        folder("INBOX/Drafts", "/"),
        noselect("[Gmail]", "/"),
        folder("[Gmail]/Sent Mail", "/"),
        folder("[Google Mail]/Bin", "/"),
    ];
    assert_eq!(role_of(&list, "INBOX/Drafts"), Some(Role::Drafts));
    assert_eq!(role_of(&list, "[Gmail]/Sent Mail"), Some(Role::Sent));
    assert_eq!(role_of(&list, "[Google Mail]/Bin"), Some(Role::Trash));
    assert_eq!(role_of(&list, "[Gmail]"), None);
    // A non-selectable container, or one not listed, is a namespace too.
    let list = [
        folder("INBOX", "/"),
        noselect("Mail", "/"),
        folder("Mail/Sent", "/"),
        folder("Other/Trash", "/"),
    ];
    assert_eq!(role_of(&list, "Mail/Sent"), Some(Role::Sent));
    assert_eq!(role_of(&list, "Other/Trash"), Some(Role::Trash));
    // A flat namespace: no delimiter, the whole name is matched.
    let list = [folder("INBOX", ""), folder("Sent Items", "")];
    assert_eq!(role_of(&list, "Sent Items"), Some(Role::Sent));
}

#[test]
fn user_folders_named_like_roles_are_not_roles() {
    // `Projects` is a real, selectable folder: its Trash is the user's own.
    let list = [
        folder("INBOX", "/"),
        folder("Projects", "/"),
        folder("Projects/Trash", "/"),
        folder("a/b/Drafts", "/"),
        noselect("Drafts", "/"),
    ];
    assert_eq!(roles_of(&list), vec![("INBOX".into(), Role::Inbox)]);
}

#[test]
fn modified_utf7_names_are_decoded() {
    assert_eq!(
        decode_mutf7("&AMk-l&AOk-ments supprim&AOk-s").as_deref(),
        Some("Éléments supprimés")
    );
    assert_eq!(decode_mutf7("R&-D").as_deref(), Some("R&D"));
    assert_eq!(
        decode_mutf7("&BBoEPgRABDcEOAQ9BDA-").as_deref(),
        Some("Корзина")
    );
    assert_eq!(decode_mutf7("&kAFP4W4IMH8-").as_deref(), Some("送信済み"));
    // Not modified UTF-7: no end, a character outside the alphabet, half a UTF-16 unit.
    assert_eq!(decode_mutf7("&AMk"), None);
    assert_eq!(decode_mutf7("&A=k-"), None);
    assert_eq!(decode_mutf7("&AM-"), None);

    let list = [
        folder("INBOX", "."),
        folder("INBOX.&AMk-l&AOk-ments supprim&AOk-s", "."),
        folder("Entw&APw-rfe", "."),
        folder("Wys&AUI-ane", "."),
        folder("&kAFP4W4IMH8-", "."),
    ];
    let roles = roles_of(&list);
    assert_eq!(
        roles,
        vec![
            ("INBOX".into(), Role::Inbox),
            ("INBOX.&AMk-l&AOk-ments supprim&AOk-s".into(), Role::Trash),
            ("Entw&APw-rfe".into(), Role::Drafts),
            ("Wys&AUI-ane".into(), Role::Sent),
        ]
    );
    let list = [folder("INBOX", "."), folder("Gel&APY-schte Elemente", ".")];
    assert_eq!(role_of(&list, "Gel&APY-schte Elemente"), Some(Role::Trash));
}

#[test]
fn special_use_always_wins() {
    // The server calls "Papierkorb" its Trash: the folder named Trash is not the Trash.
    let list = [
        folder("INBOX", "/"),
        folder("Trash", "/"),
        with_use("Papierkorb", SpecialUse::Trash),
        folder("Drafts", "/"),
        // An attribute outranks a name that would mean something else.
        with_use("Spam", SpecialUse::Archive),
        folder("Junk", "/"),
    ];
    assert_eq!(
        roles_of(&list),
        vec![
            ("INBOX".into(), Role::Inbox),
            ("Papierkorb".into(), Role::Trash),
            ("Drafts".into(), Role::Drafts),
            ("Spam".into(), Role::Archive),
            ("Junk".into(), Role::Junk),
        ]
    );
}

#[test]
fn ties_are_broken_deterministically() {
    // Top level before INBOX-prefixed; the canonical English name before other names; then
    // the shorter; then by name. The order of the LIST does not matter.
    let mut list = vec![
        folder("INBOX", "/"),
        folder("INBOX/Trash", "/"),
        folder("Deleted Items", "/"),
        folder("Trash", "/"),
        folder("Sent Items", "/"),
        folder("Gesendet", "/"),
        folder("INBOX/Sent", "/"),
        folder("spam", "/"),
        folder("Spam", "/"),
        folder("Junk E-mail", "/"),
        folder("Bulk Mail", "/"),
    ];
    let expected = vec![
        ("INBOX".to_string(), Role::Inbox),
        ("Trash".to_string(), Role::Trash),
        ("Sent Items".to_string(), Role::Sent),
        ("Spam".to_string(), Role::Junk),
    ];
    let sorted = |mut v: Vec<(String, Role)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(roles_of(&list)), sorted(expected.clone()));
    list.reverse();
    assert_eq!(sorted(roles_of(&list)), sorted(expected));
    // Two names of equal rank and depth: the shorter wins.
    let list = [
        folder("INBOX", "."),
        folder("INBOX.Trash", "."),
        folder("[Mail].Trash", "."),
    ];
    assert_eq!(role_of(&list, "INBOX.Trash"), Some(Role::Trash));
    assert_eq!(role_of(&list, "[Mail].Trash"), None);
}

#[test]
fn the_table_names_each_name_once_in_lower_case() {
    let mut seen = std::collections::BTreeSet::new();
    for (role, names) in NAMES {
        for name in *names {
            assert_eq!(*name, name.to_lowercase(), "{name}");
            assert_eq!(*name, name.trim(), "{name}");
            assert!(seen.insert(*name), "{name} is listed twice ({role:?})");
        }
    }
}

#[test]
fn new_folders_follow_the_servers_style() {
    // Top level with the server's delimiter.
    let list = [folder("INBOX", "/"), folder("Projects", "/")];
    assert_eq!(
        new_folder_name(Role::Drafts, &list).as_deref(),
        Some("Drafts")
    );
    // Everything lives under INBOX: so does the new folder.
    let list = [
        folder("INBOX", "."),
        folder("INBOX.Sent", "."),
        folder("INBOX.Work", "."),
    ];
    assert_eq!(
        new_folder_name(Role::Trash, &list).as_deref(),
        Some("INBOX.Trash")
    );
    // Only INBOX: top level first; the caller retries under INBOX.
    let list = [folder("INBOX", ".")];
    assert_eq!(new_folder_name(Role::Sent, &list).as_deref(), Some("Sent"));
    assert_eq!(
        inbox_child(Role::Sent, &list).as_deref(),
        Some("INBOX.Sent")
    );
    // A flat namespace has no INBOX child.
    let list = [folder("INBOX", "")];
    assert_eq!(inbox_child(Role::Sent, &list), None);
    assert_eq!(new_folder_name(Role::Inbox, &list), None);
}
