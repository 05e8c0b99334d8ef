//! The partial file of a download: `<destination>.anvert-part`, beside the destination so
//! the final rename stays on one file system. Decoded chunks are appended, made durable
//! with [`PartFile::sync`] *before* the store commits the chunk's progress, and on
//! completion the file is fsynced, renamed onto the destination and the directory fsynced.
//!
//! A crash can leave bytes past the last committed length (appended, maybe synced, but
//! never committed); [`PartFile::resume`] cuts them off, so a download always continues from
//! exactly what the store recorded. The decoded size is bounded: an append that would pass
//! the limit fails with `TooLarge` before anything is written. A full disk is reported as
//! `DiskFull` and leaves the committed state intact. This file never decides a path from
//! the wire (see `names`) and never deletes anything but its own partial file.

use std::{
    ffi::OsString,
    io::{self, SeekFrom},
    path::{Path, PathBuf},
};

use tokio::{
    fs::{self, File, OpenOptions},
    io::{AsyncSeekExt, AsyncWriteExt},
};

use crate::{Error, Result};

/// Appended to the destination's file name to make the partial file's name.
pub const PART_SUFFIX: &str = ".anvert-part";

/// Slack allowed on top of the declared size before a download is cut off.
const LIMIT_MARGIN: u64 = 64 * 1024;

/// The most decoded bytes a part of `declared_size` (its encoded size from BODYSTRUCTURE)
/// may produce: the declared size × 1.4 plus 64 KiB. Decoding never makes content larger
/// than its encoding, so only a broken or hostile server gets near this.
pub fn decoded_limit(declared_size: u64) -> u64 {
    declared_size
        .saturating_add(declared_size / 5 * 2)
        .saturating_add(LIMIT_MARGIN)
}

/// The partial file that belongs to `destination`.
pub fn part_path(destination: &Path) -> PathBuf {
    let mut name = OsString::from(destination.as_os_str());
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

/// Deletes the partial file of `destination`, if there is one (the explicit "forget this
/// download" after a cancel; the store's record is deleted separately).
pub async fn remove_partial(destination: &Path) -> Result<()> {
    match super::fsio::remove_file(&part_path(destination)).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(disk_error(e)),
        _ => Ok(()),
    }
}

/// An open partial file, positioned at its end.
#[derive(Debug)]
pub struct PartFile {
    destination: PathBuf,
    path: PathBuf,
    file: File,
    len: u64,
    limit: u64,
}

impl PartFile {
    /// Starts a new download of `destination`, allowing at most `limit` decoded bytes (see
    /// [`decoded_limit`]). Fails with a `Disk` error of kind `AlreadyExists` when a partial
    /// file is already there (another download claimed the name: pick another destination,
    /// or resume that one).
    pub async fn create(destination: &Path, limit: u64) -> Result<PartFile> {
        let path = part_path(destination);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(disk_error)?;
        Ok(PartFile {
            destination: destination.to_path_buf(),
            path,
            file,
            len: 0,
            limit,
        })
    }

    /// Continues a download whose store record says `committed_len` decoded bytes are on
    /// disk. Bytes past that (written but never committed before a crash) are cut off.
    /// Fails with `CannotResume` when the file is missing or shorter than recorded (it was
    /// deleted or the device lost it): the download must start over. With `committed_len`
    /// 0 a missing file is simply created.
    pub async fn resume(destination: &Path, committed_len: u64, limit: u64) -> Result<PartFile> {
        if committed_len > limit {
            return Err(Error::TooLarge { limit });
        }
        let path = part_path(destination);
        let opened = OpenOptions::new()
            .write(true)
            .create(committed_len == 0)
            .open(&path)
            .await;
        let mut file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::CannotResume {
                    reason: "the partial file is missing",
                });
            }
            Err(e) => return Err(disk_error(e)),
        };
        let on_disk = file.metadata().await.map_err(disk_error)?.len();
        if on_disk < committed_len {
            return Err(Error::CannotResume {
                reason: "the partial file is shorter than recorded",
            });
        }
        if on_disk > committed_len {
            file.set_len(committed_len).await.map_err(disk_error)?;
        }
        file.seek(SeekFrom::Start(committed_len))
            .await
            .map_err(disk_error)?;
        Ok(PartFile {
            destination: destination.to_path_buf(),
            path,
            file,
            len: committed_len,
            limit,
        })
    }

    /// Decoded bytes in the file (committed or not).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most decoded bytes this download may write.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Where the finished file goes.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// The partial file's own path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends decoded bytes. Fails with `TooLarge`, writing nothing, if they would take the
    /// file past its limit; with `DiskFull` when the device is full. After any error, reopen
    /// with [`resume`](PartFile::resume) from the committed length.
    pub async fn append(&mut self, data: &[u8]) -> Result<()> {
        let new_len = u64::try_from(data.len())
            .ok()
            .and_then(|n| self.len.checked_add(n))
            .filter(|&n| n <= self.limit)
            .ok_or(Error::TooLarge { limit: self.limit })?;
        self.file.write_all(data).await.map_err(disk_error)?;
        // tokio completes writes in the background; waiting here means a full disk is
        // reported by this call and nothing is still in flight once it returns (so a
        // dropped `PartFile` cannot write behind a later `resume`).
        self.file.flush().await.map_err(disk_error)?;
        self.len = new_len;
        Ok(())
    }

    /// Empties the file to start the download over (another transfer mode: its offsets
    /// count other bytes). Nothing is committed by this; the caller records offset 0.
    pub async fn restart(&mut self) -> Result<()> {
        self.file.flush().await.map_err(disk_error)?;
        self.file.set_len(0).await.map_err(disk_error)?;
        self.file
            .seek(SeekFrom::Start(0))
            .await
            .map_err(disk_error)?;
        self.len = 0;
        Ok(())
    }

    /// Makes everything appended so far durable. Call it before committing a chunk's
    /// progress to the store. A write that failed in the background is reported here.
    pub async fn sync(&mut self) -> Result<()> {
        // flush() surfaces a failed background write; sync_data() alone would not.
        self.file.flush().await.map_err(disk_error)?;
        self.file.sync_data().await.map_err(disk_error)
    }

    /// Completes the download: fsyncs the file, renames it onto the destination (replacing
    /// what is there) and fsyncs the directory so the rename survives a power cut. Returns
    /// the file's length.
    pub async fn finish(mut self) -> Result<u64> {
        self.file.flush().await.map_err(disk_error)?;
        self.file.sync_all().await.map_err(disk_error)?;
        drop(self.file);
        fs::rename(&self.path, &self.destination)
            .await
            .map_err(disk_error)?;
        sync_parent(&self.destination).await?;
        Ok(self.len)
    }

    /// Abandons the download and deletes the partial file.
    pub async fn discard(self) -> Result<()> {
        drop(self.file);
        remove_partial(&self.destination).await
    }
}

/// Fsyncs the directory holding `path`, so a rename in it is durable (Unix only; other
/// platforms cannot open a directory as a file).
async fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let dir = File::open(dir).await.map_err(disk_error)?;
        dir.sync_all().await.map_err(disk_error)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A file system error as the core's error: a full device or an exceeded quota becomes
/// `DiskFull`, anything else `Disk`.
pub(crate) fn disk_error(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            Error::DiskFull { source: Some(e) }
        }
        _ => Error::Disk { source: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("report.pdf")
    }

    async fn read(path: &Path) -> Vec<u8> {
        fs::read(path).await.unwrap()
    }

    #[test]
    fn limit_and_part_path() {
        assert_eq!(decoded_limit(0), 64 * 1024);
        assert_eq!(decoded_limit(1_000_000), 1_400_000 + 64 * 1024);
        assert_eq!(decoded_limit(u64::MAX), u64::MAX);
        let part = part_path(Path::new("/data/files/a b.pdf"));
        assert_eq!(part, Path::new("/data/files/a b.pdf.anvert-part"));
    }

    #[tokio::test]
    async fn chunks_then_finish_give_the_original_and_leave_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(&dest(&dir), 100).await.unwrap();
        part.append(b"hello ").await.unwrap();
        part.sync().await.unwrap();
        part.append(b"world").await.unwrap();
        assert_eq!(part.finish().await.unwrap(), 11);
        assert_eq!(read(&dest(&dir)).await, b"hello world");
        assert!(!part_path(&dest(&dir)).exists());
    }

    #[tokio::test]
    async fn resume_cuts_uncommitted_bytes_and_continues() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(&dest(&dir), 100).await.unwrap();
        part.append(b"committed").await.unwrap();
        part.sync().await.unwrap();
        // Written and synced, but the process dies before the store commits it.
        part.append(b"LOST").await.unwrap();
        part.sync().await.unwrap();
        drop(part);

        let mut part = PartFile::resume(&dest(&dir), 9, 100).await.unwrap();
        assert_eq!(part.len(), 9);
        part.append(b" rest").await.unwrap();
        part.finish().await.unwrap();
        assert_eq!(read(&dest(&dir)).await, b"committed rest");
    }

    #[tokio::test]
    async fn resume_refuses_a_missing_or_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = PartFile::resume(&dest(&dir), 5, 100).await;
        assert!(matches!(missing, Err(Error::CannotResume { .. })));
        fs::write(part_path(&dest(&dir)), b"abc").await.unwrap();
        let short = PartFile::resume(&dest(&dir), 5, 100).await;
        assert!(matches!(short, Err(Error::CannotResume { .. })));
        // From zero, whatever is there is dropped.
        let part = PartFile::resume(&dest(&dir), 0, 100).await.unwrap();
        assert!(part.is_empty());
        part.finish().await.unwrap();
        assert_eq!(read(&dest(&dir)).await, b"");
    }

    #[tokio::test]
    async fn create_does_not_take_over_another_download() {
        let dir = tempfile::tempdir().unwrap();
        let _first = PartFile::create(&dest(&dir), 100).await.unwrap();
        let second = PartFile::create(&dest(&dir), 100).await;
        assert!(
            matches!(second, Err(Error::Disk { source }) if source.kind() == io::ErrorKind::AlreadyExists)
        );
    }

    #[tokio::test]
    async fn the_limit_is_enforced_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(&dest(&dir), 10).await.unwrap();
        part.append(b"0123456").await.unwrap();
        let err = part.append(b"789A").await;
        assert!(matches!(err, Err(Error::TooLarge { limit: 10 })));
        part.sync().await.unwrap();
        assert_eq!(read(part.path()).await, b"0123456");
        part.append(b"789").await.unwrap();
        assert_eq!(part.len(), 10);
        assert!(matches!(
            PartFile::resume(&dest(&dir), 11, 10).await,
            Err(Error::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn discard_and_remove_partial_delete_only_the_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dest(&dir), b"existing").await.unwrap();
        let mut part = PartFile::create(&dest(&dir), 100).await.unwrap();
        part.append(b"x").await.unwrap();
        part.discard().await.unwrap();
        assert!(!part_path(&dest(&dir)).exists());
        assert_eq!(read(&dest(&dir)).await, b"existing");
        remove_partial(&dest(&dir)).await.unwrap();
    }

    #[test]
    fn a_full_disk_maps_to_disk_full() {
        for kind in [io::ErrorKind::StorageFull, io::ErrorKind::QuotaExceeded] {
            let err = disk_error(io::Error::from(kind));
            assert!(matches!(err, Error::DiskFull { .. }), "{kind:?}");
            assert!(err.to_string().contains("disk is full"));
        }
        let other = disk_error(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(other, Error::Disk { .. }));
    }

    /// A real ENOSPC from the kernel: the partial file is a symlink to `/dev/full`, where
    /// every write fails with "no space left on device".
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn writing_to_a_full_device_reports_disk_full() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", part_path(&dest(&dir))).unwrap();
        let mut part = PartFile::resume(&dest(&dir), 0, 1 << 20).await.unwrap();
        let result = async {
            part.append(&[7; 4096]).await?;
            part.sync().await
        }
        .await;
        assert!(matches!(result, Err(Error::DiskFull { .. })), "{result:?}");
    }
}
