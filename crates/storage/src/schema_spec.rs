//! The schema notation `'id:int64,name:utf8,value:float64'`: a short, shell-friendly way to name
//! an Arrow schema (`tableshare table create --schema`, configuration files, tests). Each column
//! is `NAME:TYPE`; the types are the ones the storage engine promises to store, with a few common
//! aliases. It lives in the engine, beside the list of supported types, so every program that
//! takes a schema as text reads it the same way.

use std::sync::Arc;

use crate::rows::json_field;
use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// What is wrong with a schema spec, naming the column.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaSpecError {
    /// The spec has no columns at all.
    #[error("the schema names no columns (expected e.g. 'id:int64,name:utf8')")]
    Empty,
    /// A column has no `:TYPE` part or an empty name.
    #[error("column `{column}` must be written NAME:TYPE")]
    Malformed {
        /// The column text as given.
        column: String,
    },
    /// A type name this notation does not know.
    #[error(
        "column `{column}` has unknown type `{ty}` (known: int32, int64, float32, float64, bool, \
         utf8, binary, timestamp, date, json, list<float32>)"
    )]
    UnknownType {
        /// The column name.
        column: String,
        /// The type as given.
        ty: String,
    },
    /// Two columns with one name.
    #[error("column `{column}` appears twice")]
    Duplicate {
        /// The repeated name.
        column: String,
    },
}

/// Parses a schema spec into an Arrow schema whose columns are all nullable.
///
/// ```
/// use arrow_schema::DataType;
/// use tableshare_storage::{SchemaSpecError, parse_schema_spec};
///
/// let schema = parse_schema_spec("id:int64, name:utf8, value:float64")?;
/// assert_eq!(schema.field(2).data_type(), &DataType::Float64);
/// assert!(matches!(
///     parse_schema_spec("id:uuid"),
///     Err(SchemaSpecError::UnknownType { column, .. }) if column == "id"
/// ));
/// # Ok::<(), SchemaSpecError>(())
/// ```
///
/// # Errors
///
/// [`SchemaSpecError`]: no columns, a column not written `NAME:TYPE`, an unknown type, a name
/// used twice.
pub fn parse_schema_spec(spec: &str) -> Result<Schema, SchemaSpecError> {
    let mut fields = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, ty)) = part.split_once(':') else {
            return Err(SchemaSpecError::Malformed {
                column: part.to_owned(),
            });
        };
        let (name, ty) = (name.trim(), ty.trim());
        if name.is_empty() || ty.is_empty() {
            return Err(SchemaSpecError::Malformed {
                column: part.to_owned(),
            });
        }
        if !seen.insert(name.to_owned()) {
            return Err(SchemaSpecError::Duplicate {
                column: name.to_owned(),
            });
        }
        fields.push(parse_field(name, ty)?);
    }
    if fields.is_empty() {
        return Err(SchemaSpecError::Empty);
    }
    Ok(Schema::new(fields))
}

fn parse_field(name: &str, ty: &str) -> Result<Field, SchemaSpecError> {
    let lower = ty.to_ascii_lowercase();
    let data_type = match lower.as_str() {
        "int32" | "int" | "i32" => DataType::Int32,
        "int64" | "bigint" | "i64" => DataType::Int64,
        "float32" | "f32" | "float" => DataType::Float32,
        "float64" | "f64" | "double" => DataType::Float64,
        "bool" | "boolean" => DataType::Boolean,
        "utf8" | "string" | "str" | "text" => DataType::Utf8,
        "binary" | "bytes" => DataType::Binary,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        "date" => DataType::Date32,
        // Arrow's canonical `arrow.json` extension on utf8, which other Arrow tools recognise.
        "json" => return Ok(json_field(name, true)),
        "list<float32>" | "embedding" => {
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true)))
        }
        _ => {
            return Err(SchemaSpecError::UnknownType {
                column: name.to_owned(),
                ty: ty.to_owned(),
            });
        }
    };
    Ok(Field::new(name, data_type, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{EXTENSION_NAME_KEY, JSON_EXTENSION_NAME};

    fn check(spec: &str, expected: Result<Vec<(&str, DataType)>, SchemaSpecError>) {
        let got = parse_schema_spec(spec).map(|schema| {
            schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect::<Vec<_>>()
        });
        let expected = expected.map(|cols| {
            cols.into_iter()
                .map(|(n, t)| (n.to_owned(), t))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, expected, "spec {spec:?}");
    }

    #[test]
    fn specs() {
        check(
            "id:int64,name:utf8,value:float64",
            Ok(vec![
                ("id", DataType::Int64),
                ("name", DataType::Utf8),
                ("value", DataType::Float64),
            ]),
        );
        check(
            " a : bool , b:date ",
            Ok(vec![("a", DataType::Boolean), ("b", DataType::Date32)]),
        );
        check("doc:json", Ok(vec![("doc", DataType::Utf8)]));
        check(
            "e:list<float32>",
            Ok(vec![(
                "e",
                DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            )]),
        );
        check("", Err(SchemaSpecError::Empty));
        check(
            "id",
            Err(SchemaSpecError::Malformed {
                column: "id".into(),
            }),
        );
        check(
            "id:uuid",
            Err(SchemaSpecError::UnknownType {
                column: "id".into(),
                ty: "uuid".into(),
            }),
        );
        check(
            "a:int32,a:int64",
            Err(SchemaSpecError::Duplicate { column: "a".into() }),
        );
    }

    #[test]
    fn json_columns_carry_the_canonical_extension_marker() {
        let schema = parse_schema_spec("doc:json").unwrap();
        assert_eq!(
            schema.field(0).metadata().get(EXTENSION_NAME_KEY),
            Some(&JSON_EXTENSION_NAME.to_owned())
        );
    }
}
