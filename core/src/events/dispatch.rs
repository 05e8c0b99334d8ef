//! The dispatcher: one OS thread per engine that runs every app callback (watch events,
//! download progress, download outcomes, push stopped) in the order they were queued, so a
//! slow or blocking callback delays only later callbacks, never a sync or a download. It
//! must never block a producer: producers only take a short lock to queue.
//!
//! The queue is bounded. What happens when it is full depends on the kind of callback:
//! - a *delta* ([`Dispatcher::try_call`], a watch's change event) is refused; the watch
//!   marks itself overflowed and, once the queue is half empty again ([`Sender::room`]),
//!   sends a fresh snapshot instead of the lost deltas (see `watch.rs`);
//! - *progress* ([`Dispatcher::progress`]) is coalesced: each listener has one slot holding
//!   the latest `(done, total)` and at most one entry in the queue, whatever its rate;
//! - a *terminal* callback ([`Sender::call`]: a download's outcome, `PushStopped`) is
//!   always accepted: there is one per task the app started, so they are bounded by the
//!   app's own work, never by what a server sends.
//!
//! The thread starts with the dispatcher and exits when the dispatcher is dropped (after
//! delivering what was already queued); dropping never waits for the thread, so a callback
//! that drops the last handle of the engine cannot deadlock. A callback that panics is
//! caught and logged; the thread carries on.

use std::{
    collections::VecDeque,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
    time::Duration,
};

use tokio::sync::Notify;

use crate::{engine::ProgressListener, error::Result};

/// The default bound on queued deltas.
pub const DEFAULT_CAPACITY: usize = 1024;

/// A callback, run once on the dispatcher thread.
pub type Callback = Box<dyn FnOnce() + Send>;

/// A delta was refused: the queue holds its capacity of deltas (or the dispatcher is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Owns the dispatcher thread; dropping it stops the thread once the queue is drained.
pub struct Dispatcher {
    sender: Sender,
    exited: Exited,
}

/// A producer's handle on the queue. Cheap to clone; outliving the [`Dispatcher`] is
/// harmless (what it queues then is dropped, uncalled).
#[derive(Clone)]
pub struct Sender {
    shared: Arc<Shared>,
}

/// Tells when the dispatcher thread has exited.
#[derive(Clone)]
pub struct Exited(Arc<(Mutex<bool>, Condvar)>);

struct Shared {
    state: Mutex<State>,
    /// Wakes the thread: a job was queued, or the dispatcher closed.
    work: Condvar,
    /// Wakes watches waiting to resync: the queue has room again.
    room: Notify,
    capacity: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Deltas in `queue`: at most `capacity`.
    deltas: usize,
    /// A delta was refused since the last time room was announced.
    refused: bool,
    closed: bool,
}

enum Job {
    Delta(Callback),
    Terminal(Callback),
    Progress(Arc<ProgressSlot>),
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("capacity", &self.sender.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Starts the dispatcher thread; at most `capacity` deltas wait in its queue (at least 1).
    pub fn new(capacity: usize) -> Result<Dispatcher> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            room: Notify::new(),
            capacity: capacity.max(1),
        });
        let exited = Exited(Arc::new((Mutex::new(false), Condvar::new())));
        let (thread_shared, thread_exited) = (shared.clone(), exited.clone());
        thread::Builder::new()
            .name("anvert-events".into())
            .spawn(move || {
                run(&thread_shared);
                thread_exited.set();
            })?;
        Ok(Dispatcher {
            sender: Sender { shared },
            exited,
        })
    }

    /// A handle for producers (watches, downloads).
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Queues a delta; refused when the queue is full. See [`Sender::try_call`].
    pub fn try_call(&self, callback: impl FnOnce() + Send + 'static) -> Result<(), Full> {
        self.sender.try_call(callback)
    }

    /// Queues a terminal callback. See [`Sender::call`].
    pub fn call(&self, callback: impl FnOnce() + Send + 'static) {
        self.sender.call(callback);
    }

    /// Wraps `listener` so that it is called on the dispatcher thread, coalesced. See
    /// [`Sender::progress`].
    pub fn progress(&self, listener: Arc<dyn ProgressListener>) -> Arc<dyn ProgressListener> {
        self.sender.progress(listener)
    }

    /// Tells when the thread has exited (after this dispatcher is dropped).
    pub fn exited(&self) -> Exited {
        self.exited.clone()
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        let mut state = self.sender.shared.lock();
        state.closed = true;
        drop(state);
        self.sender.shared.work.notify_all();
        // Watches waiting for room learn that none will come.
        self.sender.shared.room.notify_waiters();
    }
}

impl Sender {
    /// Queues a delta, unless `capacity` deltas are already queued (or the dispatcher is
    /// gone): then the caller must account for the loss (a watch resyncs).
    pub fn try_call(&self, callback: impl FnOnce() + Send + 'static) -> Result<(), Full> {
        let mut state = self.shared.lock();
        if state.closed || state.deltas >= self.shared.capacity {
            state.refused = true;
            return Err(Full);
        }
        state.deltas += 1;
        state.queue.push_back(Job::Delta(Box::new(callback)));
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Queues a terminal callback (one per task: a download's outcome, push stopped), past
    /// the capacity if need be. Dropped uncalled once the dispatcher is gone.
    pub fn call(&self, callback: impl FnOnce() + Send + 'static) {
        self.push(Job::Terminal(Box::new(callback)));
    }

    /// Wraps `listener` so that its calls are queued here instead of made by the caller: the
    /// latest `(done, total)` is kept, and one entry at most waits in the queue, so a
    /// download never waits for the app and a blocked listener costs one slot.
    pub fn progress(&self, listener: Arc<dyn ProgressListener>) -> Arc<dyn ProgressListener> {
        Arc::new(QueuedProgress {
            slot: Arc::new(ProgressSlot {
                listener,
                latest: Mutex::new(Latest::default()),
            }),
            sender: self.clone(),
        })
    }

    /// Whether a watch that lost deltas may resync now: the queue is at most half full of
    /// deltas (so a resync is not refused at once again). `None`: the dispatcher is gone.
    pub fn has_room(&self) -> Option<bool> {
        let state = self.shared.lock();
        (!state.closed).then_some(state.deltas <= self.shared.capacity / 2)
    }

    /// Waits until [`Sender::has_room`] is true; `false` when the dispatcher is gone.
    pub async fn room(&self) -> bool {
        loop {
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                // Checked and flagged under one lock: the thread announces room only when a
                // refusal is flagged, so a flag set after its last pop would never be heard.
                let mut state = self.shared.lock();
                if state.closed {
                    return false;
                }
                if state.deltas <= self.shared.capacity / 2 {
                    return true;
                }
                state.refused = true;
            }
            // Announced by the thread when it has taken deltas down to half.
            notified.await;
        }
    }

    /// The capacity of deltas.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    fn push(&self, job: Job) {
        let mut state = self.shared.lock();
        if state.closed {
            return;
        }
        state.queue.push_back(job);
        drop(state);
        self.shared.work.notify_one();
    }
}

impl Shared {
    /// The state, also when a panic elsewhere poisoned the lock: every holder makes one
    /// push, pop or assignment, which leaves it whole.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| {
            tracing::warn!("a panic poisoned the event queue's lock; carrying on with it");
            poisoned.into_inner()
        })
    }
}

impl Exited {
    /// Waits up to `timeout` for the thread to exit; whether it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.0;
        let done = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (done, _) = cvar
            .wait_timeout_while(done, timeout, |done| !*done)
            .unwrap_or_else(|p| p.into_inner());
        *done
    }

    fn set(&self) {
        let (lock, cvar) = &*self.0;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
    }
}

/// The thread: takes jobs one at a time and runs each outside the lock, until the
/// dispatcher is closed and the queue is empty.
fn run(shared: &Shared) {
    loop {
        let job = {
            let mut state = shared.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                if state.closed {
                    return;
                }
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let callback: Callback = match job {
            Job::Delta(callback) => {
                let mut state = shared.lock();
                state.deltas = state.deltas.saturating_sub(1);
                let announce = state.refused && state.deltas <= shared.capacity / 2;
                if announce {
                    state.refused = false;
                }
                drop(state);
                if announce {
                    shared.room.notify_waiters();
                }
                callback
            }
            Job::Terminal(callback) => callback,
            Job::Progress(slot) => Box::new(move || slot.deliver()),
        };
        if catch_unwind(AssertUnwindSafe(callback)).is_err() {
            tracing::warn!("an app callback panicked; later callbacks are still delivered");
        }
    }
}

/// One progress listener's latest value and whether it waits in the queue.
struct ProgressSlot {
    listener: Arc<dyn ProgressListener>,
    latest: Mutex<Latest>,
}

#[derive(Default)]
struct Latest {
    value: Option<(u64, u64)>,
    queued: bool,
}

impl ProgressSlot {
    fn latest(&self) -> MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// On the thread: the latest value, if any, to the listener.
    fn deliver(&self) {
        let value = {
            let mut latest = self.latest();
            latest.queued = false;
            latest.value.take()
        };
        if let Some((done, total)) = value {
            self.listener.progress(done, total);
        }
    }
}

/// What the download loop calls: records the value and queues the slot once.
struct QueuedProgress {
    slot: Arc<ProgressSlot>,
    sender: Sender,
}

impl ProgressListener for QueuedProgress {
    fn progress(&self, done: u64, total: u64) {
        let mut latest = self.slot.latest();
        latest.value = Some((done, total));
        if !latest.queued {
            latest.queued = true;
            // Lock order: slot, then queue; the thread never holds both.
            self.sender.push(Job::Progress(self.slot.clone()));
        }
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
