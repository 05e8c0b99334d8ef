//! A download cancelled at any moment, as an app cancels from its event thread, on both real
//! servers (`on_each_server!`): it ends as `Cancelled` (or done, when it finished first),
//! never as another error, and the next download of the part resumes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::atomic::{AtomicBool, Ordering};

use anvert_core::{
    Error,
    engine::{CancellationToken, ProgressListener},
    policy::NetworkKind,
};
use anvert_tests::{on_each_server, server::TestServer};

use crate::content::{big_attachments, setup, sha256_file, with_attachment};

/// Cancels from another thread a little after the first progress, as an app does from its
/// event thread: the cancel lands anywhere in the next chunk's work (its read, its file
/// write, its commit).
struct CancelSoon {
    cancel: CancellationToken,
    delay_us: u64,
    armed: AtomicBool,
}

impl ProgressListener for CancelSoon {
    fn progress(&self, _done: u64, _total: u64) {
        if !self.armed.swap(true, Ordering::SeqCst) {
            let cancel = self.cancel.clone();
            let delay = std::time::Duration::from_micros(self.delay_us);
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                cancel.cancel();
            });
        }
    }
}

/// A cancel at any moment of a download ends it as `Cancelled` (or done, when it finished
/// first), never as another error, and the next download of the part resumes.
async fn a_cancel_at_any_moment_ends_a_download_as_cancelled(server: &dyn TestServer) {
    let s = setup(server, big_attachments(4), true).await;
    let (message, attachment) = with_attachment(&s, 4 << 20).await;
    let downloads = tempfile::tempdir().unwrap();
    let mut cancelled = 0;
    for round in 0..40u64 {
        let listener = CancelSoon {
            cancel: CancellationToken::new(),
            delay_us: (round * 7919) % 3000,
            armed: Default::default(),
        };
        let result = s
            .engine
            .download_part(
                message,
                &attachment.section,
                downloads.path(),
                NetworkKind::Unmetered,
                Some(&listener),
                &listener.cancel.clone(),
            )
            .await;
        match result {
            Err(Error::Cancelled) => cancelled += 1,
            Ok(path) => {
                assert_eq!(sha256_file(&path), attachment.sha256);
                s.engine
                    .delete_download(message, &attachment.section)
                    .await
                    .unwrap();
            }
            Err(e) => panic!("round {round}: {e:?}"),
        }
    }
    assert!(cancelled > 0, "no download was cancelled");
}

on_each_server!(a_cancel_at_any_moment_ends_a_download_as_cancelled);
