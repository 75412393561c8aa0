//! [`ImportError`]: why a file could not be read into a table. Every cause is bad input (the
//! file, its contents or its fit to the table), which a command line reports as such; the
//! underlying reader's error stays reachable as the `source`.

use std::path::PathBuf;

use super::InputFormat;

/// Why reading rows for a table failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file's extension names no format [`read_file`](crate::read_file) reads.
    #[error(
        "cannot tell the format of `{}` from its extension (use .csv, .json, .ndjson, .parquet or .arrow)",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// The file or input could not be read.
    #[error("could not read {what}")]
    Io {
        /// The file's path, or which input.
        what: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },

    /// A CSV input without a header row naming its columns.
    #[error("the CSV has no header row naming its columns")]
    NoHeader,

    /// A `.json` input that starts like a JSON array but is not an array of objects.
    #[error("the input is not a JSON array of objects")]
    JsonArray {
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },

    /// The contents are not valid in the format, or a CSV / JSON value does not parse as its
    /// column's type (the source names the value and line).
    #[error("could not decode the {format} input")]
    Decode {
        /// The format being read.
        format: InputFormat,
        /// Arrow's reader error.
        #[source]
        source: arrow_schema::ArrowError,
    },

    /// The Parquet contents could not be decoded.
    #[error("could not decode the Parquet input")]
    Parquet {
        /// Parquet's error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// The rows read do not fit the table: a column it lacks, a required column missing, a value
    /// that does not convert to its column's type.
    #[error("the rows do not fit the table")]
    DoesNotFit {
        /// The table model's fitting error, naming the column.
        #[source]
        source: tableshare_core::CoreError,
    },
}
