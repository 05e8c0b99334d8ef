use crate::connection::ConnectionState;
use crate::describe::Describe;
use crate::error::Error;
use crate::Sqlite;

/// Anvert's patch (ANVERT-PATCH.md): describing a query is what `sqlx::query!` does at compile
/// time, by running EXPLAIN and interpreting its program (`explain.rs`, about 47 KB of the
/// mobile library). Anvert never uses the query macros, and nothing else describes at run time.
pub(crate) fn describe(_conn: &mut ConnectionState, _query: &str) -> Result<Describe<Sqlite>, Error> {
    Err(Error::Protocol(
        "describing a query is not built into this sqlx-sqlite (Anvert's patch)".into(),
    ))
}
