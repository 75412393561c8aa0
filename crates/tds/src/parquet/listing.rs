//! What a hive-layout folder of Parquet files holds: its locations (one per partition folder,
//! `Ticker=GOOG/Exchange=NYSE/`), the files of each in name order, their partition values.
//!
//! pyarrow and Spark write this layout; files whose name starts with `_` or `.` (`_SUCCESS`,
//! `_metadata`, temporary files) are skipped as they skip them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::backend::BackendError;

/// The value pyarrow and Spark write for a null partition value.
const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One data file as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub(crate) path: Path,
    pub(crate) size: u64,
    pub(crate) e_tag: Option<String>,
}

/// The files of a table, by location (the partition folder relative to the table, `""` for
/// files directly in it), each location's files in name order.
pub(crate) type Listing = BTreeMap<String, Vec<FileEntry>>;

/// Lists the Parquet files under `prefix`.
pub(crate) async fn list(store: &dyn ObjectStore, prefix: &Path) -> Result<Listing, BackendError> {
    let objects: Vec<_> = store.list(Some(prefix)).try_collect().await?;
    let mut listing = Listing::new();
    for object in objects {
        let Some(relative) = object.location.prefix_match(prefix) else {
            continue;
        };
        let parts: Vec<String> = relative.map(|part| part.as_ref().to_string()).collect();
        let Some((name, folders)) = parts.split_last() else {
            continue;
        };
        let hidden = |part: &String| part.starts_with('_') || part.starts_with('.');
        if hidden(name) || folders.iter().any(hidden) || !name.ends_with(".parquet") {
            continue;
        }
        listing
            .entry(folders.join("/"))
            .or_default()
            .push(FileEntry {
                path: object.location,
                size: object.size,
                e_tag: object.e_tag,
            });
    }
    for files in listing.values_mut() {
        files.sort_by(|a, b| a.path.as_ref().cmp(b.path.as_ref()));
    }
    Ok(listing)
}

/// The `(column, value)` pairs of a location's folder; `None` values are nulls.
pub(crate) fn partition_pairs(
    location: &str,
) -> Result<Vec<(String, Option<String>)>, BackendError> {
    if location.is_empty() {
        return Ok(Vec::new());
    }
    location
        .split('/')
        .map(|segment| {
            let (column, value) = segment.split_once('=').ok_or_else(|| {
                format!("folder {segment:?} of {location:?} is not a hive partition (column=value)")
            })?;
            let value = decode(value);
            Ok((decode(column), (value != NULL_PARTITION).then_some(value)))
        })
        .collect()
}

/// Undoes the URI escaping pyarrow applies to partition folder names (`%2F` for `/`, …).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes.get(index), hex) {
            (Some(b'%'), Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (Some(byte), _) => {
                out.push(*byte);
                index += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The partitioning schema of `listing`: the folder columns in order, int64 when every value
/// is an integer (as pyarrow infers), else utf8. `None` for files without partition folders.
pub(crate) fn partitioning_schema(listing: &Listing) -> Result<Option<SchemaRef>, BackendError> {
    let mut names: Option<Vec<String>> = None;
    let mut integer: Vec<bool> = Vec::new();
    for location in listing.keys() {
        let pairs = partition_pairs(location)?;
        let these: Vec<String> = pairs.iter().map(|(name, _)| name.clone()).collect();
        match &names {
            None => {
                integer = vec![true; these.len()];
                names = Some(these);
            }
            Some(known) if *known != these => {
                return Err(format!(
                    "partition folders disagree: {location:?} has columns {these:?}, others {known:?}"
                )
                .into());
            }
            Some(_) => {}
        }
        for ((_, value), integer) in pairs.iter().zip(integer.iter_mut()) {
            if let Some(value) = value {
                *integer &= value.parse::<i64>().is_ok();
            }
        }
    }
    let Some(names) = names.filter(|names| !names.is_empty()) else {
        return Ok(None);
    };
    let fields: Vec<Field> = names
        .into_iter()
        .zip(integer)
        .map(|(name, integer)| {
            let data_type = if integer {
                DataType::Int64
            } else {
                DataType::Utf8
            };
            Field::new(name, data_type, true)
        })
        .collect();
    Ok(Some(Arc::new(Schema::new(fields))))
}

/// A location's partition values: one row in `schema`.
pub(crate) fn partition_values(
    location: &str,
    schema: Option<&SchemaRef>,
) -> Result<Option<RecordBatch>, BackendError> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    let pairs = partition_pairs(location)?;
    if pairs.len() != schema.fields().len() {
        return Err(format!(
            "location {location:?} has {} partition folders, the table has {} partitioning columns",
            pairs.len(),
            schema.fields().len()
        )
        .into());
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(pairs.len());
    for (field, (name, value)) in schema.fields().iter().zip(&pairs) {
        if field.name() != name {
            return Err(format!(
                "location {location:?} has partition column {name}, the table has {}",
                field.name()
            )
            .into());
        }
        let column: ArrayRef = match field.data_type() {
            DataType::Int64 => {
                let parsed = value
                    .as_deref()
                    .map(|text| {
                        text.parse::<i64>().map_err(|_| {
                            format!("partition value {text:?} of column {name} is not an integer")
                        })
                    })
                    .transpose()?;
                Arc::new(Int64Array::from(vec![parsed]))
            }
            _ => Arc::new(StringArray::from(vec![value.clone()])),
        };
        columns.push(column);
    }
    Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
}
