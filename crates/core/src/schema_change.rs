//! Schema changes as events of a live table: the new schema, which old column each new column
//! continues (so a renamed column stays the same column), and how a reader's copy follows.
//!
//! A live table gives each column a stable identity ([`ColumnId`], internal) when the column
//! first appears; a rename keeps it, a dropped column's identity is never reused. A subscriber
//! remembers the identities of the columns it holds, so the [`SchemaChange`] it receives maps
//! every new column to the reader's own column it continues, even after several changes were
//! folded together or the reader resynced. Columns that continue nothing are new and start out
//! null; columns no new column continues are dropped.
//!
//! A schema change is a step of its own: it changes no row, and the updates after it are under
//! the new schema. Applying it to a snapshot is O(chunks × columns) pointer moves, plus
//! allocating null columns for new columns (O(rows) for each new column).

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::new_null_array;

use crate::chunk::Chunk;
use crate::error::{CoreError, Result};
use crate::kernels::{batch_with_rows, check_column};
use crate::schema::TableSchema;
use crate::snapshot::Snapshot;
use crate::update::Step;

/// The stable identity of a column of a live table: kept across renames, never reused.
pub(crate) type ColumnId = u64;

/// A table's schema changed at [`step`](Self::step): the new schema, and for each new column the
/// column of the previous schema it continues.
///
/// Received from a [`Subscription`](crate::Subscription) as
/// [`TableEvent::SchemaChange`](crate::TableEvent::SchemaChange); a reader applies it to its
/// copy with [`apply`](Self::apply) before the updates that follow.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{LiveTable, LiveTableOptions, TableEvent, TableSchema};
///
/// let field = |name: &str| Field::new(name, DataType::Int64, true);
/// let old = Arc::new(Schema::new(vec![field("px")]));
/// let table = LiveTable::new(TableSchema::unpartitioned(old.clone())?, LiveTableOptions::default());
/// table.append(RecordBatch::try_new(old, vec![Arc::new(Int64Array::from(vec![5]))])?)?;
/// let (copy, mut subscription) = table.subscribe()?;
///
/// // `px` is renamed to `price`; `size` is new.
/// let new = TableSchema::unpartitioned(Arc::new(Schema::new(vec![field("price"), field("size")])))?;
/// table.change_schema(new.clone(), &[("px", "price")])?;
///
/// let Some(Ok(TableEvent::SchemaChange(change))) = subscription.try_next() else {
///     panic!("a schema change was expected");
/// };
/// assert_eq!(change.renames(), [("px", "price")]);
/// let copy = change.apply(&copy)?;
/// assert_eq!(copy, table.snapshot()?);
/// assert_eq!(copy.schema(), &new);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaChange {
    step: Step,
    schema: TableSchema,
    /// Per column of `schema`: the name, in the previous schema, of the column it continues.
    sources: Vec<Option<String>>,
    /// Part of a resync: a reset update follows, so the reader's rows need not be carried over.
    resync: bool,
}

impl SchemaChange {
    /// The change to `schema` at `step` in which column `i` of `schema` continues the previous
    /// schema's column named `sources[i]` (`None`: a new column). This is the form a change
    /// travels in, say over the wire; [`sources`](Self::sources) gives it back.
    ///
    /// # Errors
    ///
    /// [`CoreError::SourceCountMismatch`] unless there is one source per column.
    pub fn new(step: Step, schema: TableSchema, sources: Vec<Option<String>>) -> Result<Self> {
        let columns = schema.arrow().fields().len();
        if sources.len() != columns {
            return Err(CoreError::SourceCountMismatch {
                columns,
                sources: sources.len(),
            });
        }
        Ok(Self::new_unchecked(step, schema, sources))
    }

    /// [`new`](Self::new) for sources the caller built one per column.
    pub(crate) fn new_unchecked(
        step: Step,
        schema: TableSchema,
        sources: Vec<Option<String>>,
    ) -> Self {
        Self {
            step,
            schema,
            sources,
            resync: false,
        }
    }

    /// The same change as the first half of a resync: [`apply`](Self::apply) then drops the rows,
    /// which the [reset](crate::TableUpdate::reset) update that follows replaces.
    pub fn for_resync(mut self) -> Self {
        self.resync = true;
        self
    }

    /// Whether this change is the first half of a resync (the reader fell too far behind): a
    /// [reset](crate::TableUpdate::reset) update follows, and [`apply`](Self::apply) gives an
    /// empty table under the new schema.
    pub fn is_resync(&self) -> bool {
        self.resync
    }

    /// The change between a reader's columns (`previous`, with identities `previous_ids`) and
    /// the table's (`schema`, with identities `ids`), matched by identity.
    pub(crate) fn between(
        step: Step,
        previous: &TableSchema,
        previous_ids: &[ColumnId],
        schema: &TableSchema,
        ids: &[ColumnId],
    ) -> Self {
        let sources = ids
            .iter()
            .map(|id| {
                let index = previous_ids.iter().position(|old| old == id)?;
                Some(previous.arrow().field(index).name().clone())
            })
            .collect();
        Self::new_unchecked(step, schema.clone(), sources)
    }

    /// The step at which the new schema takes effect.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The new schema.
    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// Per column of the new schema, the name in the previous schema of the column it continues
    /// (`None`: a new column).
    pub fn sources(&self) -> &[Option<String>] {
        &self.sources
    }

    /// The name in the previous schema of the column `column` continues; `None` for a new column
    /// (or an unknown name).
    pub fn source_of(&self, column: &str) -> Option<&str> {
        let index = self.schema.arrow().index_of(column).ok()?;
        self.sources.get(index)?.as_deref()
    }

    /// The renamed columns, as `(old name, new name)` pairs in the new schema's order.
    pub fn renames(&self) -> Vec<(&str, &str)> {
        self.schema
            .arrow()
            .fields()
            .iter()
            .zip(&self.sources)
            .filter_map(|(field, source)| {
                let source = source.as_deref()?;
                (source != field.name()).then_some((source, field.name().as_str()))
            })
            .collect()
    }

    /// `snapshot` (under the previous schema) under the new schema, at this change's step:
    /// continued columns are moved (renamed), new columns are null, dropped columns go. For a
    /// [resync](Self::is_resync), the empty table under the new schema.
    ///
    /// # Errors
    ///
    /// [`CoreError::MissingColumn`] if `snapshot` lacks a column a new column continues;
    /// [`CoreError::ColumnTypeMismatch`] if a continued column's type differs from its new
    /// type; [`CoreError::NullInNonNullableColumn`] if a new non-nullable column would be null
    /// (it is new, or its source holds nulls) while the table has rows.
    pub fn apply(&self, snapshot: &Snapshot) -> Result<Snapshot> {
        if self.resync {
            let empty = Snapshot::from_chunks(
                self.schema.clone(),
                self.step,
                snapshot.chunk_bounds(),
                Vec::new(),
            );
            return Ok(empty);
        }
        let arrow = self.schema.arrow();
        let mut chunks = Vec::with_capacity(snapshot.num_chunks());
        for chunk in snapshot.chunk_list() {
            let rows = chunk.num_rows();
            let columns = arrow
                .fields()
                .iter()
                .zip(&self.sources)
                .map(|(field, source)| {
                    let column = match source {
                        Some(name) => {
                            chunk.batch().column_by_name(name).cloned().ok_or_else(|| {
                                CoreError::MissingColumn {
                                    column: name.clone(),
                                }
                            })?
                        }
                        None => new_null_array(field.data_type(), rows),
                    };
                    check_column(field, column.as_ref())?;
                    Ok(column)
                })
                .collect::<Result<Vec<_>>>()?;
            let batch = batch_with_rows(arrow.clone(), columns, rows)?;
            chunks.push(Arc::new(Chunk::new_unchecked(
                chunk.shared_keys().clone(),
                batch,
            )));
        }
        Ok(Snapshot::from_chunks(
            self.schema.clone(),
            self.step,
            snapshot.chunk_bounds(),
            chunks,
        ))
    }
}

/// For a live table changing from `previous` (identities `ids`) to `schema` with `renames`
/// (old name, new name): per new column, the old column it continues, and the new identities
/// (fresh ones drawn from `next_id`).
///
/// # Errors
///
/// [`CoreError::UnknownColumn`] for a rename from a column the old schema lacks or to one the new
/// schema lacks; [`CoreError::DuplicateColumn`] if a name is renamed twice or two renames target
/// one name.
pub(crate) fn plan_change(
    previous: &TableSchema,
    ids: &[ColumnId],
    schema: &TableSchema,
    renames: &[(&str, &str)],
    next_id: &mut ColumnId,
) -> Result<(Vec<Option<String>>, Vec<ColumnId>)> {
    let (mut from_seen, mut to_seen) = (HashSet::new(), HashSet::new());
    for (from, to) in renames {
        previous.index_of(from)?;
        schema.index_of(to)?;
        if !from_seen.insert(*from) {
            return Err(CoreError::DuplicateColumn {
                column: (*from).to_owned(),
            });
        }
        if !to_seen.insert(*to) {
            return Err(CoreError::DuplicateColumn {
                column: (*to).to_owned(),
            });
        }
    }
    let mut sources = Vec::with_capacity(schema.arrow().fields().len());
    let mut new_ids = Vec::with_capacity(sources.capacity());
    for field in schema.arrow().fields() {
        let name = field.name().as_str();
        let source = match renames.iter().find(|(_, to)| *to == name) {
            Some((from, _)) => Some(*from),
            None if !from_seen.contains(name) && previous.index_of(name).is_ok() => Some(name),
            None => None,
        };
        let id = match source.and_then(|source| previous.index_of(source).ok()) {
            Some(index) => ids.get(index).copied(),
            None => None,
        };
        let id = match id {
            Some(id) => id,
            None => {
                let id = *next_id;
                *next_id = next_id.saturating_add(1);
                id
            }
        };
        sources.push(source.map(str::to_owned));
        new_ids.push(id);
    }
    Ok((sources, new_ids))
}
