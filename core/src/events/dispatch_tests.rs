#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::mpsc;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

/// A callback that blocks the dispatcher thread until the returned sender sends (or is
/// dropped); `entered` hears when it started.
fn blocker(dispatcher: &Dispatcher) -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (release, wait) = mpsc::channel::<()>();
    let (entered_tx, entered) = mpsc::channel::<()>();
    dispatcher.call(move || {
        entered_tx.send(()).unwrap();
        let _ = wait.recv_timeout(WAIT);
    });
    (release, entered)
}

/// Records what it is called with, and tells each call.
struct Recorder {
    calls: Mutex<Vec<(u64, u64)>>,
    tx: Mutex<mpsc::Sender<(u64, u64)>>,
}

impl ProgressListener for Recorder {
    fn progress(&self, done: u64, total: u64) {
        self.calls.lock().unwrap().push((done, total));
        self.tx.lock().unwrap().send((done, total)).unwrap();
    }
}

fn recorder() -> (Arc<Recorder>, mpsc::Receiver<(u64, u64)>) {
    let (tx, rx) = mpsc::channel();
    let r = Arc::new(Recorder {
        calls: Mutex::new(Vec::new()),
        tx: Mutex::new(tx),
    });
    (r, rx)
}

#[test]
fn callbacks_run_in_order_on_one_thread_that_is_not_the_callers() {
    let dispatcher = Dispatcher::new(4096).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..2000u32 {
        let tx = tx.clone();
        let f = move || {
            tx.send((i, thread::current().name().map(str::to_owned)))
                .unwrap()
        };
        if i % 3 == 0 {
            dispatcher.call(f);
        } else {
            dispatcher.try_call(f).unwrap();
        }
    }
    for i in 0..2000u32 {
        let (got, name) = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(got, i);
        assert_eq!(name.as_deref(), Some("anvert-events"));
    }
}

#[test]
fn a_blocked_consumer_bounds_the_queue_and_coalesces_progress() {
    let dispatcher = Dispatcher::new(8);
    let dispatcher = dispatcher.unwrap();
    let (release, entered) = blocker(&dispatcher);
    entered.recv_timeout(WAIT).unwrap();

    // Deltas: exactly the capacity is taken, the rest is refused, never queued.
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let mut refused = 0;
    for i in 0..80u32 {
        let d = delivered.clone();
        if dispatcher
            .try_call(move || d.lock().unwrap().push(i))
            .is_err()
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 72);
    assert_eq!(dispatcher.sender().has_room(), Some(false));
    // Progress: 100,000 updates hold one slot, and the listener gets the latest.
    let (listener, heard) = recorder();
    let progress = dispatcher.progress(listener.clone());
    for done in 1..=100_000u64 {
        progress.progress(done, 100_000);
    }
    {
        let state = dispatcher.sender.shared.lock();
        assert_eq!(
            state.queue.len(),
            8 + 1,
            "eight deltas and one progress slot"
        );
    }
    // The outcome after the progress: delivered after it.
    let (done_tx, done) = mpsc::channel();
    dispatcher.call(move || done_tx.send(()).unwrap());

    release.send(()).unwrap();
    done.recv_timeout(WAIT).unwrap();
    assert_eq!(*delivered.lock().unwrap(), (0..8).collect::<Vec<_>>());
    assert_eq!(heard.try_recv().unwrap(), (100_000, 100_000));
    assert_eq!(listener.calls.lock().unwrap().len(), 1);
    assert_eq!(dispatcher.sender().has_room(), Some(true));
}

#[test]
fn progress_is_never_delivered_after_a_later_callback() {
    let dispatcher = Dispatcher::new(4).unwrap();
    let (listener, _heard) = recorder();
    let progress = dispatcher.progress(listener.clone());
    let (release, entered) = blocker(&dispatcher);
    entered.recv_timeout(WAIT).unwrap();
    progress.progress(1, 10);
    let l = listener.clone();
    let (tx, rx) = mpsc::channel();
    dispatcher.call(move || tx.send(l.calls.lock().unwrap().clone()).unwrap());
    // Updated after the outcome was queued: still delivered in the progress's place.
    progress.progress(10, 10);
    release.send(()).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), vec![(10, 10)]);
}

#[tokio::test]
async fn room_is_announced_once_half_the_deltas_are_delivered() {
    let dispatcher = Dispatcher::new(4).unwrap();
    let (release, entered) = blocker(&dispatcher);
    entered.recv_timeout(WAIT).unwrap();
    for _ in 0..4 {
        dispatcher.try_call(|| {}).unwrap();
    }
    assert!(dispatcher.try_call(|| {}).is_err());
    let sender = dispatcher.sender();
    let waiting = tokio::spawn(async move { sender.room().await });
    release.send(()).unwrap();
    let room = tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap();
    assert!(room);
    assert!(dispatcher.try_call(|| {}).is_ok());
}

#[test]
fn the_thread_exits_when_the_dispatcher_is_dropped_without_waiting_for_it() {
    let dispatcher = Dispatcher::new(4).unwrap();
    let exited = dispatcher.exited();
    let sender = dispatcher.sender();
    let (release, entered) = blocker(&dispatcher);
    entered.recv_timeout(WAIT).unwrap();
    let (tx, rx) = mpsc::channel();
    sender.call(move || tx.send(()).unwrap());
    // Dropping returns while a callback is blocked; what was queued is still delivered.
    drop(dispatcher);
    assert!(!exited.wait_timeout(Duration::ZERO));
    release.send(()).unwrap();
    rx.recv_timeout(WAIT).unwrap();
    assert!(
        exited.wait_timeout(WAIT),
        "the dispatcher thread is still running"
    );
    // A producer that outlives it is harmless.
    assert_eq!(sender.try_call(|| {}), Err(Full));
    sender.call(|| panic!("called after the dispatcher was dropped"));
    assert_eq!(sender.has_room(), None);
}

#[test]
fn a_panicking_callback_does_not_stop_delivery() {
    let dispatcher = Dispatcher::new(4).unwrap();
    dispatcher.call(|| panic!("an app callback failing on purpose"));
    let (tx, rx) = mpsc::channel();
    dispatcher.call(move || tx.send(()).unwrap());
    rx.recv_timeout(WAIT).unwrap();
}
