//! The engine: the public Rust API (accounts, sync requests, queries, downloads) that the
//! bindings wrap one to one. It schedules nothing by itself: the app asks, the engine does.
