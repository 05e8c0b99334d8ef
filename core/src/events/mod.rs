//! Events for the app, delivered off the runtime: the [`Dispatcher`], one OS thread per
//! engine that runs every app callback from a bounded queue (so a slow or blocking callback
//! delays only later callbacks, never a sync or a download), and the watch model
//! ([`Watches`], [`Watch`]): snapshot first, then the deltas in scope in commit order, a
//! fresh snapshot in place of deltas lost to a full queue, `PushStopped` last. Download
//! progress goes through [`Dispatcher::progress`], coalesced to the latest value.
//!
//! This module only reads the store (snapshots, re-queries) and never drives a protocol
//! session; the bindings keep only conversions to their own types and adapters for the
//! app's listeners, so Kotlin and Swift get the same behaviour.

mod dispatch;
mod watch;

pub use dispatch::{Callback, DEFAULT_CAPACITY, Dispatcher, Exited, Full, Sender};
pub use watch::{Watch, WatchEvent, WatchListener, WatchScope, WatchStop, Watches};
