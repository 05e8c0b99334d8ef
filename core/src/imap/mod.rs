//! IMAP: a session over async-imap (connect, TLS, STARTTLS, login, capabilities, compression,
//! folders). Protocol only: it never touches the store and holds no app logic. Higher layers
//! get our own types, never async-imap's `Session`.

mod caps;
mod connect;
mod session;

pub use caps::Capabilities;
pub use connect::{ConnectOptions, connect};
pub use session::{Folder, ImapSession, SelectedFolder, SpecialUse};
