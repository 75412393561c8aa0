//! Decoding the Flight messages of a subscription stream into Arrow, without copying large
//! bodies.
//!
//! arrow-flight's `FlightDataDecoder` copies a record batch's whole body into a fresh 64-byte
//! aligned allocation unless the body happens to start 64-byte aligned, which a body inside
//! tonic's receive buffer almost never does: every byte of a snapshot was copied once more after
//! tonic had already copied it out of the socket (a third of the client's time for a 10,000,000-row
//! snapshot, most of it faulting in the fresh pages). Here a large body is handed to arrow-ipc as
//! it is (a zero-copy [`Buffer`] over tonic's bytes) and arrow-ipc realigns only the buffers whose
//! type needs more alignment than they have (a string column's values never do), with the same
//! validation as before. A small body (a live tick) is still copied into memory of its own, so
//! that the rows a live table keeps never pin tonic's much larger receive buffer.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::Buffer;
use arrow_flight::FlightData;
use arrow_ipc::MessageHeader;
use arrow_ipc::reader::{RecordBatchDecoder, read_dictionary};
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;

/// Bodies at least this large are used in place (zero-copy); smaller ones are copied, so that a
/// few kept rows never hold a whole receive buffer alive.
const IN_PLACE_MIN_BYTES: usize = 64 << 10;

/// What one Flight message carried.
#[derive(Debug)]
pub(crate) enum Payload {
    /// No Arrow data (a message carrying only `app_metadata`).
    None,
    /// The schema of the batches that follow.
    Schema(SchemaRef),
    /// Rows in the current schema.
    Batch(RecordBatch),
}

/// One decoded message and its `app_metadata`.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) app_metadata: Bytes,
    pub(crate) payload: Payload,
}

/// The decoding state of one stream: the current schema and its dictionaries.
#[derive(Debug, Default)]
pub(crate) struct IpcDecoder {
    schema: Option<SchemaRef>,
    dictionaries: HashMap<i64, ArrayRef>,
}

impl IpcDecoder {
    /// Decodes `data`. `Ok(None)` for a dictionary batch, which only updates the state.
    pub(crate) fn decode(&mut self, data: FlightData) -> Result<Option<Decoded>, String> {
        let message = arrow_ipc::root_as_message(&data.data_header[..])
            .map_err(|e| format!("malformed IPC message header: {e}"))?;
        let payload = match message.header_type() {
            MessageHeader::NONE => Payload::None,
            MessageHeader::Schema => {
                let schema = Arc::new(
                    Schema::try_from(&data).map_err(|e| format!("malformed schema: {e}"))?,
                );
                self.schema = Some(schema.clone());
                self.dictionaries.clear();
                Payload::Schema(schema)
            }
            MessageHeader::DictionaryBatch => {
                let schema = self
                    .schema
                    .as_ref()
                    .ok_or("a dictionary before any schema")?;
                let batch = message
                    .header_as_dictionary_batch()
                    .ok_or("a dictionary message without its header")?;
                read_dictionary(
                    &body(data.data_body),
                    batch,
                    schema,
                    &mut self.dictionaries,
                    &message.version(),
                )
                .map_err(|e| format!("malformed dictionary: {e}"))?;
                return Ok(None);
            }
            MessageHeader::RecordBatch => {
                let schema = self.schema.clone().ok_or("rows before any schema")?;
                let header = message
                    .header_as_record_batch()
                    .ok_or("a record batch message without its header")?;
                let buffer = body(data.data_body);
                let batch = RecordBatchDecoder::try_new(
                    &buffer,
                    header,
                    schema,
                    &self.dictionaries,
                    &message.version(),
                )
                .map_err(|e| format!("malformed record batch: {e}"))?
                // Misaligned buffers are copied (only those), never refused.
                .with_require_alignment(false)
                .read_record_batch()
                .map_err(|e| format!("malformed record batch: {e}"))?;
                Payload::Batch(batch)
            }
            other => {
                return Err(format!(
                    "unexpected IPC message {}",
                    other.variant_name().unwrap_or("(unknown)")
                ));
            }
        };
        Ok(Some(Decoded {
            app_metadata: data.app_metadata,
            payload,
        }))
    }
}

/// A message body as an Arrow buffer: in place when large, copied (aligned) when small.
fn body(bytes: Bytes) -> Buffer {
    if bytes.len() >= IN_PLACE_MIN_BYTES {
        Buffer::from(bytes)
    } else {
        Buffer::from_slice_ref(bytes.as_ref())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_flight::encode::FlightDataEncoderBuilder;
    use futures::TryStreamExt;

    fn batch(rows: i64) -> RecordBatch {
        let ids = Int64Array::from_iter_values(0..rows);
        let names = StringArray::from_iter_values((0..rows).map(|i| format!("name {i}")));
        RecordBatch::try_from_iter([
            ("id", Arc::new(ids) as ArrayRef),
            ("name", Arc::new(names) as ArrayRef),
        ])
        .unwrap()
    }

    /// Encodes `batches` as arrow-flight does, then moves every body to `shift` bytes past an
    /// aligned address, so that the in-place path meets misaligned buffers.
    async fn roundtrip(batches: Vec<RecordBatch>, shift: usize) -> Vec<RecordBatch> {
        let messages: Vec<FlightData> = FlightDataEncoderBuilder::new()
            .build(futures::stream::iter(batches.into_iter().map(Ok)))
            .try_collect()
            .await
            .unwrap();
        let mut decoder = IpcDecoder::default();
        let mut out = Vec::new();
        for mut data in messages {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(&data.data_body);
            data.data_body = Bytes::from(shifted).slice(shift..);
            if let Some(Decoded {
                payload: Payload::Batch(batch),
                ..
            }) = decoder.decode(data).unwrap()
            {
                out.push(batch);
            }
        }
        out
    }

    /// Guards the in-place path: bodies large enough to be used in place, at every misalignment,
    /// decode to the rows that were sent (arrow-ipc realigns what needs it), and so do small ones.
    #[tokio::test]
    async fn large_and_small_bodies_decode_at_any_alignment() {
        for rows in [3, 20_000] {
            for shift in [0, 1, 3, 4, 7] {
                let sent = vec![batch(rows), batch(rows / 2 + 1)];
                let got = roundtrip(sent.clone(), shift).await;
                assert_eq!(got, sent, "rows {rows}, shift {shift}");
            }
        }
    }

    /// A record batch before any schema is a protocol error, not a panic.
    #[tokio::test]
    async fn rows_before_schema_are_refused() {
        let rows = batch(2);
        let messages: Vec<FlightData> = FlightDataEncoderBuilder::new()
            .build(futures::stream::iter([Ok(rows)]))
            .try_collect()
            .await
            .unwrap();
        let rows_message = messages.last().unwrap().clone();
        let error = IpcDecoder::default().decode(rows_message).unwrap_err();
        assert!(error.contains("before any schema"), "{error}");
    }
}
