//! Reading files into a table: CSV, NDJSON / JSON, Parquet and Arrow IPC, each turned into
//! record batches with exactly the table's schema, ready for [`Table::insert`](crate::Table::insert).
//!
//! This is how data from outside enters the engine, so it lives in the engine, where any program
//! (the `tableshare` binary, an embedding application, a test) can call it and get the same
//! rules. Those rules are the table model's [`fit_batch`] with checked casts and null filling:
//! columns are matched by name, so a file may hold them in any order; a table column the file
//! lacks is filled with nulls (if nullable); a column the table lacks is an error naming it;
//! values are converted to the table's types and a value that does not fit is an error, never a
//! silent null. Everything is read and checked before the caller writes anything, so bad input
//! leaves a table untouched.
//!
//! CSV and JSON text is parsed straight into the table's types (the file's header names the
//! columns); Parquet and Arrow IPC files carry their own types and are cast.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_schema::{DataType, Field, Schema};
//! use tableshare_storage::{ImportError, InputFormat, read_from};
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("name", DataType::Utf8, true),
//! ]));
//! let batches = read_from(&b"name,id\nAlice,1\nBob,2\n"[..], InputFormat::Csv, &schema)?;
//! assert_eq!(batches[0].schema(), schema);
//! assert_eq!(batches[0].num_rows(), 2);
//!
//! let unknown = read_from(&b"id,colour\n1,red\n"[..], InputFormat::Csv, &schema);
//! assert!(unknown.unwrap_err().to_string().contains("do not fit"));
//! # Ok::<(), ImportError>(())
//! ```

mod error;
mod formats;

use std::io::Read;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use tableshare_core::{CastMode, FitOptions, fit_batch};

pub use error::ImportError;

/// How imported rows are fitted to the table: checked casts, missing nullable columns filled.
const IMPORT: FitOptions = FitOptions::new(CastMode::Safe, true);

/// The file formats [`read_file`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputFormat {
    /// Comma-separated values with a header row naming the columns.
    Csv,
    /// One JSON object per line, or one JSON array of objects.
    Json,
    /// Apache Parquet.
    Parquet,
    /// The Arrow IPC file format (with footer) or stream format.
    Arrow,
}

impl InputFormat {
    /// The format a path's extension names: `.csv`; `.json`, `.ndjson`, `.jsonl`; `.parquet`,
    /// `.pq`; `.arrow`, `.arrows`, `.ipc`, `.feather`. `None` for anything else.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" => Self::Csv,
            "json" | "ndjson" | "jsonl" => Self::Json,
            "parquet" | "pq" => Self::Parquet,
            "arrow" | "arrows" | "ipc" | "feather" => Self::Arrow,
            _ => return None,
        })
    }

    /// The format's name in messages (`CSV`, `JSON`, `Parquet`, `Arrow IPC`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Json => "JSON",
            Self::Parquet => "Parquet",
            Self::Arrow => "Arrow IPC",
        }
    }
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads the file at `path` (its format chosen by [`InputFormat::from_path`]) into batches
/// with exactly `schema`. The whole file is read into memory first.
///
/// # Errors
///
/// [`ImportError::UnknownFormat`] for an extension no format claims, [`ImportError::Io`] if the
/// file cannot be read, and the errors of [`read_from`].
pub fn read_file(path: &Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>, ImportError> {
    let format = InputFormat::from_path(path).ok_or_else(|| ImportError::UnknownFormat {
        path: path.to_owned(),
    })?;
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        what: path.display().to_string(),
        source,
    })?;
    read_from(file, format, schema)
}

/// Reads `input` in `format` (standard input, a network body, bytes in memory) into batches
/// with exactly `schema`. The whole input is read into memory first.
///
/// # Errors
///
/// [`ImportError::Io`] if reading fails, [`ImportError::NoHeader`] for a CSV without a header
/// row, [`ImportError::Decode`] / [`ImportError::Parquet`] / [`ImportError::JsonArray`] for
/// contents that are not valid in `format` (including CSV or JSON text that does not parse as
/// its column's type), [`ImportError::DoesNotFit`] for rows that do not fit `schema`.
pub fn read_from(
    mut input: impl Read,
    format: InputFormat,
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>, ImportError> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|source| ImportError::Io {
            what: format!("{format} input"),
            source,
        })?;
    let bytes = Bytes::from(bytes);
    let batches = match format {
        InputFormat::Csv => formats::read_csv(bytes, schema)?,
        InputFormat::Json => formats::read_json(bytes, schema)?,
        InputFormat::Parquet => formats::read_parquet(bytes)?,
        InputFormat::Arrow => formats::read_arrow(bytes)?,
    };
    batches
        .iter()
        .map(|batch| fit_batch(schema, batch, &IMPORT))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ImportError::DoesNotFit { source })
}

#[cfg(test)]
mod tests;
