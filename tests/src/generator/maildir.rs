//! Writes generated messages into a Maildir++ tree the way Dovecot expects to find them, so
//! a test mailbox of thousands of messages appears without any APPEND.
//!
//! Dovecot assigns UIDs to new files in the order of the timestamp in their names and takes
//! INTERNALDATE from the file's mtime, so names are `<date>.M<micro>P<i>Q<i>.anvert,S=<size>:2,<flags>`
//! with strictly increasing (date, micro), and each file's mtime is set to the message date.

use std::{
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use super::{GeneratedMessage, MessageTruth};

/// Writes `msgs` into `folder` (None or "INBOX" = the root's `cur/`; "Archive" =
/// `<root>/.Archive/cur`, "a/b" = `.a.b`) and returns their truths in order. Creates the
/// `cur`, `new` and `tmp` directories as needed. Files hold the raw bytes as given (CRLF), so
/// `S=` and the file size equal the RFC822.SIZE.
pub fn write_maildir(
    maildir_root: &Path,
    folder: Option<&str>,
    msgs: impl IntoIterator<Item = GeneratedMessage>,
) -> io::Result<Vec<MessageTruth>> {
    let dir = folder_dir(maildir_root, folder);
    for d in [maildir_root, dir.as_path()] {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(d.join(sub))?;
        }
    }
    if dir != maildir_root {
        File::create(dir.join("maildirfolder"))?;
    }

    let mut truths = Vec::new();
    let mut last: Option<(i64, u32)> = None;
    for msg in msgs {
        let truth = msg.truth;
        // Dates already increase with the index; the microseconds only break ties.
        let micro = match last {
            Some((date, micro)) if date >= truth.date => micro + 1,
            _ => 0,
        };
        let date = last.map_or(truth.date, |(date, _)| date.max(truth.date));
        last = Some((date, micro));
        let flags: String = {
            let mut letters: Vec<char> = truth.flags.iter().map(|f| f.maildir_letter()).collect();
            letters.sort_unstable();
            letters.into_iter().collect()
        };
        let name = format!("{date}.M{micro}P{i}Q{i}.anvert,S={size}:2,{flags}", i = truth.index, size = msg.raw.len());

        let tmp = dir.join("tmp").join(&name);
        let mut file = File::create(&tmp)?;
        file.write_all(&msg.raw)?;
        file.set_modified(system_time(truth.date))?;
        drop(file);
        fs::rename(&tmp, dir.join("cur").join(&name))?;
        truths.push(truth);
    }
    Ok(truths)
}

fn folder_dir(root: &Path, folder: Option<&str>) -> PathBuf {
    match folder {
        None => root.to_path_buf(),
        Some(name) if name.eq_ignore_ascii_case("INBOX") => root.to_path_buf(),
        Some(name) => root.join(format!(".{}", name.replace('/', "."))),
    }
}

fn system_time(unix: i64) -> SystemTime {
    let offset = Duration::from_secs(unix.unsigned_abs());
    if unix >= 0 { SystemTime::UNIX_EPOCH + offset } else { SystemTime::UNIX_EPOCH - offset }
}
