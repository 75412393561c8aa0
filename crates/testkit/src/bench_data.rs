//! The data every benchmark program writes, reads and ticks: one definition, so that the
//! storage, scan and live-table benchmarks (and, through `xtask/bench/peers.py`, the peers)
//! measure the same rows.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

/// `id: int64, name: utf8, value: float64`, none nullable.
pub fn bench_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]))
}

/// Rows `start..start + rows` of the benchmark table: id = i, name = "user_" + (i % 100000),
/// value = i * 0.5 (what the peers' script writes too).
///
/// # Errors
///
/// Arrow's, if the batch cannot be built (it can: the columns match the schema).
pub fn bench_batch(start: i64, rows: i64) -> Result<RecordBatch, ArrowError> {
    let ids: Vec<i64> = (start..start + rows).collect();
    let names = StringArray::from_iter_values(ids.iter().map(|i| format!("user_{}", i % 100_000)));
    let values = Float64Array::from_iter_values(ids.iter().map(|i| *i as f64 * 0.5));
    RecordBatch::try_new(
        bench_schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(names),
            Arc::new(values),
        ],
    )
}

/// The nearest-rank percentile `p` (0 to 100) of an ascending sample (the peers' script
/// computes it the same way); 0 for an empty sample.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Guards the shared benchmark data and the percentile rule the reports rely on.
    #[test]
    fn data_and_percentiles() {
        let b = bench_batch(99_999, 2).unwrap();
        assert_eq!(b.num_rows(), 2);
        let names = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((names.value(0), names.value(1)), ("user_99999", "user_0"));
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 51.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
