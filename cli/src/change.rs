//! Changing mail: flags, moves, deletions, emptying the trash and saving drafts. Each change
//! is applied to the store at once by the engine and queued; it reaches the server on the
//! next `anvert sync`, or at once with `--now` (a sync, whose write-back runs first).
//! `pending` shows the queue (parked rows included) and `retry` unparks it.

use anvert_core::{
    engine::{Draft, Engine},
    policy::{NetworkKind, SyncRequest},
    store::{AccountId, Address, Flags, MessageId, SystemFlags},
};
use serde_json::{Value, json};

use crate::{accounts, doc, exit, output::out, read};

/// One `[+-]NAME` of `anvert flag`: the flags to set and to clear.
pub fn parse_flags(specs: &[String]) -> anyhow::Result<(Flags, Flags)> {
    let mut add = Flags::default();
    let mut remove = Flags::default();
    for spec in specs {
        let (set, name) = match spec.strip_prefix('-') {
            Some(name) => (false, name),
            None => (true, spec.strip_prefix('+').unwrap_or(spec)),
        };
        let target = if set { &mut add } else { &mut remove };
        let system = match name.to_ascii_lowercase().trim_start_matches('\\') {
            "seen" | "read" => Some(SystemFlags::SEEN),
            "flagged" => Some(SystemFlags::FLAGGED),
            "answered" => Some(SystemFlags::ANSWERED),
            "draft" => Some(SystemFlags::DRAFT),
            _ => None,
        };
        match system {
            Some(flag) => target.system.insert(flag),
            None if valid_keyword(name) => target.keywords.push(name.to_string()),
            None => {
                return exit::usage(format!(
                    "{spec:?} is not a flag: [+-]seen|flagged|answered|draft|KEYWORD (an IMAP atom)"
                ));
            }
        }
    }
    Ok((add, remove))
}

/// An IMAP keyword: an atom without `\` (RFC 3501 flag-keyword).
fn valid_keyword(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

fn ids(raw: &[i64]) -> Vec<MessageId> {
    raw.iter().copied().map(MessageId).collect()
}

/// The account of the first message (changes span one account in the CLI).
async fn account_of(engine: &Engine, ids: &[MessageId]) -> anyhow::Result<AccountId> {
    let Some(first) = ids.first() else {
        return exit::usage("no message ids given");
    };
    if engine.message(*first).await?.is_none() {
        return exit::usage(format!("no message {}", first.0));
    }
    Ok(engine.account_of(*first).await?)
}

/// After a change: with `now`, a sync writes it back (and reports what is still queued);
/// else it waits for the next sync. Prints the result.
pub async fn finish(
    engine: &Engine,
    account: AccountId,
    what: Value,
    now: bool,
    network: NetworkKind,
    as_json: bool,
) -> anyhow::Result<()> {
    if now {
        accounts::authenticate(engine, account).await?;
        let request = SyncRequest {
            network,
            ..SyncRequest::default()
        };
        let report = engine.sync(account, &request).await?;
        for (folder, error) in &report.errors {
            eprintln!("anvert: sync of {folder} failed: {error}");
        }
    }
    let pending = engine.pending_operations(account).await?.len()
        + engine.pending_mailbox_operations(account).await?.len();
    if as_json {
        return doc::print(&json!({
            "change": what,
            "written_back": now,
            "pending": pending,
        }));
    }
    if now {
        out!("written back; {pending} operation(s) still queued");
    } else {
        out!(
            "applied locally; {pending} operation(s) queued for the next `anvert sync` (or use --now)"
        );
    }
    Ok(())
}

pub async fn flag(
    engine: &Engine,
    raw: &[i64],
    specs: &[String],
) -> anyhow::Result<(AccountId, Value)> {
    let (add, remove) = parse_flags(specs)?;
    let ids = ids(raw);
    let account = account_of(engine, &ids).await?;
    engine.set_flags(&ids, add.clone(), remove.clone()).await?;
    Ok((
        account,
        json!({
            "kind": "flag",
            "messages": raw,
            "set": doc::flag_names(&add),
            "cleared": doc::flag_names(&remove),
        }),
    ))
}

pub async fn move_to(
    engine: &Engine,
    raw: &[i64],
    folder: &str,
) -> anyhow::Result<(AccountId, Value)> {
    let ids = ids(raw);
    let account = account_of(engine, &ids).await?;
    let target = read::folder(engine, account, folder).await?;
    engine.move_messages(&ids, target.id).await?;
    Ok((
        account,
        json!({ "kind": "move", "messages": raw, "folder": target.name }),
    ))
}

pub async fn delete(engine: &Engine, raw: &[i64]) -> anyhow::Result<(AccountId, Value)> {
    let ids = ids(raw);
    let account = account_of(engine, &ids).await?;
    engine.delete_messages(&ids).await?;
    Ok((account, json!({ "kind": "delete", "messages": raw })))
}

pub async fn empty_trash(engine: &Engine, account: AccountId) -> anyhow::Result<Value> {
    engine.empty_trash(account).await?;
    Ok(json!({ "kind": "empty-trash" }))
}

pub struct DraftArgs {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub replaces: Option<i64>,
}

pub async fn save_draft(
    engine: &Engine,
    account: AccountId,
    args: DraftArgs,
) -> anyhow::Result<Value> {
    let user = engine
        .accounts()
        .await?
        .into_iter()
        .find(|a| a.id == account)
        .map(|a| a.username)
        .unwrap_or_default();
    let address = |email: &str| Address {
        name: None,
        email: email.to_string(),
    };
    let draft = Draft {
        from: address(&user),
        to: args.to.iter().map(|t| address(t)).collect(),
        subject: args.subject,
        text: args.text,
        ..Draft::default()
    };
    let id = engine
        .save_draft(account, draft, args.replaces.map(MessageId))
        .await?;
    Ok(json!({ "kind": "draft", "message": id.0 }))
}

/// The queued operations, oldest first, with their state (queued, retrying, parked).
pub async fn pending(engine: &Engine, account: AccountId, as_json: bool) -> anyhow::Result<()> {
    let flags = engine.pending_operations(account).await?;
    let mailbox = engine.pending_mailbox_operations(account).await?;
    if as_json {
        let mut list: Vec<Value> = flags.iter().map(doc::flag_op).collect();
        list.extend(mailbox.iter().map(doc::mailbox_op));
        return doc::print(&json!({ "pending": list }));
    }
    out!(
        "{:>5}  {:<8} {:>7}  {:<22} {:<9} {:>8}  last error",
        "op",
        "kind",
        "message",
        "change",
        "state",
        "attempts"
    );
    for o in &flags {
        out!(
            "{:>5}  {:<8} {:>7}  {:<22} {:<9} {:>8}  {}",
            o.id,
            "flag",
            o.message.0,
            format!("{}{}", if o.value { "+" } else { "-" }, o.flag),
            doc::op_state(o.parked, o.last_error.is_some()),
            o.attempts,
            o.last_error.as_deref().unwrap_or("")
        );
    }
    for o in &mailbox {
        out!(
            "{:>5}  {:<8} {:>7}  {:<22} {:<9} {:>8}  {}",
            o.id,
            format!("{:?}", o.kind).to_lowercase(),
            o.message.map(|m| m.0.to_string()).unwrap_or_default(),
            o.target
                .map(|t| format!("to folder {}", t.0))
                .unwrap_or_default(),
            doc::op_state(o.parked, o.last_error.is_some()),
            o.attempts,
            o.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

pub async fn retry(engine: &Engine, account: AccountId, as_json: bool) -> anyhow::Result<()> {
    let unparked = engine.retry_parked(account).await?;
    if as_json {
        return doc::print(&json!({ "unparked": unparked }));
    }
    out!("{unparked} parked operation(s) will be retried on the next sync");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_specs_parse() {
        let specs: Vec<String> = ["+seen", "-flagged", "$Work", "-\\Answered"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        let (add, remove) = parse_flags(&specs).unwrap();
        assert!(add.system.contains(SystemFlags::SEEN));
        assert_eq!(add.keywords, ["$Work"]);
        assert!(
            remove
                .system
                .contains(SystemFlags::FLAGGED | SystemFlags::ANSWERED)
        );
        assert!(parse_flags(&["+a(b".to_string()]).is_err());
        assert!(parse_flags(&["-".to_string()]).is_err());
        assert!(parse_flags(&["--now".to_string()]).is_err());
    }
}
