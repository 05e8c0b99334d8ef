//! Headers-first windows for a folder's initial sync and backfill: sequence-number windows
//! from the top down, newest first, each committed with the folder's sync state before the
//! next is used. Three phases: the first window alone, so the first screen pays for nothing
//! more; then, pipelined in batches of at most [`SUMMARY_BATCH_MAX`], the windows the count
//! rule needs anyway; then one window at a time while the age rule still wants older mail
//! (a pipeline there would overfetch).
//!
//! Windows are planned one at a time ([`WindowPlan`]): nothing is allocated in proportion to
//! the message count the server claims. Every sequence number of a window is accounted for
//! (`recover`): a window with unreadable or missing messages is held while the windows
//! already in flight behind it arrive (they are kept, never fetched again), then completed
//! and committed first, so windows still commit in order. The lowest synced UID never moves
//! past a message that was not stored: from such a message on, this sync stores what it has
//! received and stops. A window of which nothing at all can be read means the server claimed
//! messages it does not have: a protocol error, after what was committed.

use super::{
    EventSink, FolderId, StopReason, SyncEvent,
    folder::{FolderReport, FolderSync},
    recover::{Recovered, Recovery},
};
use crate::{
    error::{Error, Result},
    imap::{ImapSession, SummaryFetch, Window},
    limits::SUMMARY_BATCH_MAX,
    store::{FolderSyncState, NewMessage, Prepared, Store},
};

/// Sequence-number windows from `top` down to 1, newest first: `first` messages, then
/// windows growing fourfold up to `max`. A zero `first` or `max` counts as 1.
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowPlan {
    /// The top of the next window; 0 when done.
    hi: u32,
    size: u32,
    max: u32,
}

impl WindowPlan {
    pub(super) fn new(top: u32, first: u32, max: u32) -> WindowPlan {
        let first = first.max(1);
        WindowPlan {
            hi: top,
            size: first,
            max: max.max(1).max(first),
        }
    }
}

impl Iterator for WindowPlan {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        if self.hi == 0 {
            return None;
        }
        let hi = self.hi;
        let lo = hi.saturating_sub(self.size.saturating_sub(1)).max(1);
        self.hi = lo - 1;
        self.size = self.size.saturating_mul(4).min(self.max);
        Some((lo, hi))
    }
}

/// `"lo:hi"`, or `"n"` for a window of one.
fn render((lo, hi): (u32, u32)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}:{hi}")
    }
}

fn window_len((lo, hi): (u32, u32)) -> u32 {
    hi - lo + 1
}

/// Where the walk is.
struct Walk {
    /// Messages stored for the folder once the pending window is committed.
    synced: u32,
    fetched: u64,
    stop: bool,
    stopped: Option<StopReason>,
    /// A message was not stored: the lowest synced UID stays where it is.
    frozen: bool,
    pending: Option<Pending>,
}

impl FolderSync<'_> {
    /// Headers-first windows from sequence number `top` downwards, newest first. Returns how
    /// many messages were stored.
    pub(super) async fn windows(
        &mut self,
        state: &mut FolderSyncState,
        top: u32,
        already: u32,
        report: &mut FolderReport,
    ) -> Result<u64> {
        let window = self.window;
        let mut plan = WindowPlan::new(top, window.first_window, window.window);
        let wanted = top.min(window.min_messages.saturating_sub(already));
        // Under a byte budget nothing is pipelined ahead: a stop must not leave windows in
        // flight that overshoot it.
        // Where user work may preempt the walk, at most one window waits behind the one
        // being read: that is what a preemption still has to read before the connection is
        // free.
        let depth = if self.budget.is_limited() {
            1
        } else if self.budget.is_preemptible() {
            window.pipeline_depth.min(2)
        } else {
            window.pipeline_depth
        };
        let mut walk = Walk {
            synced: already,
            fetched: 0,
            stop: false,
            stopped: None,
            frozen: false,
            pending: None,
        };
        let mut planned = 0u32;
        let mut first = true;
        while !walk.stop {
            let mut batch = Vec::new();
            let mut batch_depth = 1;
            if first || planned >= wanted {
                batch.extend(plan.next());
            } else {
                batch_depth = depth;
                while planned < wanted && batch.len() < SUMMARY_BATCH_MAX {
                    let Some(w) = plan.next() else { break };
                    planned = planned.saturating_add(window_len(w));
                    batch.push(w);
                }
            }
            if first {
                planned = batch.first().map_or(0, |w| window_len(*w));
                first = false;
            }
            if batch.is_empty() {
                break;
            }
            self.batch(&batch, batch_depth, state, &mut walk, report)
                .await?;
        }
        report.stopped = report.stopped.or(walk.stopped);
        Ok(walk.fetched)
    }

    /// Fetches the windows of `batch` (at most `depth` in flight) and commits them in order.
    async fn batch(
        &mut self,
        batch: &[(u32, u32)],
        depth: usize,
        state: &mut FolderSyncState,
        walk: &mut Walk,
        report: &mut FolderReport,
    ) -> Result<()> {
        let items = self.items();
        let mut rest = batch;
        while !rest.is_empty() && !walk.stop {
            let sets: Vec<String> = rest.iter().map(|w| render(*w)).collect();
            let mut fetch = self.session.start_summaries(&sets, false, items, depth);
            let mut held: Vec<Window> = Vec::new();
            let mut received = 0;
            while let Some(w) = pull_committing(
                self.session,
                self.store,
                self.events,
                self.folder,
                &mut fetch,
                &mut walk.pending,
            )
            .await?
            {
                received += 1;
                self.learn_preview(&w, items.preview).await?;
                if !held.is_empty() || w.needs_recovery() {
                    // Nothing more is sent; the windows in flight are read and kept.
                    fetch.stop_sending();
                    held.push(w);
                    continue;
                }
                self.accept(Recovered::plain(w), state, walk, &mut fetch);
            }
            commit(self.store, self.events, self.folder, walk.pending.take()).await?;
            for w in held {
                let range = rest.get(w.index).copied();
                let recovered = Recovery {
                    session: &mut *self.session,
                    budget: self.budget,
                    items,
                    prefer_html: self.content.prefer_html,
                }
                .recover(w, report)
                .await?;
                if let Some((lo, hi)) = range
                    && recovered.messages.is_empty()
                    && recovered.lost.count() == u64::from(window_len((lo, hi)))
                {
                    return Err(Error::protocol(format!(
                        "the server reported {} messages but sent none of {lo}:{hi}",
                        state.exists
                    )));
                }
                self.accept(recovered, state, walk, &mut fetch);
                commit(self.store, self.events, self.folder, walk.pending.take()).await?;
            }
            rest = rest.get(received..).unwrap_or_default();
        }
        Ok(())
    }

    /// Takes a received window as the pending one (committed while the next is read).
    fn accept(
        &self,
        window: Recovered,
        state: &mut FolderSyncState,
        walk: &mut Walk,
        fetch: &mut SummaryFetch,
    ) {
        let Recovered {
            messages,
            bodies,
            lost,
        } = window;
        if !walk.frozen {
            // Never past a message that was not stored: only what lies above it counts.
            let floor = lost.max();
            let lowest = messages
                .iter()
                .filter(|(seq, _)| floor.is_none_or(|f| *seq > f))
                .map(|(_, m)| m.uid)
                .min();
            state.lowest_uid_synced = match (state.lowest_uid_synced, lowest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if !lost.is_empty() {
            walk.frozen = true;
            walk.stop = true;
        }
        let oldest = messages
            .iter()
            .filter(|(_, m)| !m.incomplete)
            .map(|(_, m)| m.internal_date)
            .min();
        let count = messages.len() as u32;
        walk.synced = walk.synced.saturating_add(count);
        walk.fetched += u64::from(count);
        let messages: Vec<NewMessage> = messages.into_iter().map(|(_, m)| m).collect();
        if !messages.is_empty() || !lost.is_empty() {
            walk.pending = Some(Pending {
                // Here, on the reading side, while the previous window commits; one that
                // cannot be made is made (and its error reported) by the write.
                prepared: Prepared::new(&messages).ok(),
                messages,
                bodies,
                state: *state,
                synced: walk.synced,
            });
        }
        // A walk that has what it wants is done, whatever else would stop it: a stop
        // reason means work is left.
        if self.window.satisfied(walk.synced, oldest, self.now) {
            walk.stop = true;
        } else if self.budget.exhausted() {
            walk.stopped = self.budget.stop_reason();
            walk.stop = true;
        }
        if walk.stop {
            // Windows already in flight are still read and committed: they are paid for.
            fetch.stop_sending();
        }
    }
}

/// A received window waiting for its store transaction.
struct Pending {
    messages: Vec<NewMessage>,
    /// The messages' column texts and thread keys, made before the commit.
    prepared: Option<Prepared>,
    /// Bodies read with a message's structure: `(uid, is_html, text)`.
    bodies: Vec<(u32, bool, String)>,
    state: FolderSyncState,
    /// Messages synced once this window is stored, for the progress event.
    synced: u32,
}

/// Reads the next window while the previous one is committed: the store's write and the
/// network read overlap instead of adding up. Events go out after the commit.
///
/// The commit runs as a task of its own: each of its statements is a hand-over between
/// sqlx's SQLite thread and the task driving it, and this task is busy parsing responses
/// for as long as the server keeps sending. Dropped midway, the commit still completes (or
/// rolls back) on its own: a window is stored whole or not at all.
async fn pull_committing(
    session: &mut ImapSession,
    store: &Store,
    events: &dyn EventSink,
    folder: FolderId,
    fetch: &mut SummaryFetch,
    pending: &mut Option<Pending>,
) -> Result<Option<Window>> {
    match pending.take() {
        None => session.next_window(fetch).await,
        Some(mut p) => {
            let store = store.clone();
            let commit =
                tokio::spawn(
                    async move { store_pending(&store, folder, &mut p).await.map(|()| p) },
                );
            let (committed, next) = tokio::join!(commit, session.next_window(fetch));
            let p = committed.map_err(|_| Error::Store {
                reason: "the commit of a window stopped before it finished".into(),
                source: None,
            })??;
            announce(events, folder, &p);
            next
        }
    }
}

/// Commits a pending window, if any, and tells the app.
async fn commit(
    store: &Store,
    events: &dyn EventSink,
    folder: FolderId,
    pending: Option<Pending>,
) -> Result<()> {
    if let Some(mut p) = pending {
        store_pending(store, folder, &mut p).await?;
        announce(events, folder, &p);
    }
    Ok(())
}

/// The window's rows and sync state in one transaction, then the bodies read with it.
async fn store_pending(store: &Store, folder: FolderId, p: &mut Pending) -> Result<()> {
    store
        .insert_prepared_window(folder, &p.state, &p.messages, p.prepared.take())
        .await?;
    super::recover::store_bodies(store, folder, &p.bodies).await
}

fn announce(events: &dyn EventSink, folder: FolderId, p: &Pending) {
    let uids: Vec<u32> = p.messages.iter().map(|m| m.uid).collect();
    let incomplete: Vec<u32> = p
        .messages
        .iter()
        .filter(|m| m.incomplete)
        .map(|m| m.uid)
        .collect();
    if !uids.is_empty() {
        events.emit(SyncEvent::MessagesAdded { folder, uids });
    }
    if !incomplete.is_empty() {
        events.emit(SyncEvent::MessagesIncomplete {
            folder,
            uids: incomplete,
        });
    }
    events.emit(SyncEvent::Progress {
        folder,
        synced: p.synced,
        total: p.state.exists,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(top: u32, first: u32, max: u32) -> Vec<String> {
        WindowPlan::new(top, first, max).map(render).collect()
    }

    #[test]
    fn windows_cover_every_message_once_newest_first() {
        assert_eq!(plan(0, 50, 250), Vec::<String>::new());
        assert_eq!(plan(1, 50, 250), vec!["1"]);
        assert_eq!(plan(120, 50, 50), vec!["71:120", "21:70", "1:20"]);
        assert_eq!(
            plan(2000, 50, 1000),
            vec!["1951:2000", "1751:1950", "951:1750", "1:950"]
        );
        let total: u32 = WindowPlan::new(2000, 50, 250).map(window_len).sum();
        assert_eq!(total, 2000);
    }

    /// Issue 13: a first window (or a largest window) of 0 is a window of 1, and a huge
    /// claimed count costs nothing until a window is asked for.
    #[test]
    fn zero_windows_and_huge_counts_are_safe() {
        assert_eq!(plan(3, 0, 0), vec!["3", "2", "1"]);
        assert_eq!(plan(5, 0, 100), vec!["5", "1:4"]);
        let mut huge = WindowPlan::new(u32::MAX, 50, u32::MAX);
        assert_eq!(huge.next(), Some((u32::MAX - 49, u32::MAX)));
        assert_eq!(huge.next(), Some((u32::MAX - 249, u32::MAX - 50)));
        let total: u64 = WindowPlan::new(u32::MAX, 1, u32::MAX)
            .map(|w| u64::from(window_len(w)))
            .sum();
        assert_eq!(total, u64::from(u32::MAX));
        let everything = WindowPlan::new(u32::MAX, u32::MAX, u32::MAX).collect::<Vec<_>>();
        assert_eq!(everything, [(1, u32::MAX)]);
    }
}
