//! Rows through serde: converting serializable rows into an Arrow batch of a table's schema.
//!
//! Each row is serialized to a JSON value first so that columns marked as JSON (Arrow's
//! canonical `arrow.json` extension on a Utf8 column) can take any JSON value: it is stored as
//! its JSON text. Everything else goes through `arrow-json`'s typed decoder.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, SchemaRef};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, StorageError};

/// Field metadata key of Arrow extension types.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Extension name marking a Utf8 column as JSON text.
pub const JSON_EXTENSION_NAME: &str = "arrow.json";

/// A Utf8 field marked as holding JSON text.
pub fn json_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable).with_metadata(
        [(
            EXTENSION_NAME_KEY.to_owned(),
            JSON_EXTENSION_NAME.to_owned(),
        )]
        .into_iter()
        .collect(),
    )
}

fn is_json(field: &Field) -> bool {
    field.metadata().get(EXTENSION_NAME_KEY).map(String::as_str) == Some(JSON_EXTENSION_NAME)
}

/// Converts serializable rows into a batch of `schema`.
pub(crate) fn rows_to_batch<T: Serialize>(
    table: &str,
    schema: &SchemaRef,
    rows: &[T],
) -> Result<RecordBatch> {
    let json_columns: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| is_json(f))
        .map(|f| f.name().as_str())
        .collect();
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        let mut v = serde_json::to_value(row).map_err(|source| StorageError::Serialize {
            what: "row",
            source,
        })?;
        if let Value::Object(map) = &mut v {
            for c in &json_columns {
                if let Some(cell) = map.get_mut(*c)
                    && !cell.is_null()
                {
                    *cell = Value::String(cell.to_string());
                }
            }
        }
        values.push(v);
    }
    let arrow = |source| StorageError::Arrow {
        context: format!("converting rows for {table}"),
        source,
    };
    let mut decoder = arrow_json::ReaderBuilder::new(Arc::clone(schema))
        .build_decoder()
        .map_err(arrow)?;
    decoder.serialize(&values).map_err(arrow)?;
    match decoder.flush().map_err(arrow)? {
        Some(batch) => Ok(batch),
        None => Ok(RecordBatch::new_empty(Arc::clone(schema))),
    }
}
