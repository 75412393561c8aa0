//! The table manifest: the one immutable JSON document that *is* a table version.
//!
//! A manifest lists everything a reader needs for its version: the schema (with stable column
//! ids, so renamed and dropped columns keep working), the next row key, and per data file its
//! size, row count, key range, BLAKE3 hash, the column ids it holds, and its deletion vector.
//! docs/format.md describes every field; the struct here is the authority.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CorruptReason, Result, StorageError};

/// The manifest format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Field metadata key holding a column's stable id.
pub(crate) const COLUMN_ID_KEY: &str = "tableshare:column_id";

/// Name of the hidden row-key column in every data file.
pub const ROW_KEY_COLUMN: &str = "_row_key";

/// What a version did, as recorded in its manifest and shown by [`history`](crate::Table::history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// The table was created (version 0).
    Create,
    /// Rows were appended.
    Insert {
        /// How many rows.
        rows: u64,
        /// Data files of a background compaction's merge that this version commits with the
        /// append (replaced by the merged files; rows and values unchanged); 0 when none.
        #[serde(default, skip_serializing_if = "is_zero")]
        files_compacted: u64,
    },
    /// Values of selected rows were replaced.
    Update {
        /// How many rows.
        rows: u64,
        /// The changed columns (names at the time of the update).
        columns: Vec<String>,
    },
    /// Selected rows were deleted.
    Delete {
        /// How many rows.
        rows: u64,
    },
    /// A nullable column was added.
    AddColumn {
        /// Its name.
        name: String,
    },
    /// A column was dropped.
    DropColumn {
        /// Its name.
        name: String,
    },
    /// A column was renamed.
    RenameColumn {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Small data files were rewritten into fewer files (their live rows, same keys and
    /// values; rows deleted by deletion vectors are dropped). Rows and values are unchanged.
    Compact {
        /// Files rewritten.
        files_rewritten: u64,
        /// Files written in their place.
        files_written: u64,
    },
    /// The latest version was undone: this version has the content of `to_version`.
    Revert {
        /// The version whose content this version restores.
        to_version: u64,
        /// The version that was undone.
        reverted_version: u64,
    },
}

impl Operation {
    /// A short lowercase name (`insert`, `rename_column`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Insert { .. } => "insert",
            Self::Update { .. } => "update",
            Self::Delete { .. } => "delete",
            Self::AddColumn { .. } => "add_column",
            Self::DropColumn { .. } => "drop_column",
            Self::RenameColumn { .. } => "rename_column",
            Self::Compact { .. } => "compact",
            Self::Revert { .. } => "revert",
        }
    }

    /// Whether the operation changes the schema.
    pub fn changes_schema(&self) -> bool {
        matches!(
            self,
            Self::AddColumn { .. } | Self::DropColumn { .. } | Self::RenameColumn { .. }
        )
    }
}

/// A deletion vector: the row keys of one data file that are deleted at this version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeletionVectorEntry {
    /// Relative to the table directory (`dv/<blake3>-<nonce>.roaring`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the bytes, lowercase hex.
    pub blake3: String,
    /// How many keys it deletes.
    pub cardinality: u64,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One data file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DataFileEntry {
    /// Relative to the table directory (`data/<blake3>-<nonce>.parquet`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Rows stored (deleted ones included).
    pub rows: u64,
    /// The smallest row key stored.
    pub key_min: u64,
    /// The largest row key stored.
    pub key_max: u64,
    /// BLAKE3 of the whole file, lowercase hex.
    pub blake3: String,
    /// Column ids of the file's data columns in file order (after `_row_key`).
    pub columns: Vec<u32>,
    /// The file's deletion vector at this version, if any of its rows are deleted.
    pub deletion_vector: Option<DeletionVectorEntry>,
    /// The file's verified tail (page indexes and footer), whose footer holds the BLAKE3 of
    /// every column chunk, so ranged reads are verified before decoding. `None` for files
    /// written before range hashes existed: those are read and verified whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<TailEntry>,
}

/// Where a data file's tail starts and its BLAKE3: the root of the file's range hashes
/// (docs/format.md, "Range hashes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TailEntry {
    /// Offset of the first byte after the last column chunk.
    pub offset: u64,
    /// BLAKE3 of the bytes from `offset` to the end of the file.
    pub blake3: String,
}

impl DataFileEntry {
    /// Rows of the file still live at this version.
    pub fn live_rows(&self) -> u64 {
        self.rows - self.deletion_vector.as_ref().map_or(0, |dv| dv.cardinality)
    }

    /// Estimated bytes of the file's live rows (its size scaled by the live fraction): what
    /// the compaction policy compares with the small-file threshold.
    pub(crate) fn live_bytes(&self) -> u64 {
        if self.rows == 0 {
            return 0;
        }
        let live = u128::from(self.size) * u128::from(self.live_rows()) / u128::from(self.rows);
        u64::try_from(live).unwrap_or(u64::MAX)
    }

    /// Whether the file's keys are exactly `key_min..=key_max` (true for appended files), so its
    /// key set is known without reading it.
    pub fn keys_are_dense(&self) -> bool {
        self.rows > 0 && self.key_max - self.key_min + 1 == self.rows
    }
}

/// One table version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TableManifest {
    /// The format version that wrote it (a reader refuses newer ones).
    pub format_version: u32,
    /// The id of the table that first wrote the chain (replicas keep the upstream id).
    pub table_id: Uuid,
    /// This version; must match the file name.
    pub version: u64,
    /// `version - 1` (`None` for version 0).
    pub parent_version: Option<u64>,
    /// BLAKE3 of the parent manifest's body (see `log::seal`).
    pub parent_hash: Option<String>,
    /// The writing transaction's id (decides ambiguous commits).
    pub txn_id: String,
    /// The caller's transaction token of an idempotent insert (`TxnToken`), if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_token: Option<String>,
    /// Commit time, milliseconds since the Unix epoch (never less than the parent's).
    pub timestamp_ms: u64,
    /// What this version did.
    pub operation: Operation,
    /// The schema; every field carries its stable column id in metadata.
    pub schema: Schema,
    /// Partition column names.
    pub partition_columns: Vec<String>,
    /// The next unused column id.
    pub next_column_id: u32,
    /// The next unused row key.
    pub next_row_key: u64,
    /// Live rows at this version.
    pub row_count: u64,
    /// Rows this version added (for history).
    pub rows_added: u64,
    /// Rows this version removed.
    pub rows_removed: u64,
    /// Rows whose values this version changed.
    pub rows_updated: u64,
    /// The data files.
    pub files: Vec<DataFileEntry>,
}

impl TableManifest {
    /// Decodes a verified manifest body and checks what can be checked on its own.
    pub fn decode(rel: &str, body: &[u8], version: u64) -> Result<Self> {
        #[derive(Deserialize)]
        struct Probe {
            format_version: u32,
        }
        let probe: Probe =
            serde_json::from_slice(body).map_err(|e| StorageError::undecodable(rel, e))?;
        if probe.format_version > FORMAT_VERSION {
            return Err(StorageError::UnsupportedFormat {
                path: rel.to_owned(),
                found: probe.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let m: Self =
            serde_json::from_slice(body).map_err(|e| StorageError::undecodable(rel, e))?;
        let bad = |what| {
            Err(StorageError::corrupt(
                rel,
                CorruptReason::Inconsistent(what),
            ))
        };
        if m.version != version {
            return bad("manifest version differs from its file name");
        }
        if m.version > 0 && m.parent_version != Some(m.version - 1) {
            return bad("parent version is not version - 1");
        }
        let live: u64 = m.files.iter().map(DataFileEntry::live_rows).sum();
        if live != m.row_count
            || m.files.iter().any(|f| {
                f.key_min > f.key_max
                    || f.key_max >= m.next_row_key
                    || f.tail.as_ref().is_some_and(|t| t.offset >= f.size)
                    || f.deletion_vector
                        .as_ref()
                        .is_some_and(|dv| dv.cardinality >= f.rows)
            })
        {
            return bad("file entries contradict the row count or key range");
        }
        for field in m.schema.fields() {
            if column_id(field).is_none_or(|id| id >= m.next_column_id) {
                return bad("a column has no valid column id");
            }
        }
        Ok(m)
    }

    /// Encodes the body (the log seals it).
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|source| StorageError::Serialize {
            what: "table manifest",
            source,
        })
    }

    /// The schema as a shared reference (with column ids).
    pub fn schema_ref(&self) -> SchemaRef {
        Arc::new(self.schema.clone())
    }
}

/// The stable id of a column, from its field metadata.
pub(crate) fn column_id(field: &Field) -> Option<u32> {
    field
        .metadata()
        .get(COLUMN_ID_KEY)
        .and_then(|s| s.parse().ok())
}

/// A copy of `field` carrying column id `id`.
pub(crate) fn with_column_id(field: &Field, id: u32) -> Field {
    let mut metadata = field.metadata().clone();
    metadata.insert(COLUMN_ID_KEY.to_owned(), id.to_string());
    field.clone().with_metadata(metadata)
}

/// A copy of `field` without the storage-internal metadata (what callers see).
pub(crate) fn strip_column_id(field: &Field) -> Field {
    let mut metadata: HashMap<String, String> = field.metadata().clone();
    metadata.remove(COLUMN_ID_KEY);
    field.clone().with_metadata(metadata)
}

/// The schema callers see: the stored schema without column ids.
pub(crate) fn public_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema.fields().iter().map(|f| strip_column_id(f)).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Checks that a column type is one the engine stores (everything Parquet round-trips).
pub(crate) fn check_supported_type(table: &str, field: &Field) -> Result<()> {
    fn ok(dt: &DataType) -> bool {
        match dt {
            DataType::Null
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
            | DataType::Decimal128(_, _) => true,
            DataType::List(inner) | DataType::LargeList(inner) => ok(inner.data_type()),
            DataType::FixedSizeList(inner, _) => ok(inner.data_type()),
            DataType::Struct(fields) => fields.iter().all(|f| ok(f.data_type())),
            _ => false,
        }
    }
    if field.name() == ROW_KEY_COLUMN {
        return Err(StorageError::invalid(
            table,
            format!("column name {ROW_KEY_COLUMN} is reserved"),
        ));
    }
    if !ok(field.data_type()) {
        return Err(StorageError::invalid(
            table,
            format!(
                "column {} has unsupported type {}",
                field.name(),
                field.data_type()
            ),
        ));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> TableManifest {
        TableManifest {
            format_version: FORMAT_VERSION,
            table_id: Uuid::nil(),
            version: 1,
            parent_version: Some(0),
            parent_hash: Some("ab".into()),
            txn_id: "t".into(),
            txn_token: None,
            timestamp_ms: 5,
            operation: Operation::Insert {
                rows: 3,
                files_compacted: 0,
            },
            schema: Schema::new(vec![with_column_id(
                &Field::new("a", DataType::Int64, true),
                0,
            )]),
            partition_columns: vec![],
            next_column_id: 1,
            next_row_key: 3,
            row_count: 2,
            rows_added: 3,
            rows_removed: 0,
            rows_updated: 0,
            files: vec![DataFileEntry {
                path: "data/x.parquet".into(),
                size: 10,
                rows: 3,
                key_min: 0,
                key_max: 2,
                blake3: "cd".into(),
                columns: vec![0],
                deletion_vector: Some(DeletionVectorEntry {
                    path: "dv/y.roaring".into(),
                    size: 4,
                    blake3: "ef".into(),
                    cardinality: 1,
                }),
                tail: None,
            }],
        }
    }

    // Guards: manifests round-trip, and self-contradicting ones are rejected as corrupt.
    #[test]
    fn decode_checks() {
        type Edit = fn(&mut TableManifest);
        let cases: Vec<(&str, Edit, bool)> = vec![
            ("valid", |_| {}, true),
            ("row count", |m| m.row_count = 3, false),
            ("key past next", |m| m.next_row_key = 2, false),
            ("parent", |m| m.parent_version = None, false),
            ("format", |m| m.format_version = FORMAT_VERSION + 1, false),
            ("column id", |m| m.next_column_id = 0, false),
            (
                "with tail",
                |m| {
                    m.files[0].tail = Some(TailEntry {
                        offset: 4,
                        blake3: "aa".into(),
                    })
                },
                true,
            ),
            (
                "tail past the end",
                |m| {
                    m.files[0].tail = Some(TailEntry {
                        offset: 10,
                        blake3: "aa".into(),
                    })
                },
                false,
            ),
            (
                "dv covers all",
                |m| m.files[0].deletion_vector.as_mut().unwrap().cardinality = 3,
                false,
            ),
        ];
        for (name, edit, ok) in cases {
            let mut m = manifest();
            edit(&mut m);
            let body = m.encode().unwrap();
            let decoded = TableManifest::decode("m", &body, 1);
            assert_eq!(decoded.is_ok(), ok, "{name}: {decoded:?}");
            if ok {
                assert_eq!(decoded.unwrap(), m);
            }
        }
        assert!(TableManifest::decode("m", &manifest().encode().unwrap(), 2).is_err());
    }

    #[test]
    fn dense_keys() {
        let mut f = manifest().files[0].clone();
        assert!(f.keys_are_dense());
        f.key_max = 9;
        assert!(!f.keys_are_dense());
    }
}
