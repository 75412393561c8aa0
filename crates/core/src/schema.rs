//! The schema of a table: Arrow fields plus which of them partition the table.
//!
//! Partitioning columns are the ones storage lays files out by (hive-style directories) and the
//! data service pages by. The marker has to survive every hop a schema makes (Parquet footers,
//! Arrow IPC, Flight), and Arrow has no native notion of it, so [`TableSchema::to_arrow`] writes
//! it into each partitioning field's metadata under [`PARTITIONING_METADATA_KEY`] and
//! [`TableSchema::from_arrow`] reads it back. Inside the process the marker lives only in
//! [`TableSchema::partition_columns`]; the Arrow schema returned by [`TableSchema::arrow`] is
//! the one batches of the table carry, without the marker.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};

use crate::definition::TableDefinition;
use crate::error::{CoreError, Result};

/// Field-metadata key marking a partitioning column in [`TableSchema::to_arrow`]'s output.
pub const PARTITIONING_METADATA_KEY: &str = "tableshare.partitioning";

/// An Arrow schema with unique column names, some of which are marked as partitioning columns.
///
/// Cheap to clone (the Arrow schema is shared).
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::TableSchema;
///
/// let arrow = Schema::new(vec![
///     Field::new("date", DataType::Utf8, false),
///     Field::new("price", DataType::Float64, true),
/// ]);
/// let schema = TableSchema::new(Arc::new(arrow), ["date"])?;
/// assert!(schema.is_partitioning("date"));
///
/// // The marker survives a trip through plain Arrow (and so through Parquet or IPC).
/// let back = TableSchema::from_arrow(&schema.to_arrow())?;
/// assert_eq!(back, schema);
/// # Ok::<(), tableshare_core::CoreError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TableSchema {
    arrow: SchemaRef,
    /// Partitioning column names, in schema order.
    partition_columns: Vec<String>,
}

impl TableSchema {
    /// A schema whose `partition_columns` partition the table.
    ///
    /// Any partitioning marker already in the fields' metadata is dropped: the list given here is
    /// the truth. Partitioning columns are kept in schema order, whatever order they are given in.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateColumn`] if two fields share a name or a partitioning column is
    /// listed twice; [`CoreError::UnknownColumn`] if a partitioning column is not a field.
    pub fn new<I>(arrow: SchemaRef, partition_columns: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let mut wanted = HashSet::new();
        for column in partition_columns {
            let column = column.into();
            if arrow.column_with_name(&column).is_none() {
                return Err(CoreError::UnknownColumn { column });
            }
            if !wanted.insert(column.clone()) {
                return Err(CoreError::DuplicateColumn { column });
            }
        }
        check_unique_names(&arrow)?;
        let arrow = strip_markers(arrow);
        let partition_columns = arrow
            .fields()
            .iter()
            .map(|field| field.name())
            .filter(|name| wanted.contains(name.as_str()))
            .cloned()
            .collect();
        Ok(Self {
            arrow,
            partition_columns,
        })
    }

    /// A schema without partitioning columns.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateColumn`] if two fields share a name.
    pub fn unpartitioned(arrow: SchemaRef) -> Result<Self> {
        Self::new(arrow, std::iter::empty::<String>())
    }

    /// Reads a schema written by [`to_arrow`](Self::to_arrow): fields whose metadata maps
    /// [`PARTITIONING_METADATA_KEY`] to `"true"` are partitioning columns.
    ///
    /// # Errors
    ///
    /// [`CoreError::DuplicateColumn`] if two fields share a name.
    pub fn from_arrow(arrow: &Schema) -> Result<Self> {
        let partition_columns: Vec<String> = arrow
            .fields()
            .iter()
            .filter(|field| is_marked(field))
            .map(|field| field.name().clone())
            .collect();
        Self::new(Arc::new(arrow.clone()), partition_columns)
    }

    /// The Arrow schema with the partitioning marker in the metadata of each partitioning field,
    /// for formats that carry only Arrow schemas.
    pub fn to_arrow(&self) -> Schema {
        let fields: Vec<Field> = self
            .arrow
            .fields()
            .iter()
            .map(|field| {
                let field = field.as_ref().clone();
                if self.is_partitioning(field.name()) {
                    let mut metadata = field.metadata().clone();
                    metadata.insert(PARTITIONING_METADATA_KEY.to_owned(), "true".to_owned());
                    field.with_metadata(metadata)
                } else {
                    field
                }
            })
            .collect();
        Schema::new_with_metadata(fields, self.arrow.metadata().clone())
    }

    /// The Arrow schema that the table's batches carry (without partitioning markers).
    pub fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }

    /// The partitioning columns, in schema order.
    pub fn partition_columns(&self) -> &[String] {
        &self.partition_columns
    }

    /// Whether `column` is a partitioning column.
    pub fn is_partitioning(&self, column: &str) -> bool {
        self.partition_columns.iter().any(|name| name == column)
    }

    /// Position of `column` among the fields.
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownColumn`] if there is no such column.
    pub fn index_of(&self, column: &str) -> Result<usize> {
        column_index(&self.arrow, column)
    }

    /// The column names and types, the part of a schema a reader may rely on.
    pub fn definition(&self) -> TableDefinition {
        TableDefinition::from_fields(self.arrow.fields())
    }

    /// The schema of the given columns, in the given order; partitioning columns among them stay
    /// partitioning columns.
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownColumn`] or [`CoreError::DuplicateColumn`] for a bad column list.
    pub fn project<S: AsRef<str>>(&self, columns: &[S]) -> Result<TableSchema> {
        let indices = projection_indices(&self.arrow, columns)?;
        let arrow = self
            .arrow
            .project(&indices)
            .map_err(CoreError::arrow("projecting a schema"))?;
        let partition_columns = arrow
            .fields()
            .iter()
            .map(|field| field.name())
            .filter(|name| self.is_partitioning(name))
            .cloned()
            .collect();
        Ok(TableSchema {
            arrow: Arc::new(arrow),
            partition_columns,
        })
    }
}

impl fmt::Debug for TableSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns: Vec<String> = self
            .arrow
            .fields()
            .iter()
            .map(|field| {
                let nullable = if field.is_nullable() { "" } else { " not null" };
                let partitioning = if self.is_partitioning(field.name()) {
                    " partitioning"
                } else {
                    ""
                };
                format!(
                    "{}: {}{nullable}{partitioning}",
                    field.name(),
                    field.data_type()
                )
            })
            .collect();
        f.debug_tuple("TableSchema").field(&columns).finish()
    }
}

impl TryFrom<SchemaRef> for TableSchema {
    type Error = CoreError;

    /// An unpartitioned table schema.
    fn try_from(arrow: SchemaRef) -> Result<Self> {
        Self::unpartitioned(arrow)
    }
}

/// Position of `column` in `schema`.
pub(crate) fn column_index(schema: &Schema, column: &str) -> Result<usize> {
    schema
        .index_of(column)
        .map_err(|_| CoreError::UnknownColumn {
            column: column.to_owned(),
        })
}

/// Positions of `columns` in `schema`, checking that each exists once.
pub(crate) fn projection_indices<S: AsRef<str>>(
    schema: &Schema,
    columns: &[S],
) -> Result<Vec<usize>> {
    let mut seen = HashSet::with_capacity(columns.len());
    columns
        .iter()
        .map(|column| {
            let column = column.as_ref();
            if !seen.insert(column) {
                return Err(CoreError::DuplicateColumn {
                    column: column.to_owned(),
                });
            }
            column_index(schema, column)
        })
        .collect()
}

fn check_unique_names(schema: &Schema) -> Result<()> {
    let mut seen = HashSet::with_capacity(schema.fields().len());
    for field in schema.fields() {
        if !seen.insert(field.name().as_str()) {
            return Err(CoreError::DuplicateColumn {
                column: field.name().clone(),
            });
        }
    }
    Ok(())
}

fn is_marked(field: &Field) -> bool {
    field
        .metadata()
        .get(PARTITIONING_METADATA_KEY)
        .is_some_and(|value| value == "true")
}

/// Removes partitioning markers from field metadata, sharing the schema when there are none.
fn strip_markers(schema: SchemaRef) -> SchemaRef {
    let marked = |field: &Field| field.metadata().contains_key(PARTITIONING_METADATA_KEY);
    if !schema.fields().iter().any(|field| marked(field)) {
        return schema;
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let mut metadata: HashMap<String, String> = field.metadata().clone();
            metadata.remove(PARTITIONING_METADATA_KEY);
            field.as_ref().clone().with_metadata(metadata)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType;

    use super::*;

    fn arrow(names: &[&str]) -> SchemaRef {
        Arc::new(Schema::new(
            names
                .iter()
                .map(|name| Field::new(*name, DataType::Int64, true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Builds a schema from field names and partitioning columns; `expected` is the partitioning
    /// columns in schema order, or the error's Debug form.
    fn check(fields: &[&str], partitioning: &[&str], expected: std::result::Result<&[&str], &str>) {
        match (
            TableSchema::new(arrow(fields), partitioning.iter().copied()),
            expected,
        ) {
            (Ok(schema), Ok(expected)) => {
                assert_eq!(schema.partition_columns(), expected);
                let back = TableSchema::from_arrow(&schema.to_arrow()).unwrap();
                assert_eq!(back, schema, "round trip through Arrow metadata");
                assert_eq!(back.arrow(), schema.arrow(), "markers are stripped again");
            }
            (Err(error), Err(expected)) => assert_eq!(format!("{error:?}"), expected),
            (got, expected) => {
                panic!("{fields:?} {partitioning:?}: got {got:?}, expected {expected:?}")
            }
        }
    }

    #[test]
    fn partitioning_columns() {
        check(&["a", "b"], &[], Ok(&[]));
        check(&["a", "b", "c"], &["c", "a"], Ok(&["a", "c"]));
        check(&["a"], &["z"], Err(r#"UnknownColumn { column: "z" }"#));
        check(
            &["a"],
            &["a", "a"],
            Err(r#"DuplicateColumn { column: "a" }"#),
        );
        check(&["a", "a"], &[], Err(r#"DuplicateColumn { column: "a" }"#));
    }

    #[test]
    fn markers_only_count_when_true() {
        let mut metadata = HashMap::new();
        metadata.insert(PARTITIONING_METADATA_KEY.to_owned(), "false".to_owned());
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true).with_metadata(metadata),
        ]);
        let table = TableSchema::from_arrow(&schema).unwrap();
        assert!(table.partition_columns().is_empty());
        assert!(table.arrow().field(0).metadata().is_empty());
    }

    #[test]
    fn project_keeps_partitioning_and_order() {
        let schema = TableSchema::new(arrow(&["a", "b", "c"]), ["b"]).unwrap();
        let check =
            |columns: &[&str], expected: std::result::Result<(&[&str], &[&str]), &str>| match (
                schema.project(columns),
                expected,
            ) {
                (Ok(projected), Ok((names, partitioning))) => {
                    let got: Vec<&str> = projected
                        .arrow()
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect();
                    assert_eq!(got, names);
                    assert_eq!(projected.partition_columns(), partitioning);
                }
                (Err(error), Err(expected)) => assert_eq!(format!("{error:?}"), expected),
                (got, expected) => panic!("{columns:?}: got {got:?}, expected {expected:?}"),
            };
        check(&["c", "b"], Ok((&["c", "b"], &["b"])));
        check(&["a"], Ok((&["a"], &[])));
        check(&[], Ok((&[], &[])));
        check(&["x"], Err(r#"UnknownColumn { column: "x" }"#));
        check(&["a", "a"], Err(r#"DuplicateColumn { column: "a" }"#));
    }
}
