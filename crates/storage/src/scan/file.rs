//! One data file of a streaming scan: choosing what to read, reading it, and shaping it.
//!
//! Opening a file reads its verified tail (footer) and its deletion vector, checks the footer
//! against the manifest entry, and picks the row groups whose statistics (`_row_key` and the
//! filtered columns) may hold wanted rows. The file then streams those row groups, decoding
//! only `_row_key`, the requested columns and the filtered ones; each batch is checked (keys
//! ascending within the entry's range), its deleted, out-of-range and non-matching rows are
//! dropped, and its columns are matched to the output by column id (a column the file lacks
//! reads as nulls).

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array, new_null_array};
use arrow_buffer::BooleanBuffer;
use arrow_schema::{DataType, FieldRef, SchemaRef};
use arrow_select::filter::FilterBuilder;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use tableshare_core::RowSet;

use super::ScanBatch;
use super::ahead::read_ahead;
use super::predicate::BoundPredicate;
use crate::error::{CorruptReason, Result, StorageError};
use crate::format::manifest::{DataFileEntry, ROW_KEY_COLUMN};
use crate::format::reader::{DataFileReader, from_parquet};
use crate::format::table_dir::TableDir;

/// A stream of keyed batches, keys ascending.
pub(crate) type KeyedStream = BoxStream<'static, Result<ScanBatch>>;

/// What every file of one scan reads, shared by the files' streams.
#[derive(Debug)]
pub(crate) struct FilePlan {
    /// Output columns: each column's id and its field as callers see it, in output order.
    pub(crate) columns: Vec<(u32, FieldRef)>,
    /// The output schema (the fields of `columns`).
    pub(crate) schema: SchemaRef,
    /// Filters; a row is kept when all match.
    pub(crate) predicates: Vec<BoundPredicate>,
    /// Keys wanted.
    pub(crate) keys: Range<u64>,
    /// Rows per decoded batch.
    pub(crate) batch_size: usize,
    /// Row groups of a file decoded concurrently, each on its own task, the next ones ahead of
    /// the one being consumed; 0 reads a file's row groups lazily, one after another (a limited
    /// read, which must not fetch past the row group that completes it).
    pub(crate) row_groups_ahead: usize,
}

/// Opens one file of a scan: `None` when the entry, its footer or its statistics show that no
/// wanted row is in it (then nothing, or only the footer, was read).
pub(crate) async fn open_file(
    dir: &TableDir,
    entry: &DataFileEntry,
    plan: &Arc<FilePlan>,
) -> Result<Option<KeyedStream>> {
    let position = |id: u32| entry.columns.iter().position(|c| *c == id);
    // A filtered column the file lacks is all null there, and nulls never match.
    if entry.key_max < plan.keys.start
        || entry.key_min >= plan.keys.end
        || plan
            .predicates
            .iter()
            .any(|p| position(p.column_id).is_none())
    {
        return Ok(None);
    }
    let rel = dir.rel(&entry.path);
    let (reader, deleted) = futures::try_join!(
        DataFileReader::open(&dir.root, rel.clone(), entry),
        dir.read_dv(entry)
    )?;
    let metadata =
        ArrowReaderMetadata::try_new(Arc::clone(reader.metadata()), ArrowReaderOptions::new())
            .map_err(|e| from_parquet(&rel, e))?;
    // Roots to decode: `_row_key` (root 0), the output columns the file has, filtered columns.
    let mut roots = vec![0];
    let mut expected: Vec<(usize, &DataType)> = Vec::new();
    for (id, field) in &plan.columns {
        if let Some(i) = position(*id) {
            roots.push(i + 1);
            expected.push((i + 1, field.data_type()));
        }
    }
    for p in &plan.predicates {
        if let Some(i) = position(p.column_id) {
            roots.push(i + 1);
            expected.push((i + 1, &p.data_type));
        }
    }
    roots.sort_unstable();
    roots.dedup();
    check_footer(&rel, &metadata, entry, &expected)?;
    let row_groups = select_row_groups(&rel, &metadata, entry, plan, &deleted)?;
    if row_groups.is_empty() {
        return Ok(None);
    }
    // Decoded batches hold the roots in ascending order.
    let column_of = |i: usize| roots.binary_search(&(i + 1)).ok();
    let shaper = Shaper {
        rel: rel.clone(),
        key_range: entry.key_min..=entry.key_max,
        deleted,
        plan: Arc::clone(plan),
        outputs: plan
            .columns
            .iter()
            .map(|(id, _)| position(*id).and_then(column_of))
            .collect(),
        // Every filtered column is in the file (checked above) and among the roots.
        filters: plan
            .predicates
            .iter()
            .map(|p| position(p.column_id).and_then(column_of).unwrap_or(0))
            .collect(),
        last_key: None,
    };
    let mask = ProjectionMask::roots(metadata.parquet_schema(), roots.iter().copied());
    let ahead = plan.row_groups_ahead;
    let batch_size = plan.batch_size;
    let file = rel.clone();
    // One stream over some of the file's row groups, shaped.
    let read = move |groups: Vec<usize>| -> Result<KeyedStream> {
        let stream =
            ParquetRecordBatchStreamBuilder::new_with_metadata(reader.clone(), metadata.clone())
                .with_projection(mask.clone())
                .with_row_groups(groups)
                .with_batch_size(batch_size)
                .build()
                .map_err(|e| from_parquet(&rel, e))?;
        let mut shaper = shaper.clone();
        Ok(stream
            .map(move |batch| match batch {
                Ok(batch) => shaper.shape(&batch),
                Err(e) => Err(from_parquet(&shaper.rel, e)),
            })
            .try_filter_map(|b| futures::future::ready(Ok(b)))
            .boxed())
    };
    if ahead == 0 || row_groups.len() == 1 {
        return Ok(Some(read(row_groups)?));
    }
    // Each row group on its own task, `ahead` of them at a time, consumed in file order. Each
    // group's shaper checks that its keys ascend; `ascending_across` checks it between groups.
    let groups = futures::stream::iter(row_groups)
        .map(move |group| futures::future::ready(read(vec![group]).map(read_ahead)))
        .buffered(ahead)
        .try_flatten();
    Ok(Some(ascending_across(file, groups.boxed())))
}

/// Checks that the keys of consecutive batches ascend (each batch's own keys are checked as
/// it is shaped).
fn ascending_across(rel: String, stream: KeyedStream) -> KeyedStream {
    let mut last: Option<u64> = None;
    stream
        .map(move |item| {
            let batch = item?;
            if let (Some(last), Some(first)) = (last, batch.keys.first())
                && *first <= last
            {
                return Err(StorageError::corrupt(
                    &rel,
                    CorruptReason::Inconsistent("row keys are not ascending across row groups"),
                ));
            }
            if let Some(key) = batch.keys.last() {
                last = Some(*key);
            }
            Ok(batch)
        })
        .boxed()
}

/// Checks a verified footer against the manifest entry: column count, `_row_key`, row count,
/// and the types of the columns to be decoded (`(root, type)` pairs).
fn check_footer(
    rel: &str,
    metadata: &ArrowReaderMetadata,
    entry: &DataFileEntry,
    expected: &[(usize, &DataType)],
) -> Result<()> {
    let inconsistent = |what| {
        Err(StorageError::corrupt(
            rel,
            CorruptReason::Inconsistent(what),
        ))
    };
    let schema = metadata.schema();
    let fields = schema.fields();
    if fields.len() != entry.columns.len() + 1 {
        return inconsistent("data file columns differ from the manifest");
    }
    if fields[0].name() != ROW_KEY_COLUMN || fields[0].data_type() != &DataType::UInt64 {
        return inconsistent("the first column is not a UInt64 _row_key");
    }
    if u64::try_from(metadata.metadata().file_metadata().num_rows()).ok() != Some(entry.rows) {
        return inconsistent("row count differs from the manifest");
    }
    if expected
        .iter()
        .any(|(root, data_type)| fields[*root].data_type() != *data_type)
    {
        return inconsistent("a column's type differs from the schema");
    }
    Ok(())
}

/// The row groups whose statistics may hold wanted rows: keys in the scan's range and not all
/// deleted, and values matching every filter. Missing statistics never exclude a row group.
fn select_row_groups(
    rel: &str,
    metadata: &ArrowReaderMetadata,
    entry: &DataFileEntry,
    plan: &FilePlan,
    deleted: &RowSet,
) -> Result<Vec<usize>> {
    let undecodable = |e| StorageError::undecodable(rel, e);
    let schema = metadata.schema();
    let parquet = metadata.metadata();
    let descr = parquet.file_metadata().schema_descr();
    let groups = parquet.row_groups();
    let stats = |name: &str| -> Result<(ArrayRef, ArrayRef)> {
        let converter = StatisticsConverter::try_new(name, schema, descr).map_err(undecodable)?;
        let mins = converter.row_group_mins(groups).map_err(undecodable)?;
        let maxes = converter.row_group_maxes(groups).map_err(undecodable)?;
        Ok((mins, maxes))
    };
    let mut keep = vec![true; groups.len()];
    let (mins, maxes) = stats(ROW_KEY_COLUMN)?;
    if let (Some(mins), Some(maxes)) = (
        mins.as_any().downcast_ref::<UInt64Array>(),
        maxes.as_any().downcast_ref::<UInt64Array>(),
    ) {
        for (i, keep) in keep.iter_mut().enumerate() {
            if mins.is_null(i) || maxes.is_null(i) {
                continue;
            }
            let (min, max) = (mins.value(i), maxes.value(i));
            let outside = max < plan.keys.start || min >= plan.keys.end;
            // Keys are distinct, so a group of `max - min + 1` rows holds exactly
            // `min..=max`; if the deletion vector holds all of them, nothing in it is live.
            let dense =
                u64::try_from(groups[i].num_rows()).ok() == max.checked_sub(min).map(|d| d + 1);
            let all_deleted = !deleted.is_empty()
                && dense
                && RowSet::from_range(min..max.saturating_add(1)).is_subset(deleted);
            *keep &= !outside && !all_deleted;
        }
    }
    for p in &plan.predicates {
        let Some(i) = entry.columns.iter().position(|c| *c == p.column_id) else {
            return Ok(Vec::new());
        };
        let (mins, maxes) = stats(schema.field(i + 1).name())?;
        for (keep, may) in keep.iter_mut().zip(p.may_match(&mins, &maxes)?) {
            *keep &= may;
        }
    }
    Ok((0..groups.len()).filter(|&i| keep[i]).collect())
}

/// Turns decoded batches of one file into output batches (see the module docs).
#[derive(Clone)]
struct Shaper {
    rel: String,
    key_range: std::ops::RangeInclusive<u64>,
    deleted: RowSet,
    plan: Arc<FilePlan>,
    /// For each output column, its column in decoded batches (`None`: the file lacks it).
    outputs: Vec<Option<usize>>,
    /// For each filter, the column in decoded batches it tests.
    filters: Vec<usize>,
    /// The last key seen, so keys must ascend across batches too.
    last_key: Option<u64>,
}

impl Shaper {
    fn shape(&mut self, batch: &RecordBatch) -> Result<Option<ScanBatch>> {
        let inconsistent =
            |what| StorageError::corrupt(&self.rel, CorruptReason::Inconsistent(what));
        let keys = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .filter(|k| k.null_count() == 0)
            .ok_or_else(|| inconsistent("_row_key is not a UInt64 column without nulls"))?;
        let values = keys.values();
        let ascending = values.windows(2).all(|w| w[0] < w[1])
            && values.first().is_none_or(|first| {
                self.key_range.contains(first) && self.last_key.is_none_or(|last| last < *first)
            })
            && values
                .last()
                .is_none_or(|last| self.key_range.contains(last));
        if !ascending {
            return Err(inconsistent(
                "row keys are not ascending within the recorded range",
            ));
        }
        if let Some(last) = values.last() {
            self.last_key = Some(*last);
        }
        // Which rows to keep, as a bit mask; `None` keeps every row. Checked per row only where
        // a batch can hold a row to drop: keys outside the wanted range or deleted keys.
        let mut keep: Option<BooleanBuffer> = match (values.first(), values.last()) {
            (Some(&first), Some(&last)) => {
                let wanted = &self.plan.keys;
                let in_range = wanted.contains(&first) && wanted.contains(&last);
                let none_deleted = self.deleted.is_empty()
                    || RowSet::from_range(first..last.saturating_add(1)).is_disjoint(&self.deleted);
                (!(in_range && none_deleted)).then(|| {
                    BooleanBuffer::collect_bool(values.len(), |i| {
                        wanted.contains(&values[i]) && !self.deleted.contains(values[i])
                    })
                })
            }
            _ => None,
        };
        for (p, column) in self.plan.predicates.iter().zip(&self.filters) {
            let matches = p.evaluate(batch.column(*column))?;
            // A null comparison (a null value) does not match.
            let matched = match matches.nulls() {
                Some(nulls) => matches.values() & nulls.inner(),
                None => matches.values().clone(),
            };
            keep = Some(match keep {
                Some(keep) => &keep & &matched,
                None => matched,
            });
        }
        let rows = keep
            .as_ref()
            .map_or(values.len(), BooleanBuffer::count_set_bits);
        if rows == 0 {
            return Ok(None);
        }
        let all = rows == values.len();
        let (kept_keys, filter) = match keep {
            Some(keep) if !all => {
                let kept: Vec<u64> = keep.set_indices().map(|i| values[i]).collect();
                let filter = FilterBuilder::new(&BooleanArray::new(keep, None))
                    .optimize()
                    .build();
                (kept, Some(filter))
            }
            _ => (values.to_vec(), None),
        };
        let mut columns = Vec::with_capacity(self.outputs.len());
        for ((_, field), source) in self.plan.columns.iter().zip(&self.outputs) {
            let column = match source {
                Some(i) => match &filter {
                    None => Arc::clone(batch.column(*i)),
                    Some(filter) => filter
                        .filter(batch.column(*i))
                        .map_err(StorageError::arrow("dropping deleted or filtered rows"))?,
                },
                None => new_null_array(field.data_type(), rows),
            };
            columns.push(column);
        }
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&self.plan.schema),
            columns,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| StorageError::undecodable(self.rel.clone(), e))?;
        Ok(Some(ScanBatch {
            keys: kept_keys,
            batch,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;

    fn batch(keys: &[u64]) -> Result<ScanBatch> {
        let column: ArrayRef =
            Arc::new(Int64Array::from_iter_values(keys.iter().map(|k| *k as i64)));
        Ok(ScanBatch {
            keys: keys.to_vec(),
            batch: RecordBatch::try_from_iter([("v", column)]).unwrap(),
        })
    }

    /// Guards the check between row groups decoded on separate tasks: each group's shaper
    /// sees only its own keys, so a file whose second row group repeats or precedes keys of
    /// the first must still be reported as corrupt, naming the file.
    #[tokio::test]
    async fn keys_must_ascend_across_row_groups() {
        let good = futures::stream::iter(vec![batch(&[1, 2]), batch(&[3, 9]), batch(&[])]);
        let read: Vec<ScanBatch> = ascending_across("f.parquet".into(), good.boxed())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(read.len(), 3);
        for second in [[2, 3], [0, 1]] {
            let bad = futures::stream::iter(vec![batch(&[1, 2]), batch(&[]), batch(&second)]);
            let err = ascending_across("f.parquet".into(), bad.boxed())
                .try_collect::<Vec<_>>()
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StorageError::Corrupt { .. })
                    && err.to_string().contains("f.parquet"),
                "{err}"
            );
        }
    }
}
