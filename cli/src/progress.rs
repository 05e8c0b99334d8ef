//! Progress on stderr: a bar per folder while syncing (from `SyncEvent::Progress`), and a
//! byte bar while downloading a part. Bars are drawn only when stderr is a terminal; a sync
//! prints plain lines otherwise, a download nothing. The sync listener only queues: the
//! engine calls it on the sync task, so drawing (and looking up folder names) happens in
//! [`show_sync`], which runs beside the sync.

use std::{collections::BTreeMap, io::IsTerminal};

use anvert_core::{
    engine::{CancellationToken, Engine, ProgressListener},
    store::{AccountId, FolderId},
    sync::{EventSink, SyncEvent},
};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

/// The engine's event listener for a sync: forwards every event to [`show_sync`].
pub struct SyncEvents(mpsc::UnboundedSender<SyncEvent>);

impl SyncEvents {
    pub fn channel() -> (SyncEvents, mpsc::UnboundedReceiver<SyncEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (SyncEvents(tx), rx)
    }
}

impl EventSink for SyncEvents {
    fn emit(&self, event: SyncEvent) {
        // The receiver only goes away when the display ended: nothing left to show.
        let _ = self.0.send(event);
    }
}

/// Shows the progress events of a sync until the listener is dropped: one bar per folder
/// on a terminal, else a line per step ("INBOX: 50 of 300 headers").
pub async fn show_sync(
    engine: &Engine,
    account: AccountId,
    mut events: mpsc::UnboundedReceiver<SyncEvent>,
) {
    let tty = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let mut names: BTreeMap<FolderId, String> = BTreeMap::new();
    let mut bars: BTreeMap<FolderId, ProgressBar> = BTreeMap::new();
    while let Some(event) = events.recv().await {
        let SyncEvent::Progress {
            folder,
            synced,
            total,
        } = event
        else {
            continue;
        };
        if !names.contains_key(&folder) {
            // A folder seen for the first time: its row is committed before its progress.
            if let Ok(folders) = engine.folders(account).await {
                names.extend(folders.into_iter().map(|f| (f.id, f.name)));
            }
        }
        let name = names
            .get(&folder)
            .cloned()
            .unwrap_or_else(|| format!("folder {}", folder.0));
        if !tty {
            eprintln!("  {name}: {synced} of {total} headers");
            continue;
        }
        let bar = bars.entry(folder).or_insert_with(|| {
            multi.add(
                ProgressBar::new(u64::from(total))
                    .with_style(style("  {prefix:<20} [{bar:30}] {pos}/{len} headers"))
                    .with_prefix(name.chars().take(20).collect::<String>()),
            )
        });
        bar.set_length(u64::from(total));
        bar.set_position(u64::from(synced));
        if synced >= total {
            bar.finish();
        }
    }
    for bar in bars.values().filter(|b| !b.is_finished()) {
        bar.abandon();
    }
    let drew = !bars.is_empty();
    drop(bars);
    drop(multi);
    if drew {
        // The bars stay on screen; what follows starts below them.
        eprintln!();
    }
}

/// The listener of one download: a byte bar on a terminal, and an optional stop once
/// `stop_after` bytes have arrived (the same cancellation as Ctrl-C).
pub struct DownloadProgress {
    bar: Option<ProgressBar>,
    stop_after: Option<u64>,
    cancel: CancellationToken,
}

impl DownloadProgress {
    /// `start` is where a resumed download begins, `total` the part's (encoded) size.
    pub fn new(
        start: u64,
        total: u64,
        stop_after: Option<u64>,
        cancel: CancellationToken,
    ) -> DownloadProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
                .with_style(style(
                    "  [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                ));
            // Record the resumed position with the rate estimator, then restart it there
            // (before anything is drawn), so the rate counts only what this run fetches.
            bar.set_position(start);
            bar.tick();
            bar.reset_eta();
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar
        });
        DownloadProgress {
            bar,
            stop_after,
            cancel,
        }
    }

    /// Leaves the bar on screen as it stands (finished or interrupted).
    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
            eprintln!();
        }
    }
}

impl ProgressListener for DownloadProgress {
    fn progress(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
        if self.stop_after.is_some_and(|n| done >= n && done < total) {
            self.cancel.cancel();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}
