//! Rendering rows for people (a boxed table) and for machines (a JSON array of row objects, the
//! contract's shape for `table show --json` and `snapshot --json`).

use anyhow::Result;
use arrow_array::RecordBatch;

/// Renders `batch` as a JSON array of row objects, nulls written out explicitly.
pub(crate) fn rows_json(batch: &RecordBatch) -> Result<String> {
    let mut writer = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow_json::writer::JsonArray>(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    // arrow-json writes nothing at all for zero rows; the contract wants an array.
    Ok(if bytes.is_empty() {
        "[]".to_owned()
    } else {
        String::from_utf8(bytes)?
    })
}

/// Renders `batch` as a boxed text table.
pub(crate) fn rows_pretty(batch: &RecordBatch) -> Result<String> {
    Ok(arrow_cast::pretty::pretty_format_batches(std::slice::from_ref(batch))?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray};

    #[test]
    fn json_rows_keep_nulls_and_order() {
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![2, 1])) as ArrayRef),
            ("name", Arc::new(StringArray::from(vec![Some("b"), None]))),
        ])
        .unwrap();
        assert_eq!(
            rows_json(&batch).unwrap(),
            r#"[{"id":2,"name":"b"},{"id":1,"name":null}]"#
        );
        assert_eq!(rows_json(&batch.slice(0, 0)).unwrap(), "[]");
    }
}
