//! The one error type of the table model.
//!
//! Every crate above this one builds tables, updates and subscriptions out of the types in this
//! crate, so the failures here are the vocabulary the rest of the workspace wraps: a storage
//! commit that adds a key twice, a wire message whose column has the wrong type, a definition that
//! does not fit what a worker serves. Each variant names what went wrong and carries the context
//! (column, key, step) needed to act on it; underlying errors stay reachable through
//! [`std::error::Error::source`] rather than being flattened into strings.
//!
//! `Display` describes this layer only and does not repeat the source's message (the convention
//! of the Rust API guidelines), so an error report that walks the source chain reads each cause
//! once.

use std::error::Error as StdError;
use std::sync::Arc;

use arrow_schema::{ArrowError, DataType, SchemaRef};

use crate::row_set::RowKey;
use crate::update::Step;

/// The result type of this crate: `Result<T, CoreError>` unless told otherwise.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the table model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A column was named that the schema does not have.
    #[error("unknown column `{column}`")]
    UnknownColumn {
        /// The name that was not found.
        column: String,
    },

    /// A column name appears twice where names must be unique (a schema, a projection, the
    /// column changes of one update).
    #[error("column `{column}` appears more than once")]
    DuplicateColumn {
        /// The repeated name.
        column: String,
    },

    /// A column that a definition or a table requires is absent.
    #[error("column `{column}` is missing")]
    MissingColumn {
        /// The absent column.
        column: String,
    },

    /// A column exists but holds a different Arrow type than required.
    #[error("column `{column}` has type {found}, expected {expected}")]
    ColumnTypeMismatch {
        /// The column.
        column: String,
        /// The type the table or definition requires.
        expected: DataType,
        /// The type that was supplied.
        found: DataType,
    },

    /// Null values were supplied for a column declared non-nullable.
    #[error("column `{column}` is not nullable but {nulls} supplied values are null")]
    NullInNonNullableColumn {
        /// The column.
        column: String,
        /// How many supplied values were null.
        nulls: usize,
    },

    /// Two updates that were to be combined do not share a schema.
    #[error("updates with different schemas cannot be combined: [{expected}] versus [{found}]")]
    SchemaMismatch {
        /// The schema of the earlier update.
        expected: SchemaRef,
        /// The schema of the later update.
        found: SchemaRef,
    },

    /// An update removes or modifies a row the table does not hold.
    #[error("row key {key} is not in the table")]
    KeyNotPresent {
        /// The absent key.
        key: RowKey,
    },

    /// An update adds a row under a key the table already holds (and does not remove in the same
    /// step).
    #[error("row key {key} is already in the table")]
    DuplicateKey {
        /// The key that is already present.
        key: RowKey,
    },

    /// Row keys that must be strictly ascending are not.
    #[error(
        "row keys must be strictly ascending: key {key} at position {position} follows {previous}"
    )]
    KeysNotAscending {
        /// Position of the offending key.
        position: usize,
        /// The key before it.
        previous: RowKey,
        /// The offending key.
        key: RowKey,
    },

    /// A list of row keys and the rows it labels have different lengths.
    #[error("{keys} row keys label {rows} rows")]
    RowCountMismatch {
        /// Number of keys.
        keys: usize,
        /// Number of rows (or values).
        rows: usize,
    },

    /// A column change touches a row that the same update adds. Values of freshly added rows
    /// belong in the added batch.
    #[error("the change of column `{column}` touches row {key}, which the same update adds")]
    ModifiedAddedRow {
        /// The changed column.
        column: String,
        /// The row key.
        key: RowKey,
    },

    /// A column change touches a row that the same update removes.
    #[error("the change of column `{column}` touches row {key}, which the same update removes")]
    ModifiedRemovedRow {
        /// The changed column.
        column: String,
        /// The row key.
        key: RowKey,
    },

    /// A blink table was asked to modify rows: every step of a blink table replaces all rows, so
    /// there is nothing to modify.
    #[error("a blink table cannot modify rows (column `{column}`): every step replaces all rows")]
    BlinkModification {
        /// A column the rejected update changes.
        column: String,
    },

    /// Updates were combined or applied out of order.
    #[error("step {next} cannot follow step {previous}")]
    StepOrder {
        /// The step already reached.
        previous: Step,
        /// The step that was offered next.
        next: Step,
    },

    /// A schema change does not name one source (or `None`) per column of its new schema.
    #[error("a schema change of {columns} columns names {sources} sources")]
    SourceCountMismatch {
        /// Columns of the new schema.
        columns: usize,
        /// Sources given.
        sources: usize,
    },

    /// A reader asked to resume from a step the table has not reached.
    #[error("step {step} is ahead of the table's step {current}")]
    StepAhead {
        /// The step the reader claims to hold.
        step: Step,
        /// The table's current step.
        current: Step,
    },

    /// A counter (the step or the next row key) would pass `u64::MAX`.
    #[error("the {counter} counter would overflow")]
    CounterOverflow {
        /// Which counter.
        counter: &'static str,
    },

    /// The table was put into the failed state; the cause is the source. Snapshots, subscribers
    /// and writers of a failed table all see this error. The cause is shared (`Arc`) so that
    /// every reader can hold it.
    #[error("the table failed")]
    TableFailed {
        /// Why the table failed, as given to [`LiveTable::fail`](crate::LiveTable::fail).
        source: Arc<dyn StdError + Send + Sync>,
    },

    /// An Arrow kernel failed.
    #[error("arrow failed while {operation}")]
    Arrow {
        /// What this crate was doing.
        operation: &'static str,
        /// The Arrow error.
        source: ArrowError,
    },

    /// A [`RowSet`](crate::RowSet) could not be written or read in the roaring format.
    #[error("could not {operation} a row set")]
    RowSetEncoding {
        /// `"serialize"` or `"deserialize"`.
        operation: &'static str,
        /// The IO or format error.
        source: std::io::Error,
    },

    /// A stored [`TableDefinition`](crate::TableDefinition) names a type that cannot be parsed.
    #[error("column `{column}` has the unparseable type `{type_name}`")]
    InvalidDataType {
        /// The column.
        column: String,
        /// The type as written.
        type_name: String,
        /// The parse error.
        source: ArrowError,
    },

    /// A column could not be cast to the type its table requires (see
    /// [`fit_batch`](crate::fit_batch)): a value does not fit (`"x"` as a number, an overflow) or
    /// Arrow has no cast between the two types.
    #[error("column `{column}` holds {from} values that do not convert to {to}")]
    CastFailed {
        /// The column.
        column: String,
        /// The type supplied.
        from: DataType,
        /// The type the table requires.
        to: DataType,
        /// Arrow's cast error, naming the value that does not fit (boxed, so that this variant
        /// is no larger than the others).
        source: Box<ArrowError>,
    },
}

impl CoreError {
    /// Wraps an Arrow error with what this crate was doing when it happened.
    pub(crate) fn arrow(operation: &'static str) -> impl FnOnce(ArrowError) -> CoreError {
        move |source| CoreError::Arrow { operation, source }
    }
}
