//! The account's IMAP operations over its command connection, in order of priority.
//!
//! - **Sync** (background) holds the account's sync lock for its whole run, so two syncs of
//!   one account never overlap, and leases the connection with background priority. Its
//!   budget stops it at the next clean point (a committed window, a finished chunk) while
//!   user work waits; it then hands the connection over, waits, leases it again and carries
//!   on where it stopped ([`sync::AccountPass`]).
//! - **Opening a body and downloading a part** (user) mark themselves urgent, lease the
//!   connection with user priority (a download keeps its chunks in flight until other user
//!   work waits, then ends its lease once those are in, so that work interleaves), and are retried once on a new connection when a warm one turns out dead:
//!   a reconnect is invisible to the caller for reads. Writes are never retried here; they
//!   stay in the durable queue, which the next sync replays.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
};

use tokio_util::sync::CancellationToken;

use super::{AccountSession, Lease, Priority};
pub use crate::sync::{Body, ProgressListener};
use crate::{
    error::{Error, Result},
    net::{Purpose, WireTotals},
    policy::{ContentPolicy, NetworkKind, SyncRequest},
    store::{MessageDetail, MessageId, MessageLocation, PartDetail},
    sync::{self, AccountPass, Budget, Download, EventSink, StopReason, SyncReport},
};

/// Whether a lease must not keep its connection after this error: the connection is gone,
/// or a command was abandoned mid-response.
fn in_doubt(e: &Error) -> bool {
    e.leaves_connection_unusable() || matches!(e, Error::Cancelled)
}

impl AccountSession {
    /// One sync pass: write-back, the folders, then the attachment prefetch. See the module
    /// documentation for how it yields to user work.
    pub(crate) async fn sync_imap(
        self: &Arc<Self>,
        request: &SyncRequest,
        now: i64,
        data_dir: &std::path::Path,
        events: &dyn EventSink,
    ) -> Result<SyncReport> {
        let _one_at_a_time = self.busy.lock().await;
        let mut stale = false;
        let first = self
            .sync_pass(request, now, data_dir, events, &mut stale)
            .await;
        let result = match first {
            // The warm connection had died while idle (the server never answered on it):
            // nothing was done, so the pass runs again on a new connection. Queued writes
            // stay in their durable queue either way.
            Err(e) if stale && e.is_dead_connection() => {
                tracing::info!(
                    account = self.id.0,
                    "a warm connection was dead; syncing on a new one"
                );
                self.sync_pass(request, now, data_dir, events, &mut stale)
                    .await
            }
            other => other,
        };
        // A header sync stores its windows without their search rows (migration 0021): the
        // index catches up here, after the folders (the app already has its message lists),
        // also after a failed pass (what it committed is searchable too).
        match (result, self.store().index_pending().await) {
            (Ok(mut report), Err(e)) => {
                report.errors.push(("search index".into(), e.to_string()));
                Ok(report)
            }
            (Err(e), Err(index)) => {
                tracing::warn!(account = self.id.0, error = %index, "the search index pass failed");
                Err(e)
            }
            (result, Ok(_)) => result,
        }
    }

    /// [`AccountSession::sync_imap`] once, with the sync lock held. `stale` is set when it
    /// failed on a reused connection that never answered.
    async fn sync_pass(
        self: &Arc<Self>,
        request: &SyncRequest,
        now: i64,
        data_dir: &std::path::Path,
        events: &dyn EventSink,
        stale: &mut bool,
    ) -> Result<SyncReport> {
        let network = request.network;
        let mut slot = Some(self.lease(Priority::Background, network).await?);
        let meter = slot.as_ref().map(Lease::meter).unwrap_or_default();
        let reused = slot.as_ref().is_some_and(|l| l.reused);
        let read_before: u64 = meter.totals().read.iter().sum();
        let budget = Budget::new(&meter, request.byte_budget)
            .with_deadline(request.deadline)
            .with_preempt(self.preempt_signal());
        let mut spent = WireTotals::default();
        let mut in_doubt_after = false;
        let run = async {
            {
                let session = session_of(&mut slot)?;
                // The outbox first: a message the user sent goes out before anything else.
                // Its failures stay with its entries (reported to the app through events).
                let sent = self.send_due(session, network, now, events).await;
                if let Err(e) = &sent
                    && e.leaves_connection_unusable()
                {
                    return Err(sent.err().unwrap_or(Error::ConnectionClosed));
                }
                let _queue = self.queue.lock().await;
                sync::write_back(session, self.store(), self.id, now, events).await?;
            }
            let mut pass = AccountPass::begin(
                session_of(&mut slot)?,
                self.store(),
                self.id,
                request,
                events,
                &budget,
            )
            .await?;
            loop {
                pass.run(
                    session_of(&mut slot)?,
                    self.store(),
                    request,
                    now,
                    events,
                    &budget,
                )
                .await?;
                if !pass.preempted() {
                    break;
                }
                spent = spent.plus(&self.lend(&mut slot, network, &budget).await?);
            }
            let folders = pass.folder_names();
            let mut report = pass.finish(self.store(), &budget).await?;
            // Entries queued during the pass, or waiting for a first sync's folder list
            // (the Sent folder), go now.
            if report.stopped.is_none() {
                let session = session_of(&mut slot)?;
                if let Err(e) = self.send_due(session, network, now, events).await
                    && e.leaves_connection_unusable()
                {
                    return Err(e);
                }
            }
            if report.stopped.is_none() {
                let policy = request.content();
                match self
                    .prefetch_attachments(&mut slot, network, &folders, &policy, &budget, data_dir)
                    .await
                {
                    Ok((n, lent)) => {
                        report.attachments = n;
                        spent = spent.plus(&lent);
                    }
                    // The folders are synced: a failed prefetch is reported, not the sync's
                    // failure (what was downloaded stays resumable). A connection it left in
                    // doubt is not kept.
                    Err(e) => {
                        in_doubt_after = e.leaves_connection_unusable();
                        report.errors.push(("attachments".into(), e.to_string()));
                    }
                }
            }
            Ok(report)
        };
        let (result, cut) = match request.deadline {
            None => (run.await, false),
            // The sync stops itself at a clean point after the deadline; a network read that
            // hangs past it is cut here (what was committed stays, the rest waits).
            Some(deadline) => {
                match tokio::time::timeout_at((deadline + super::DEADLINE_GRACE).into(), run).await
                {
                    Ok(r) => (r, false),
                    Err(_) => (
                        Err(Error::Timeout {
                            during: "a sync past its deadline",
                        }),
                        true,
                    ),
                }
            }
        };
        *stale = result.is_err()
            && reused
            && slot
                .as_ref()
                .is_some_and(|l| l.meter().totals().read.iter().sum::<u64>() == read_before);
        // Bytes are booked whatever happened: they were spent.
        if let Some(lease) = slot.take() {
            let booked = if in_doubt_after {
                lease.finish(&Err::<(), _>(Error::ConnectionClosed)).await?
            } else {
                lease.finish(&result).await?
            };
            spent = spent.plus(&booked);
        }
        let mut report = if cut {
            SyncReport {
                stopped: Some(StopReason::Deadline),
                ..SyncReport::default()
            }
        } else {
            result?
        };
        report.bytes = spent;
        Ok(report)
    }

    /// Hands the connection to the user work waiting for it, then takes it back (or a new
    /// one) for the background work holding `slot`. Returns the bytes booked for `slot`'s
    /// lease.
    async fn lend(
        self: &Arc<Self>,
        slot: &mut Option<Lease>,
        network: NetworkKind,
        budget: &Budget,
    ) -> Result<WireTotals> {
        let spent = match slot.take() {
            Some(lease) => lease.finish(&Ok(())).await?,
            None => WireTotals::default(),
        };
        let lease = self.lease(Priority::Background, network).await?;
        budget.rebase(&lease.meter());
        *slot = Some(lease);
        Ok(spent)
    }

    /// Downloads the attachments the policy prefetches (newest messages, size bound) of the
    /// folders a sync just went through. Each lands under `<data dir>/attachments/<message
    /// id>/`. Returns how many finished and the bytes of leases given up on the way; a
    /// failure of one part is skipped (it stays resumable), a connection failure ends it.
    async fn prefetch_attachments(
        self: &Arc<Self>,
        slot: &mut Option<Lease>,
        network: NetworkKind,
        folders: &[String],
        policy: &ContentPolicy,
        budget: &Budget,
        data_dir: &std::path::Path,
    ) -> Result<(u32, WireTotals)> {
        let mut lent = WireTotals::default();
        let store = self.store();
        let mut done = 0;
        for item in sync::prefetch_candidates(store, self.id, folders, policy).await? {
            match budget.stop_reason() {
                None => {}
                Some(StopReason::Preempted) => {
                    lent = lent.plus(&self.lend(slot, network, budget).await?);
                }
                Some(_) => return Ok((done, lent)),
            }
            let Some(mut download) = sync::start_prefetch(store, data_dir, &item).await? else {
                continue;
            };
            let outcome = async {
                while !download.is_done() {
                    if budget.stop_reason() == Some(StopReason::Preempted) {
                        lent = lent.plus(&self.lend(slot, network, budget).await?);
                    }
                    // Chunks stay in flight until user work waits for the connection.
                    let keep_going = || budget.stop_reason() != Some(StopReason::Preempted);
                    download
                        .run(
                            session_of(slot)?,
                            store,
                            Purpose::Attachments,
                            None,
                            &keep_going,
                        )
                        .await?;
                }
                Ok::<(), Error>(())
            }
            .await;
            match outcome {
                Ok(()) => {
                    download.finish(store).await?;
                    done += 1;
                }
                // The connection or the disk failed: the pass ends. Anything else concerns
                // this part alone, which stays resumable.
                Err(e)
                    if e.leaves_connection_unusable()
                        || matches!(e, Error::Disk { .. } | Error::DiskFull { .. }) =>
                {
                    return Err(e);
                }
                Err(_) => {}
            }
        }
        Ok((done, lent))
    }

    /// Fetches and stores the readable `part` of a message: one round trip on a warm
    /// connection (EXAMINE rides in the same flight when another folder is selected).
    pub(crate) async fn fetch_body(
        self: &Arc<Self>,
        message: MessageId,
        location: &MessageLocation,
        detail: &MessageDetail,
        part: &PartDetail,
        network: NetworkKind,
    ) -> Result<Body> {
        let _first = self.urgent();
        let mut retried = false;
        loop {
            let mut lease = self.lease(Priority::User, network).await?;
            let reused = lease.reused;
            let result = match lease.session() {
                Ok(session) => {
                    sync::fetch_body(session, self.store(), message, location, detail, part).await
                }
                Err(e) => Err(e),
            };
            lease.finish(&result).await?;
            match result {
                Err(e) if e.is_dead_connection() && reused && !retried => retried = true,
                other => return other,
            }
        }
    }

    /// Downloads a part, chunks pipelined on a leased connection until other user work
    /// waits for it: the lease then ends once the chunks in flight are in, that work runs,
    /// and the download leases the connection again. Background work waits until it is
    /// done. A cancel stops at once (the chunk being read is lost, what was committed stays).
    pub(crate) async fn download(
        self: &Arc<Self>,
        mut download: Download,
        network: NetworkKind,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancellationToken,
    ) -> Result<PathBuf> {
        let _first = self.urgent();
        let store = self.store();
        let mut retried = false;
        while !download.is_done() {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let mut lease = self.lease(Priority::User, network).await?;
            let reused = lease.reused;
            let result = match lease.session() {
                Ok(session) => {
                    // This download's own urgent mark is one: more is user work waiting.
                    let urgent = self.urgent.clone();
                    let keep_going = move || urgent.load(Ordering::Acquire) <= 1;
                    tokio::select! {
                        r = download.run(session, store, Purpose::Attachments, listener, &keep_going) => r,
                        _ = cancel.cancelled() => Err(Error::Cancelled),
                    }
                }
                Err(e) => Err(e),
            };
            let outcome = match &result {
                Err(e) if in_doubt(e) => Err(Error::ConnectionClosed),
                _ => Ok(()),
            };
            lease.finish(&outcome).await?;
            match result {
                Ok(()) => retried = false,
                Err(e) if e.is_dead_connection() && reused && !retried => retried = true,
                Err(e) => return Err(e),
            }
        }
        download.finish(store).await
    }
}

/// The session of the lease in `slot`.
fn session_of(slot: &mut Option<Lease>) -> Result<&mut crate::imap::ImapSession> {
    match slot.as_mut() {
        Some(lease) => lease.session(),
        None => Err(Error::ConnectionClosed),
    }
}
