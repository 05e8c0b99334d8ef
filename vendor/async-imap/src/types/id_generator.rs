use imap_proto::RequestId;

/// Request ID generator.
///
/// Anvert patch: the counter never wraps (upstream reused `A0001` after `A9999`), and it can
/// be carried to a new `Client` or `Session` on the same connection (STARTTLS, COMPRESS), so
/// a tag is never used twice on one connection (RFC 3501 §2.2.1).
#[derive(Debug, Default)]
pub struct IdGenerator {
    /// How many IDs were handed out.
    next: u64,
}

impl IdGenerator {
    /// Creates a new request ID generator.
    pub fn new() -> Self {
        Self { next: 0 }
    }

    /// How many IDs were handed out so far.
    pub fn issued(&self) -> u64 {
        self.next
    }

    /// A generator that continues after `issued` IDs.
    pub fn continuing(issued: u64) -> Self {
        Self { next: issued }
    }
}

impl Iterator for IdGenerator {
    type Item = RequestId;
    fn next(&mut self) -> Option<Self::Item> {
        self.next += 1;
        Some(RequestId(format!("A{:04}", self.next)))
    }
}
