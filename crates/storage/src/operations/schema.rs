//! Schema evolution: adding, dropping and renaming columns. Columns are identified by stable
//! column ids, so none of these rewrites data.

use arrow_schema::{Field, Schema};

use crate::commit::{Built, Footprint};
use crate::error::{Result, StorageError};
use crate::format::manifest::{Operation, check_supported_type, with_column_id};
use crate::format::table_dir::Loaded;
use crate::table::Table;

impl Table {
    /// Adds a nullable column (existing rows read as null). Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] (name taken, not nullable,
    /// unsupported type), [`StorageError::VersionConflict`] if a rival changed the schema first.
    pub async fn add_column(&self, field: Field) -> Result<u64> {
        self.writable("add_column")?;
        let field = &field;
        self.commit_change(&Footprint::Schema, |base: Loaded| {
            Box::pin(async move {
                let base = &base;
                check_supported_type(self.path(), field)?;
                if !field.is_nullable() {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!("added column {} must be nullable", field.name()),
                    ));
                }
                if base
                    .manifest
                    .schema
                    .column_with_name(field.name())
                    .is_some()
                {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!("column {} already exists", field.name()),
                    ));
                }
                let mut m = Self::next_manifest(
                    base,
                    Operation::AddColumn {
                        name: field.name().clone(),
                    },
                );
                let mut fields: Vec<Field> = m
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.push(with_column_id(field, m.next_column_id));
                m.next_column_id += 1;
                m.schema = Schema::new_with_metadata(fields, m.schema.metadata().clone());
                Ok(Built::Commit(Box::new(m)))
            })
        })
        .await
    }

    /// Drops a column (older versions keep it). Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] (unknown, partition or only
    /// column), [`StorageError::VersionConflict`] if a rival changed the schema first.
    pub async fn drop_column(&self, name: &str) -> Result<u64> {
        self.writable("drop_column")?;
        self.commit_change(&Footprint::Schema, |base: Loaded| {
            Box::pin(async move {
                let base = &base;
                let schema = &base.manifest.schema;
                if schema.column_with_name(name).is_none() {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!("unknown column {name}"),
                    ));
                }
                if base.manifest.partition_columns.iter().any(|p| p == name) {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!("column {name} is a partition column"),
                    ));
                }
                if schema.fields().len() == 1 {
                    return Err(StorageError::invalid(
                        self.path(),
                        "cannot drop the only column",
                    ));
                }
                let mut m = Self::next_manifest(
                    base,
                    Operation::DropColumn {
                        name: name.to_owned(),
                    },
                );
                let fields: Vec<Field> = m
                    .schema
                    .fields()
                    .iter()
                    .filter(|f| f.name() != name)
                    .map(|f| f.as_ref().clone())
                    .collect();
                m.schema = Schema::new_with_metadata(fields, m.schema.metadata().clone());
                Ok(Built::Commit(Box::new(m)))
            })
        })
        .await
    }

    /// Renames a column (data is kept: files are read by column id). Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] (unknown, name taken,
    /// reserved), [`StorageError::VersionConflict`] if a rival changed the schema first.
    pub async fn rename_column(&self, from: &str, to: &str) -> Result<u64> {
        self.writable("rename_column")?;
        self.commit_change(&Footprint::Schema, |base: Loaded| {
            Box::pin(async move {
                let base = &base;
                let schema = &base.manifest.schema;
                if schema.column_with_name(from).is_none() {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!("unknown column {from}"),
                    ));
                }
                if to.is_empty() || schema.column_with_name(to).is_some() {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!("column name {to:?} is empty or taken"),
                    ));
                }
                let mut m = Self::next_manifest(
                    base,
                    Operation::RenameColumn {
                        from: from.to_owned(),
                        to: to.to_owned(),
                    },
                );
                let fields: Vec<Field> = m
                    .schema
                    .fields()
                    .iter()
                    .map(|f| {
                        if f.name() == from {
                            f.as_ref().clone().with_name(to)
                        } else {
                            f.as_ref().clone()
                        }
                    })
                    .collect();
                check_supported_type(
                    self.path(),
                    &Field::new(to, arrow_schema::DataType::Null, true),
                )?;
                m.schema = Schema::new_with_metadata(fields, m.schema.metadata().clone());
                for p in &mut m.partition_columns {
                    if p == from {
                        *p = to.to_owned();
                    }
                }
                Ok(Built::Commit(Box::new(m)))
            })
        })
        .await
    }
}
