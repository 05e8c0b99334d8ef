//! anvert-ffi: the UniFFI layer. Small wrappers around `anvert-core` that Kotlin and Swift
//! call; no logic of its own. The one conversion from the core error lives in `error.rs`.

uniffi::setup_scaffolding!();

/// The version of the Anvert engine linked into this library.
#[uniffi::export]
pub fn anvert_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
