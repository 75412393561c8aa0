//! Turning a received step into the client's two copies: the *mirror* (what the upstream holds
//! at its step, in the columns asked for, kept so that a reconnect can resume rather than
//! reload) and the caller's local [`LiveTable`], updated in one atomic step.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::Schema;
use arrow_select::concat::{concat, concat_batches};
use tableshare_core::{
    AddedRows, ColumnChange, CoreError, LiveTable, RowKey, RowSet, Snapshot, Step, TableDefinition,
    TableSchema, TableUpdate,
};

use crate::client::connect::Received;

/// The upstream's content at the step the client holds.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) incarnation: String,
    pub(crate) snapshot: Snapshot,
}

/// What a received step did to the mirror: the update to apply locally (already in the mirror's
/// columns) and the new mirror.
pub(crate) struct Applied {
    pub(crate) held: Held,
    pub(crate) update: TableUpdate,
}

/// Applies `received` to `held` (absent for a reset).
pub(crate) fn to_mirror(held: Option<&Held>, received: Received) -> Result<Applied, CoreError> {
    let step = received.step;
    if received.reset {
        let incarnation = received.incarnation.clone();
        let snapshot = reset_snapshot(received)?;
        let update = reset_update(&snapshot)?;
        return Ok(Applied {
            held: Held {
                incarnation,
                snapshot,
            },
            update,
        });
    }
    let Some(held) = held else {
        return Err(CoreError::StepAhead { step, current: 0 });
    };
    let schema = held.snapshot.schema().arrow().clone();
    let (keys, batch) = join_rows(&schema, received.added)?;
    let added = AddedRows::new(keys, batch)?;
    let mut changes = Vec::new();
    for (column, keys, values) in join_columns(received.modified)? {
        changes.push(ColumnChange::new(column, keys, values)?);
    }
    let update = TableUpdate::new(step, received.removed, added, changes)?;
    let snapshot = held.snapshot.apply(&update)?;
    Ok(Applied {
        held: Held {
            incarnation: received.incarnation,
            snapshot,
        },
        update,
    })
}

/// The snapshot a reset step carries, as received (its batches, not concatenated). A static
/// snapshot stops here: the update that would replace a local table by it (`reset_update`)
/// copies every row into one batch, which only a local table needs.
pub(crate) fn reset_snapshot(received: Received) -> Result<Snapshot, CoreError> {
    if !received.reset {
        return Err(CoreError::StepAhead {
            step: received.step,
            current: 0,
        });
    }
    let schema = received.schema.ok_or(CoreError::MissingColumn {
        column: "(schema)".into(),
    })?;
    let table_schema = TableSchema::from_arrow(&schema)?;
    // The keys stay the ranges they arrived as: a snapshot of 10,000,000 rows numbered in a
    // few runs holds a few words of keys.
    Snapshot::from_ranged_batches(
        table_schema,
        received.step,
        received
            .added
            .into_iter()
            .map(|(keys, batch)| (keys.ranges(), batch)),
    )
}

/// One update replacing the table by `snapshot`'s rows: its chunks as they are (no copy of the
/// rows; the local table's chunks become slices of them).
pub(crate) fn reset_update(snapshot: &Snapshot) -> Result<TableUpdate, CoreError> {
    Ok(TableUpdate::reset(
        snapshot.step(),
        AddedRows::from_snapshot(snapshot)?,
    ))
}

fn join_rows(
    schema: &Arc<Schema>,
    parts: Vec<(RowSet, RecordBatch)>,
) -> Result<(Vec<RowKey>, RecordBatch), CoreError> {
    let parts: Vec<(Vec<RowKey>, RecordBatch)> = parts
        .into_iter()
        .map(|(keys, batch)| (keys.to_vec(), batch))
        .collect();
    if parts.len() == 1 {
        if let Some(part) = parts.into_iter().next() {
            return Ok(part);
        }
        return Ok((Vec::new(), RecordBatch::new_empty(schema.clone())));
    }
    let keys: Vec<RowKey> = parts.iter().flat_map(|(k, _)| k.iter().copied()).collect();
    let batch_schema = parts
        .first()
        .map_or_else(|| schema.clone(), |(_, b)| b.schema());
    let batches: Vec<&RecordBatch> = parts.iter().map(|(_, b)| b).collect();
    let batch = concat_batches(&batch_schema, batches).map_err(|source| CoreError::Arrow {
        operation: "joining received rows",
        source,
    })?;
    Ok((keys, batch))
}

fn join_columns(
    parts: Vec<(String, Vec<RowKey>, ArrayRef)>,
) -> Result<Vec<(String, Vec<RowKey>, ArrayRef)>, CoreError> {
    let mut out: Vec<(String, Vec<RowKey>, Vec<ArrayRef>)> = Vec::new();
    for (column, keys, values) in parts {
        match out.last_mut() {
            Some((last, last_keys, arrays)) if *last == column => {
                last_keys.extend(keys);
                arrays.push(values);
            }
            _ => out.push((column, keys, vec![values])),
        }
    }
    out.into_iter()
        .map(|(column, keys, arrays)| {
            let values = if arrays.len() == 1 {
                arrays.into_iter().next().ok_or(CoreError::MissingColumn {
                    column: column.clone(),
                })?
            } else {
                let refs: Vec<&dyn arrow_array::Array> = arrays.iter().map(AsRef::as_ref).collect();
                concat(&refs).map_err(|source| CoreError::Arrow {
                    operation: "joining received column values",
                    source,
                })?
            };
            Ok((column, keys, values))
        })
        .collect()
}

/// How the local table relates to the mirror.
#[derive(Debug, Clone)]
pub(crate) struct LocalShape {
    /// The definition given up front: local columns are exactly its columns.
    pub(crate) definition: Option<TableDefinition>,
    pub(crate) blink: bool,
}

impl LocalShape {
    /// Checks the upstream schema against the definition.
    pub(crate) fn check(&self, upstream: &Schema) -> Result<(), CoreError> {
        match &self.definition {
            Some(definition) => definition.check_compatible(upstream),
            None => Ok(()),
        }
    }

    /// The mirror snapshot in local columns.
    pub(crate) fn local_snapshot(&self, mirror: &Snapshot) -> Result<Snapshot, CoreError> {
        match &self.definition {
            Some(definition) => {
                let columns: Vec<&str> = definition
                    .columns()
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                mirror.project(&columns)
            }
            None => Ok(mirror.clone()),
        }
    }

    /// The update in local columns.
    fn local_update(&self, update: &TableUpdate) -> Result<TableUpdate, CoreError> {
        match &self.definition {
            Some(definition) => {
                let columns: Vec<&str> = definition
                    .columns()
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                update.project(&columns)
            }
            None => Ok(update.clone()),
        }
    }

    /// Applies one received step to `local` atomically and returns the local step. `cleared`
    /// says the local table was emptied (disconnect with `clear`) and needs the whole mirror.
    pub(crate) fn apply(
        &self,
        local: &LiveTable,
        applied: &Applied,
        cleared: bool,
    ) -> Result<Step, CoreError> {
        let mirror = self.local_snapshot(&applied.held.snapshot)?;
        if mirror.schema() != &local.schema() {
            // The upstream's columns changed (no definition pins them): follow as a schema step.
            local.change_schema(mirror.schema().clone(), &[])?;
        }
        let update = if self.blink {
            let rows = if applied.update.is_reset() {
                reset_update(&mirror)?
            } else {
                self.local_update(&applied.update)?
            };
            let (_, _, added, _) = rows.into_parts();
            TableUpdate::new(0, Default::default(), added, Vec::new())?
        } else if applied.update.is_reset() || cleared {
            reset_update(&mirror)?
        } else {
            self.local_update(&applied.update)?
        };
        let step = applied.held.snapshot.step();
        if step > local.step() {
            local.apply_at(update.with_step(step))
        } else {
            // The upstream started over (a restarted worker that reset its table): the local
            // table keeps counting its own steps.
            local.apply(update)
        }
    }
}
