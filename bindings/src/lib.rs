//! anvert-ffi: the UniFFI layer. Small wrappers around `anvert-core` that Kotlin and Swift
//! call; no logic of its own. The one conversion from the core error lives in `error.rs`.
//!
//! Threads: the engine owns one tokio runtime (two workers); every exported call runs its
//! work there and is awaited through an abort-on-drop handle, so a cancelled coroutine or
//! Swift task cancels the Rust work. (UniFFI's `async_runtime = "tokio"` is not used: it
//! would start async-compat's own hidden runtime thread, a second runtime.) Panics are
//! caught at that boundary and become `AnvertError.Other`, never an abort.
//! Listeners are called on one more thread per engine, the core's event dispatcher
//! (`anvert_core::events`), never on the runtime's workers.

mod charsets;
mod engine;
mod error;
mod events;
mod logging;
mod search;
mod send;
mod tasks;
mod types;

pub use charsets::{CharsetDecoder, set_charset_decoder};
pub use engine::{DownloadListener, Engine, EngineConfig, TokenProvider};
pub use error::AnvertError;
pub use events::{DropReason, MailEvent, MailListener};
pub use logging::{LogLevel, Logger, set_logger};
pub use search::{SearchCursor, SearchPage, SearchQuery};
pub use send::{
    OutboxItem, OutboxState, RejectedRecipient, SendFailure, SendReport, SubmissionServer,
};
pub use tasks::TaskHandle;
pub use types::*;

uniffi::setup_scaffolding!();

/// The version of the Anvert engine linked into this library.
#[uniffi::export]
pub fn anvert_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Proves the panic barrier: panics inside the engine's runtime (here, on purpose) and
/// returns the resulting error instead of aborting the app. For the bindings' own tests and
/// an app's integration tests; it touches nothing.
#[uniffi::export]
pub async fn danger_test_panic_barrier(message: String) -> Result<(), AnvertError> {
    let rt = tasks::runtime()?;
    let result = tasks::run(&rt, async move {
        if !message.is_empty() {
            panic!("{message}");
        }
        Ok(())
    })
    .await;
    rt.shutdown_background();
    result
}
