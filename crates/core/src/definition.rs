//! What a reader expects a table to look like: column names and types, nothing more.
//!
//! A subscriber may declare the table it wants before the worker serving it is reachable (so the
//! subscription can start while the worker is down), and a view may be defined over a table that
//! later gains columns. Both need a description of the columns they rely on that can be stored
//! and shipped (it is serde-serializable), plus one rule for when a real schema satisfies it:
//! [`TableDefinition::check_compatible`]. Extra upstream columns are fine (readers ignore them);
//! a missing column or a different type is an error naming the column.
//!
//! Types must be equal (`==`), nested field names and nullability included: that is the rule the
//! whole table model applies, because the Arrow kernels that merge rows of two arrays require
//! identical types, so a looser match here would only move the failure to the first update. A
//! reader that needs to accept a differently-labelled nested type has to cast. Nullability of
//! top-level columns is not part of a definition: [`TableDefinition::to_schema`] makes every column
//! nullable, the safe choice for a table not yet seen.
//!
//! In serialized form a type is its Arrow display string (`Int64`, `Timestamp(ns, "UTC")`, ...),
//! which `arrow-schema` parses back exactly (`DataType: FromStr` is the inverse of `Display`).

use std::collections::HashSet;

use arrow_schema::{DataType, Field, Fields, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// Ordered column names and Arrow types that a table must provide.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{CoreError, TableDefinition};
///
/// let wanted = TableDefinition::new([("id", DataType::Int64), ("price", DataType::Float64)])?;
///
/// let upstream = Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("price", DataType::Float64, true),
///     Field::new("venue", DataType::Utf8, true), // extra: ignored
/// ]);
/// wanted.check_compatible(&upstream)?;
///
/// let changed = Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("price", DataType::Utf8, true),
/// ]);
/// assert!(matches!(
///     wanted.check_compatible(&changed),
///     Err(CoreError::ColumnTypeMismatch { column, .. }) if column == "price"
/// ));
/// # Ok::<(), CoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DefinitionRepr", into = "DefinitionRepr")]
pub struct TableDefinition {
    columns: Vec<(String, DataType)>,
}

impl TableDefinition {
    /// A definition of the given columns, in order.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateColumn`] if a name repeats.
    pub fn new<I, S>(columns: I) -> Result<Self>
    where
        I: IntoIterator<Item = (S, DataType)>,
        S: Into<String>,
    {
        let columns: Vec<(String, DataType)> = columns
            .into_iter()
            .map(|(name, data_type)| (name.into(), data_type))
            .collect();
        let mut seen = HashSet::with_capacity(columns.len());
        for (name, _) in &columns {
            if !seen.insert(name.as_str()) {
                return Err(CoreError::DuplicateColumn {
                    column: name.clone(),
                });
            }
        }
        Ok(Self { columns })
    }

    /// The names and types of `schema`'s fields.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateColumn`] if two fields share a name.
    pub fn from_schema(schema: &Schema) -> Result<Self> {
        Self::new(
            schema
                .fields()
                .iter()
                .map(|field| (field.name().clone(), field.data_type().clone())),
        )
    }

    /// From fields already known to have unique names.
    pub(crate) fn from_fields(fields: &Fields) -> Self {
        let columns = fields
            .iter()
            .map(|field| (field.name().clone(), field.data_type().clone()))
            .collect();
        Self { columns }
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[(String, DataType)] {
        &self.columns
    }

    /// The type of `column`, if defined.
    pub fn data_type(&self, column: &str) -> Option<&DataType> {
        self.columns
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, data_type)| data_type)
    }

    /// An Arrow schema with these columns, all nullable.
    pub fn to_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|(name, data_type)| Field::new(name, data_type.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    /// Checks that `upstream` provides every defined column with the defined type. Columns
    /// `upstream` has beyond the definition are ignored.
    ///
    /// # Errors
    ///
    /// For the first defined column (in definition order) that does not fit:
    /// [`CoreError::MissingColumn`] if `upstream` lacks it, [`CoreError::ColumnTypeMismatch`] if
    /// its type differs.
    pub fn check_compatible(&self, upstream: &Schema) -> Result<()> {
        for (name, expected) in &self.columns {
            let Some((_, field)) = upstream.column_with_name(name) else {
                return Err(CoreError::MissingColumn {
                    column: name.clone(),
                });
            };
            if field.data_type() != expected {
                return Err(CoreError::ColumnTypeMismatch {
                    column: name.clone(),
                    expected: expected.clone(),
                    found: field.data_type().clone(),
                });
            }
        }
        Ok(())
    }
}

/// Serialized form: `{"columns": [{"name": "price", "type": "Float64"}]}`. An object rather than
/// a bare list, so that fields can be added later without breaking stored definitions.
#[derive(Serialize, Deserialize)]
struct DefinitionRepr {
    columns: Vec<ColumnRepr>,
}

/// Serialized form of one column.
#[derive(Serialize, Deserialize)]
struct ColumnRepr {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
}

impl From<TableDefinition> for DefinitionRepr {
    fn from(definition: TableDefinition) -> Self {
        let columns = definition
            .columns
            .into_iter()
            .map(|(name, data_type)| ColumnRepr {
                name,
                data_type: data_type.to_string(),
            })
            .collect();
        DefinitionRepr { columns }
    }
}

impl TryFrom<DefinitionRepr> for TableDefinition {
    type Error = CoreError;

    fn try_from(repr: DefinitionRepr) -> Result<Self> {
        let columns = repr
            .columns
            .into_iter()
            .map(
                |ColumnRepr { name, data_type }| match data_type.parse::<DataType>() {
                    Ok(parsed) => Ok((name, parsed)),
                    Err(source) => Err(CoreError::InvalidDataType {
                        column: name,
                        type_name: data_type,
                        source,
                    }),
                },
            )
            .collect::<Result<Vec<_>>>()?;
        Self::new(columns)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::TimeUnit;

    use super::*;

    fn schema(columns: &[(&str, DataType)]) -> Schema {
        Schema::new(
            columns
                .iter()
                .map(|(name, data_type)| Field::new(*name, data_type.clone(), false))
                .collect::<Vec<_>>(),
        )
    }

    /// Checks `definition` against `upstream`; `expected` is `Ok` or the error's Debug form.
    fn check(
        definition: &[(&str, DataType)],
        upstream: &[(&str, DataType)],
        expected: std::result::Result<(), &str>,
    ) {
        let definition = TableDefinition::new(definition.iter().cloned()).unwrap();
        let got = definition
            .check_compatible(&schema(upstream))
            .map_err(|e| format!("{e:?}"));
        assert_eq!(
            got.as_ref().map_err(String::as_str),
            expected.as_ref().map_err(|e| *e),
            "{upstream:?}"
        );
    }

    fn check_error(definition: &[(&str, DataType)], upstream: &[(&str, DataType)]) -> CoreError {
        let definition = TableDefinition::new(definition.iter().cloned()).unwrap();
        definition.check_compatible(&schema(upstream)).unwrap_err()
    }

    #[test]
    fn compatibility() {
        use DataType::{Float64, Int64, Utf8};
        check(&[("a", Int64)], &[("a", Int64)], Ok(()));
        check(
            &[("a", Int64)],
            &[("z", Utf8), ("a", Int64), ("b", Float64)],
            Ok(()),
        );
        check(&[], &[("a", Int64)], Ok(()));
        check(
            &[("a", Int64), ("b", Utf8)],
            &[("a", Int64)],
            Err(r#"MissingColumn { column: "b" }"#),
        );
        check(
            &[("a", Int64)],
            &[("a", Float64)],
            Err(r#"ColumnTypeMismatch { column: "a", expected: Int64, found: Float64 }"#),
        );
        // Nested field names are part of the type (the table model merges arrays with them).
        let list = |name: &str| DataType::List(Arc::new(Field::new(name, Int64, true)));
        check(&[("l", list("item"))], &[("l", list("item"))], Ok(()));
        let error = check_error(&[("l", list("item"))], &[("l", list("element"))]);
        assert!(matches!(error, CoreError::ColumnTypeMismatch { column, .. } if column == "l"));
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let error =
            TableDefinition::new([("a", DataType::Int64), ("a", DataType::Utf8)]).unwrap_err();
        assert!(matches!(error, CoreError::DuplicateColumn { column } if column == "a"));
    }

    #[test]
    fn serde_round_trip() {
        let check = |data_type: DataType| {
            let definition = TableDefinition::new([("c", data_type)]).unwrap();
            let json = serde_json::to_string(&definition).unwrap();
            let back: TableDefinition = serde_json::from_str(&json).unwrap();
            assert_eq!(back, definition, "{json}");
            let schema = definition.to_schema();
            assert_eq!(TableDefinition::from_schema(&schema).unwrap(), definition);
        };
        check(DataType::Int64);
        check(DataType::Utf8);
        check(DataType::Timestamp(
            TimeUnit::Nanosecond,
            Some("UTC".into()),
        ));
        check(DataType::Decimal128(38, 9));
        check(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Float64,
            true,
        ))));
        check(DataType::Dictionary(
            Box::new(DataType::Int32),
            Box::new(DataType::Utf8),
        ));
        check(DataType::Struct(Fields::from(vec![
            Field::new("x", DataType::Int32, false),
            Field::new("y", DataType::Utf8, true),
        ])));
    }

    #[test]
    fn json_form_and_unparseable_types() {
        let definition = TableDefinition::new([("id", DataType::Int64)]).unwrap();
        assert_eq!(
            serde_json::to_string(&definition).unwrap(),
            r#"{"columns":[{"name":"id","type":"Int64"}]}"#
        );

        let repr = DefinitionRepr {
            columns: vec![ColumnRepr {
                name: "c".into(),
                data_type: "NotAType".into(),
            }],
        };
        let error = TableDefinition::try_from(repr).unwrap_err();
        assert!(matches!(
            error,
            CoreError::InvalidDataType { column, type_name, .. }
                if column == "c" && type_name == "NotAType"
        ));
        let duplicate = r#"{"columns":[{"name":"a","type":"Int64"},{"name":"a","type":"Utf8"}]}"#;
        assert!(serde_json::from_str::<TableDefinition>(duplicate).is_err());
    }
}
