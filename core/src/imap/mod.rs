//! IMAP: a session over async-imap (connect, TLS, STARTTLS, login, capabilities, compression,
//! folders). Protocol only: it never touches the store and holds no app logic. Higher layers
//! get our own types, never async-imap's `Session`.

mod auth;
mod body;
mod caps;
mod chunks;
mod connect;
mod cork;
mod create;
mod criteria;
mod doctor;
mod examine;
mod exchange;
mod fetch;
#[cfg(test)]
mod fuzz_tests;
mod guard;
mod idle;
mod lemonade;
#[cfg(test)]
mod lemonade_tests;
mod liveness;
mod mutf7;
mod mailbox_cmd;
mod objectid;
mod recover;
mod search;
mod session;
mod store_cmd;
#[cfg(test)]
mod transcript_tests;
pub mod url;
#[cfg(test)]
mod wire_tests;

pub use body::{Prefetched, SectionData, SectionRequest, uid_set, valid_section};
pub use caps::Capabilities;
pub use chunks::{ChunkAnswer, ChunkFlight, ChunkRequest};
pub use connect::{ConnectOptions, connect};
pub use criteria::{Criteria, FlagCondition, QUERY_FIELD_MAX, SearchQuery, SearchSupport};
pub use doctor::{PreLogin, pre_login};
pub use exchange::{Completion, UidPlusCode};
pub use fetch::{EnvelopeInfo, FlagUpdate, MessageHeaders, SummaryFetch, SummaryItems, Window};
pub use idle::IdleOutcome;
pub use mutf7::decode_mutf7;
pub use lemonade::{BADURL, CatPart, MAX_PARTS, MAX_URL, OwnedCatPart, TOOBIG};
pub use mailbox_cmd::{AppendOutcome, Expunged, MoveOutcome};
pub use objectid::{IdFetch, MessageIds, OBJECTID_MAX, object_id};
pub use recover::{MessageRange, SeqSet};
pub use session::{
    Access, Folder, FolderStatus, ImapSession, QresyncParams, SelectedFolder, SpecialUse,
};
pub use store_cmd::{StoreCommand, StoreOutcome};
