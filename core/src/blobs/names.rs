//! Where an attachment goes on disk: always a direct child of the directory the app chose,
//! named after the part's file name made safe by `mime::safe_file_name` (no separators, no
//! `..`, no control or bidi characters, no Windows device names or trailing dots, bounded
//! length), with ` (2)`, ` (3)`, ... before the extension when the name is taken. A name
//! from the wire must never choose the directory. Nothing here creates or deletes files.

use std::path::{Component, Path, PathBuf};

use super::download::part_path;
use crate::mime::safe_file_name;

/// The name used when even the fallback given is unusable.
const LAST_RESORT: &str = "attachment";

/// A free path for a part inside `dir`: the sanitised `wire_name` (the name the message
/// declares), else the sanitised `fallback`. A name is taken when a file, directory or link
/// of that name exists, or a download into it is in progress (its partial file exists).
pub fn destination_in(dir: &Path, wire_name: Option<&str>, fallback: &str) -> PathBuf {
    let name = wire_name
        .filter(|n| !n.trim().is_empty())
        .map(safe_file_name)
        .filter(|n| is_single_component(n))
        .unwrap_or_else(|| {
            Some(safe_file_name(fallback))
                .filter(|n| is_single_component(n))
                .unwrap_or_else(|| LAST_RESORT.to_string())
        });
    let (stem, extension) = split_extension(&name);
    let mut candidate = dir.join(&name);
    let mut n: u64 = 2;
    while is_taken(&candidate) {
        candidate = dir.join(format!("{stem} ({n}){extension}"));
        n += 1;
    }
    candidate
}

/// Whether `name` is exactly one normal path component (so joining it stays in the dir).
fn is_single_component(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    )
}

/// `report.final.pdf` → (`report.final`, `.pdf`); no dot, or only a leading one → no extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => (
            name.get(..dot).unwrap_or(name),
            name.get(dot..).unwrap_or_default(),
        ),
        _ => (name, ""),
    }
}

fn is_taken(path: &Path) -> bool {
    // symlink_metadata: a dangling link still takes the name.
    path.symlink_metadata().is_ok() || part_path(path).symlink_metadata().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_and_stay_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let at = |wire: Option<&str>| destination_in(dir.path(), wire, "part-2.bin");
        assert_eq!(at(Some("../../etc/passwd")), dir.path().join("etc_passwd"));
        assert_eq!(at(Some("/abs/x.pdf")), dir.path().join("abs_x.pdf"));
        assert_eq!(at(Some("a\u{0}b\u{7}.txt")), dir.path().join("ab.txt"));
        assert_eq!(at(Some("..")), dir.path().join("attachment"));
        assert_eq!(at(None), dir.path().join("part-2.bin"));
        assert_eq!(at(Some("  ")), dir.path().join("part-2.bin"));
        let long = at(Some(&"x".repeat(1_000)));
        assert_eq!(long.parent(), Some(dir.path()));
        assert!(long.file_name().unwrap().len() <= 200);
        let hostile_fallback = destination_in(dir.path(), None, "../../x");
        assert_eq!(hostile_fallback, dir.path().join("x"));
        // Windows device names and trailing dots never reach the disk.
        assert_eq!(at(Some("CON")), dir.path().join("CON_"));
        assert_eq!(at(Some("aux.txt")), dir.path().join("aux_.txt"));
        assert_eq!(at(Some("report.pdf. ")), dir.path().join("report.pdf"));
        assert_eq!(
            destination_in(dir.path(), None, "nul"),
            dir.path().join("nul_")
        );
    }

    #[test]
    fn taken_names_get_a_number_before_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let first = destination_in(dir.path(), Some("Rechnung März.pdf"), "a");
        std::fs::write(&first, b"1").unwrap();
        let second = destination_in(dir.path(), Some("Rechnung März.pdf"), "a");
        assert_eq!(second, dir.path().join("Rechnung März (2).pdf"));
        // A download in progress holds its name too.
        std::fs::write(part_path(&second), b"").unwrap();
        let third = destination_in(dir.path(), Some("Rechnung März.pdf"), "a");
        assert_eq!(third, dir.path().join("Rechnung März (3).pdf"));

        std::fs::write(dir.path().join("README"), b"").unwrap();
        let plain = destination_in(dir.path(), Some("README"), "a");
        assert_eq!(plain, dir.path().join("README (2)"));
        std::fs::write(dir.path().join("archive.tar.gz"), b"").unwrap();
        let double = destination_in(dir.path(), Some("archive.tar.gz"), "a");
        assert_eq!(double, dir.path().join("archive.tar (2).gz"));
    }

    #[test]
    fn extensions_split_at_the_last_dot() {
        assert_eq!(split_extension("a.b.c"), ("a.b", ".c"));
        assert_eq!(split_extension("none"), ("none", ""));
        assert_eq!(split_extension(".hidden"), (".hidden", ""));
    }
}
