//! Conversions between Rust values and SQLite columns: unsigned integers into INTEGER (i64)
//! without wrapping, and the small JSON lists (addresses, keywords, references) that live in
//! TEXT columns. It runs no SQL.

use serde::{Serialize, Serializer};
use sqlx::{Row, sqlite::SqliteRow};

use super::{invalid, messages::Address};
use crate::Result;

/// A u64 as an SQLite INTEGER. Real servers keep MODSEQ and byte counts far below 2^63; a
/// larger value is refused rather than wrapped into a negative number.
pub(super) fn int_u64(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| invalid(format!("{what} {value} does not fit the store")))
}

/// An INTEGER column read back as u32; anything else means the file was altered outside us.
pub(super) fn col_u32(row: &SqliteRow, column: &'static str) -> Result<u32> {
    let value: i64 = col(row, column)?;
    u32::try_from(value).map_err(|_| invalid(format!("column {column} holds {value}, not a u32")))
}

/// A nullable INTEGER column read back as `Option<u32>`.
pub(super) fn col_opt_u32(row: &SqliteRow, column: &'static str) -> Result<Option<u32>> {
    let value: Option<i64> = col(row, column)?;
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| invalid(format!("column {column} holds {v}, not a u32")))
        })
        .transpose()
}

/// An INTEGER column read back as u64.
pub(super) fn col_u64(row: &SqliteRow, column: &'static str) -> Result<u64> {
    let value: i64 = col(row, column)?;
    u64::try_from(value).map_err(|_| invalid(format!("column {column} holds {value}, not a u64")))
}

/// A nullable INTEGER column read back as `Option<u64>`.
pub(super) fn col_opt_u64(row: &SqliteRow, column: &'static str) -> Result<Option<u64>> {
    let value: Option<i64> = col(row, column)?;
    value
        .map(|v| {
            u64::try_from(v).map_err(|_| invalid(format!("column {column} holds {v}, not a u64")))
        })
        .transpose()
}

/// Any column, with the column name in the error.
pub(super) fn col<'r, T>(row: &'r SqliteRow, column: &'static str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(|source| crate::Error::Store {
        reason: format!("could not read column {column}"),
        source: Some(source),
    })
}

/// Serializes a list of addresses as `[[name-or-null, email], ...]`.
pub(super) struct AddressList<'a>(pub &'a [Address]);

impl Serialize for AddressList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|a| (a.name.as_deref(), a.email.as_str())))
    }
}

/// Reads an address list column written through [`AddressList`].
pub(super) fn col_addresses(row: &SqliteRow, column: &'static str) -> Result<Vec<Address>> {
    let text: &str = col(row, column)?;
    let pairs: Vec<(Option<String>, String)> = serde_json::from_str(text)
        .map_err(|_| invalid(format!("column {column} is not an address list")))?;
    Ok(pairs
        .into_iter()
        .map(|(name, email)| Address { name, email })
        .collect())
}

/// Reads a JSON array of strings (keywords, references).
pub(super) fn col_strings(row: &SqliteRow, column: &'static str) -> Result<Vec<String>> {
    let text: &str = col(row, column)?;
    serde_json::from_str(text).map_err(|_| invalid(format!("column {column} is not a string list")))
}

/// Serializes a batch for a `json_each` parameter.
pub(super) fn batch_json<T: Serialize + ?Sized>(batch: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(batch).map_err(|_| invalid(format!("could not encode {what}")))
}
