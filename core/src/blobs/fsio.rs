//! The few `()`-returning file-system calls the engine makes from async code (create a
//! directory, remove a file or a tree), each run on tokio's blocking pool like `tokio::fs`'s,
//! but as one boxed closure type: `tokio::fs::remove_file` and friends compile tokio's task
//! harness once per call and path type (about 2 KB of library each; issue 18, library size).

use std::{io, path::Path};

type Op = Box<dyn FnOnce() -> io::Result<()> + Send>;

async fn blocking(op: Op) -> io::Result<()> {
    match tokio::task::spawn_blocking(op).await {
        Ok(result) => result,
        // What tokio::fs answers when the blocking task panicked or the runtime shut down.
        Err(_) => Err(io::Error::other("background task failed")),
    }
}

/// `tokio::fs::remove_file`.
pub(crate) async fn remove_file(path: &Path) -> io::Result<()> {
    let path = path.to_owned();
    blocking(Box::new(move || std::fs::remove_file(path))).await
}

/// `tokio::fs::remove_dir_all`.
pub(crate) async fn remove_dir_all(path: &Path) -> io::Result<()> {
    let path = path.to_owned();
    blocking(Box::new(move || std::fs::remove_dir_all(path))).await
}

/// `tokio::fs::create_dir_all`.
pub(crate) async fn create_dir_all(path: &Path) -> io::Result<()> {
    let path = path.to_owned();
    blocking(Box::new(move || std::fs::create_dir_all(path))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creates_and_removes_like_tokio_fs() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("a/b");
        create_dir_all(&tree).await.unwrap();
        let file = tree.join("f");
        std::fs::write(&file, b"x").unwrap();
        remove_file(&file).await.unwrap();
        assert!(!file.exists());
        let missing = remove_file(&file).await.unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        std::fs::write(&file, b"x").unwrap();
        remove_dir_all(&dir.path().join("a")).await.unwrap();
        assert!(!dir.path().join("a").exists());
    }
}
