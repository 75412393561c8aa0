//! Applying an update to a chunked snapshot: route each part of the update to the chunk its keys
//! fall in, rebuild only those chunks, and let the [size rules](crate::ChunkBounds) split and
//! merge around them.
//!
//! This is the body of [`Snapshot::apply`](crate::Snapshot::apply), kept apart because it is
//! the one place where an update meets the chunk layout. The update has already been conformed to
//! the table's schema and validated against its keys, so every removed or changed key is in some
//! chunk and no added key collides.
//!
//! Routing costs O(log c) per key of the update (binary searches over the chunk list); each
//! touched chunk is rebuilt with the row-keyed kernels of [`kernels`](crate::kernels) in time
//! linear in that chunk; untouched chunks are moved as pointers. Added keys past the table's last
//! key become new chunks at the end instead of widening the last one, so an append never copies
//! the tail unless the size rules ask for a merge.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow_schema::SchemaRef;

use crate::chunk::{Chunk, ChunkListBuilder, ChunkStats, Keys};
use crate::error::{CoreError, Result};
use crate::kernels::{batch_with_rows, drop_rows, merge_batches, merge_keys, overlay};
use crate::row_set::{RowKey, RowSet};
use crate::schema::column_index;
use crate::snapshot::{Snapshot, chunks_of};
use crate::update::TableUpdate;

/// What an update does to one chunk.
#[derive(Default)]
struct Edit {
    /// Keys removed from the chunk, ascending.
    removed: Vec<RowKey>,
    /// Per column change (index into the update's changes), the range of its keys in the chunk.
    changes: Vec<(usize, Range<usize>)>,
    /// The range of the update's added rows that lands in the chunk.
    added: Range<usize>,
}

/// The chunks of `snapshot` after `update` (conformed and validated), and the splits and merges
/// it took.
pub(crate) fn apply_chunked(
    snapshot: &Snapshot,
    update: &TableUpdate,
) -> Result<(Vec<Arc<Chunk>>, ChunkStats)> {
    let chunks: &[Arc<Chunk>] = if update.is_reset() {
        &[]
    } else {
        snapshot.chunk_list()
    };
    let containing = |key: RowKey| chunks.partition_point(|chunk| chunk.last_key() < key);
    let mut edits: BTreeMap<usize, Edit> = BTreeMap::new();

    for key in update.removed().iter() {
        if update.is_reset() {
            break;
        }
        edits.entry(containing(key)).or_default().removed.push(key);
    }

    for (number, change) in update.modified().iter().enumerate() {
        let keys = change.keys();
        let mut start = 0;
        while let Some(key) = keys.get(start) {
            let index = containing(*key);
            let chunk = chunks
                .get(index)
                .ok_or(CoreError::KeyNotPresent { key: *key })?;
            let last = chunk.last_key();
            let end = start + keys[start..].partition_point(|k| *k <= last);
            edits
                .entry(index)
                .or_default()
                .changes
                .push((number, start..end));
            start = end;
        }
    }

    // Added keys up to the last key go to the chunk whose range they fall in (or, between two
    // chunks, the left one); keys past the last key become new tail chunks.
    // Searched as they are held (runs stay runs: the tail of a large step is never written out).
    let added = update.added().key_buffer();
    let tail_from = chunks
        .last()
        .map_or(0, |last| added.partition_point(|k| k <= last.last_key()));
    let mut start = 0;
    while let Some(key) = added.get(start).filter(|_| start < tail_from) {
        let index = chunks
            .partition_point(|chunk| chunk.first_key() <= key)
            .saturating_sub(1);
        let end = match chunks.get(index + 1) {
            Some(next) => {
                let limit = next.first_key();
                start
                    + added
                        .slice(start, tail_from - start)
                        .partition_point(|k| k < limit)
            }
            None => tail_from,
        };
        edits.entry(index).or_default().added = start..end;
        start = end;
    }

    let schema = snapshot.schema().arrow();
    let mut builder = ChunkListBuilder::new(snapshot.chunk_bounds(), chunks.len() + 2);
    for (index, chunk) in chunks.iter().enumerate() {
        match edits.get(&index) {
            None => builder.push(chunk.clone())?,
            Some(edit) => {
                if let Some(rebuilt) = rebuild(chunk, edit, update, schema)? {
                    builder.push(Arc::new(rebuilt))?;
                }
            }
        }
    }
    // The tail as the update's own batches (slices, no copy), each a chunk or more.
    let key_buffer = added;
    let mut at = tail_from;
    for piece in update.added().slices(tail_from..added.len()) {
        let len = piece.num_rows();
        chunks_of(&mut builder, key_buffer.slice(at, len), &piece)?;
        at += len;
    }
    Ok(builder.finish())
}

/// `chunk` after `edit`: removals, then column changes on the rows that remain, then added rows
/// merged by key. `None` if no row remains.
fn rebuild(
    chunk: &Chunk,
    edit: &Edit,
    update: &TableUpdate,
    schema: &SchemaRef,
) -> Result<Option<Chunk>> {
    let (keys, batch): (Keys, _) = if edit.removed.is_empty() {
        (chunk.shared_keys().clone(), chunk.batch().clone())
    } else {
        let removed = RowSet::from_ascending_unchecked(&edit.removed);
        let (keys, batch) = drop_rows(chunk.keys(), chunk.batch(), &removed)?;
        (Keys::from(keys), batch)
    };

    let batch = if edit.changes.is_empty() {
        batch
    } else {
        let mut columns = batch.columns().to_vec();
        for (number, range) in &edit.changes {
            let Some(change) = update.modified().get(*number) else {
                continue;
            };
            let index = column_index(schema, change.column())?;
            let change_keys = change.keys().get(range.clone()).unwrap_or_default();
            let values = change.values().slice(range.start, range.len());
            if let Some(column) = columns.get_mut(index) {
                *column = overlay(column, keys.as_slice(), change_keys, &values)?;
            }
        }
        batch_with_rows(schema.clone(), columns, keys.len())?
    };

    let (keys, batch) = if edit.added.is_empty() {
        (keys, batch)
    } else {
        let added = update.added();
        let added_keys = added.key_buffer().slice(edit.added.start, edit.added.len());
        let added_keys = added_keys.as_slice();
        let added_batch = added.rows_batch(edit.added.clone())?;
        let (merged, plan) = merge_keys(keys.as_slice(), added_keys);
        let batch = merge_batches(&batch, &added_batch, &plan)?;
        (Keys::from(merged), batch)
    };

    if keys.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chunk::new_unchecked(keys, batch)))
}
