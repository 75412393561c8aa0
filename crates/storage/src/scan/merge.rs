//! The k-way merge of keyed batch streams whose key ranges overlap.
//!
//! Compaction can leave files whose key ranges overlap (a merged file's keys need not be
//! dense), although every live key is in exactly one file. A scan reads each group of
//! overlapping files together and merges their streams by key: it holds one batch per input,
//! repeatedly takes from the input with the smallest next key every row below the other
//! inputs' next keys (a run, found by binary search, so files that merely touch cost nothing
//! per row), and emits batches of at most `batch_size` rows built with Arrow's `interleave`.
//! Memory is bounded by one batch per input plus the batch being built.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::StreamExt;

use super::ScanBatch;
use super::file::KeyedStream;
use crate::error::{CorruptReason, Result, StorageError};

/// One input of a merge: its stream and its current batch with a read position.
struct Input {
    stream: KeyedStream,
    head: Option<(ScanBatch, usize)>,
    done: bool,
    /// The index of the head batch among the sources of the batch being built, once used.
    source: Option<usize>,
}

impl Input {
    /// Makes sure the input has a current batch with rows left, unless it is exhausted.
    async fn fill(&mut self) -> Result<()> {
        while !self.done && self.head.as_ref().is_none_or(|(b, at)| *at >= b.keys.len()) {
            match self.stream.next().await {
                Some(batch) => {
                    self.head = Some((batch?, 0));
                    self.source = None;
                }
                None => {
                    self.done = true;
                    self.head = None;
                }
            }
        }
        Ok(())
    }

    /// The next key, if any.
    fn next_key(&self) -> Option<u64> {
        self.head
            .as_ref()
            .and_then(|(b, at)| b.keys.get(*at).copied())
    }
}

/// Merges streams that are each ascending by key, with no key in two streams, into one
/// ascending stream of batches of at most `batch_size` rows of `schema`.
/// `dir` names the table directory in errors.
pub(crate) fn merge(
    inputs: Vec<KeyedStream>,
    schema: SchemaRef,
    batch_size: usize,
    dir: String,
) -> KeyedStream {
    if inputs.len() == 1 {
        if let Some(only) = inputs.into_iter().next() {
            return only;
        }
        return futures::stream::empty().boxed();
    }
    let inputs: Vec<Input> = inputs
        .into_iter()
        .map(|stream| Input {
            stream,
            head: None,
            done: false,
            source: None,
        })
        .collect();
    futures::stream::unfold(Some(inputs), move |state| {
        let schema = schema.clone();
        let dir = dir.clone();
        async move {
            let mut inputs = state?;
            match next_batch(&mut inputs, &schema, batch_size, &dir).await {
                Ok(Some(batch)) => Some((Ok(batch), Some(inputs))),
                Ok(None) => None,
                // An error ends the merge.
                Err(e) => Some((Err(e), None)),
            }
        }
    })
    .boxed()
}

/// Builds the next merged batch (`None` when every input is exhausted).
async fn next_batch(
    inputs: &mut [Input],
    schema: &SchemaRef,
    batch_size: usize,
    dir: &str,
) -> Result<Option<ScanBatch>> {
    // Batches the output takes rows from, and (batch, row) picks in output order.
    let mut sources: Vec<RecordBatch> = Vec::new();
    for input in inputs.iter_mut() {
        input.source = None;
    }
    let mut picks: Vec<(usize, usize)> = Vec::new();
    let mut keys: Vec<u64> = Vec::new();
    while keys.len() < batch_size.max(1) {
        for input in inputs.iter_mut() {
            input.fill().await?;
        }
        let mut order: Vec<(u64, usize)> = inputs
            .iter()
            .enumerate()
            .filter_map(|(i, input)| input.next_key().map(|k| (k, i)))
            .collect();
        if order.is_empty() {
            break;
        }
        order.sort_unstable();
        let (_, first) = order[0];
        let bound = order.get(1).map(|(k, _)| *k);
        let input = &mut inputs[first];
        let Some((batch, at)) = input.head.as_mut() else {
            break;
        };
        let rest = &batch.keys[*at..];
        let run = bound
            .map_or(rest.len(), |b| rest.partition_point(|k| *k < b))
            .min(batch_size.max(1) - keys.len());
        if run == 0 {
            // Two inputs hold the same key: the manifest promised they would not.
            return Err(StorageError::corrupt(
                dir,
                CorruptReason::Inconsistent("a row key is live in two data files"),
            ));
        }
        let source = match input.source {
            Some(s) => s,
            None => {
                sources.push(batch.batch.clone());
                input.source = Some(sources.len() - 1);
                sources.len() - 1
            }
        };
        picks.extend((*at..*at + run).map(|row| (source, row)));
        keys.extend_from_slice(&rest[..run]);
        *at += run;
    }
    if keys.is_empty() {
        return Ok(None);
    }
    let refs: Vec<&RecordBatch> = sources.iter().collect();
    let batch = if refs.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        arrow_select::interleave::interleave_record_batch(&refs, &picks)
            .map_err(StorageError::arrow("merging rows of overlapping files"))?
    };
    Ok(Some(ScanBatch { keys, batch }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};
    use futures::TryStreamExt;

    use super::*;

    fn input(batches: &[&[u64]]) -> KeyedStream {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::UInt64, false)]));
        let items: Vec<Result<ScanBatch>> = batches
            .iter()
            .map(|keys| {
                let values = UInt64Array::from(keys.iter().map(|k| k * 10).collect::<Vec<_>>());
                Ok(ScanBatch {
                    keys: keys.to_vec(),
                    batch: RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).unwrap(),
                })
            })
            .collect();
        futures::stream::iter(items).boxed()
    }

    // Guards the merge: interleaved, disjoint and empty inputs come out ascending with their
    // rows, in batches of at most the batch size; a key in two inputs is an error.
    #[tokio::test]
    async fn merges_in_key_order() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::UInt64, false)]));
        type Case = (Vec<Vec<&'static [u64]>>, usize);
        let cases: Vec<Case> = vec![
            (
                vec![
                    vec![&[1, 4, 7], &[9]],
                    vec![&[2, 3], &[8, 10]],
                    vec![&[5, 6]],
                ],
                3,
            ),
            (vec![vec![&[1, 2]], vec![&[3, 4]]], 10),
            (vec![vec![], vec![&[3, 4]], vec![&[]]], 1),
        ];
        for (inputs, size) in cases {
            let mut expected: Vec<u64> = inputs
                .iter()
                .flatten()
                .flat_map(|b| b.iter().copied())
                .collect();
            expected.sort_unstable();
            let streams = inputs.iter().map(|b| input(b)).collect();
            let out: Vec<ScanBatch> = merge(streams, schema.clone(), size, "t".into())
                .try_collect()
                .await
                .unwrap();
            assert!(
                out.iter()
                    .all(|b| b.keys.len() <= size && b.batch.num_rows() == b.keys.len())
            );
            let keys: Vec<u64> = out.iter().flat_map(|b| b.keys.clone()).collect();
            assert_eq!(keys, expected);
            let values: Vec<u64> = out
                .iter()
                .flat_map(|b| {
                    let c = b
                        .batch
                        .column(0)
                        .as_any()
                        .downcast_ref::<UInt64Array>()
                        .unwrap();
                    (0..c.len()).map(|i| c.value(i)).collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(values, expected.iter().map(|k| k * 10).collect::<Vec<_>>());
        }
        let dup = merge(
            vec![input(&[&[1, 2]]), input(&[&[2]])],
            schema,
            8,
            "t".into(),
        );
        assert!(dup.try_collect::<Vec<_>>().await.is_err());
    }
}
