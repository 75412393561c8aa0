//! Decoding a subscription's Flight messages into Arrow, with record batches decoded on the
//! runtime's workers while the next messages arrive.
//!
//! A large snapshot is hundreds of record-batch messages. Decoding one (copying its body into
//! aligned buffers, validating offsets and UTF-8) costs about as much as receiving it, so
//! decoding them one after another on the reading task leaves the other cores idle. Here the
//! messages are read in order, schema and dictionary messages update the decoding state at
//! once, and each record batch is decoded as a task of its own against the state of its moment;
//! up to [`DECODE_AHEAD`] decode at a time and come out in the order they were sent.
//!
//! Nothing a worker sends is trusted: the checks are those of arrow-flight's `FlightDataDecoder`
//! (full validation of every array), plus one it lacks: every buffer a header names must lie
//! within the message body. arrow-ipc 59 slices the body unchecked and panics on a body cut
//! short (the test `malformed_messages_are_errors` found it); here that is a protocol error.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_flight::FlightData;
use arrow_flight::error::FlightError;
use arrow_ipc::MessageHeader;
use arrow_ipc::reader::{RecordBatchDecoder, read_dictionary_impl};
use arrow_schema::{ArrowError, Schema, SchemaRef};
use bytes::Bytes;
use futures::future::{self, BoxFuture, FutureExt};
use futures::stream::{BoxStream, Stream, StreamExt};

/// Record batches decoded at once, ahead of the one the reader waits for.
pub(crate) const DECODE_AHEAD: usize = 4;

/// What one message carried.
pub(crate) enum Payload {
    /// No Arrow data (a metadata-only message).
    None,
    /// The schema of the record batches that follow.
    Schema(SchemaRef),
    /// Rows.
    RecordBatch(RecordBatch),
}

/// One decoded message: its `app_metadata` and what it carried.
pub(crate) struct Decoded {
    pub(crate) app_metadata: Bytes,
    pub(crate) payload: Payload,
}

/// The decoding state: the schema and the dictionaries received so far.
#[derive(Default)]
struct State {
    schema: Option<SchemaRef>,
    dictionaries: Arc<HashMap<i64, ArrayRef>>,
}

fn decode_error(what: &str, error: impl std::fmt::Display) -> FlightError {
    FlightError::DecodeError(format!("{what}: {error}"))
}

impl State {
    /// Takes `data` in stream order: `None` for a message that only updated the state (a
    /// dictionary), otherwise the future of its decoded form.
    fn take(
        &mut self,
        data: FlightData,
    ) -> Result<Option<BoxFuture<'static, Result<Decoded, FlightError>>>, FlightError> {
        let ready = |decoded: Decoded| Some(future::ready(Ok(decoded)).boxed());
        if data.data_header.is_empty() {
            return Ok(ready(Decoded {
                app_metadata: data.app_metadata,
                payload: Payload::None,
            }));
        }
        let message = arrow_ipc::root_as_message(&data.data_header[..])
            .map_err(|e| decode_error("the message header does not decode", e))?;
        match message.header_type() {
            MessageHeader::Schema => {
                let schema =
                    Arc::new(Schema::try_from(&data).map_err(|e| decode_error("the schema", e))?);
                self.schema = Some(schema.clone());
                self.dictionaries = Arc::new(HashMap::new());
                Ok(ready(Decoded {
                    app_metadata: data.app_metadata,
                    payload: Payload::Schema(schema),
                }))
            }
            MessageHeader::DictionaryBatch => {
                let schema = self
                    .schema
                    .clone()
                    .ok_or_else(|| FlightError::protocol("a dictionary batch before the schema"))?;
                let batch = message.header_as_dictionary_batch().ok_or_else(|| {
                    FlightError::protocol("a dictionary message without its batch")
                })?;
                check_buffers(
                    batch.data().and_then(|d| d.buffers()).map(|b| b.iter()),
                    data.data_body.len(),
                )?;
                let buffer = arrow_buffer::Buffer::from(data.data_body.as_ref());
                let mut dictionaries = (*self.dictionaries).clone();
                read_dictionary_impl(
                    &buffer,
                    batch,
                    &schema,
                    &mut dictionaries,
                    &message.version(),
                    false,
                    Default::default(),
                )
                .map_err(|e| decode_error("a dictionary batch", e))?;
                self.dictionaries = Arc::new(dictionaries);
                Ok(None)
            }
            MessageHeader::RecordBatch => {
                let schema = self
                    .schema
                    .clone()
                    .ok_or_else(|| FlightError::protocol("a record batch before the schema"))?;
                let dictionaries = self.dictionaries.clone();
                let decoding = async move {
                    let batch = decode_batch(&data, schema, &dictionaries)?;
                    Ok(Decoded {
                        app_metadata: data.app_metadata,
                        payload: Payload::RecordBatch(batch),
                    })
                };
                // On a worker of the runtime when there is one; inline otherwise.
                let task = match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        let handle = runtime.spawn(decoding);
                        async move {
                            handle
                                .await
                                .map_err(|e| decode_error("decoding stopped", e))?
                        }
                        .boxed()
                    }
                    Err(_) => decoding.boxed(),
                };
                Ok(Some(task))
            }
            _ => Ok(ready(Decoded {
                app_metadata: data.app_metadata,
                payload: Payload::None,
            })),
        }
    }
}

/// The record batch `data` holds, in `schema` with `dictionaries`.
fn decode_batch(
    data: &FlightData,
    schema: SchemaRef,
    dictionaries: &HashMap<i64, ArrayRef>,
) -> Result<RecordBatch, FlightError> {
    let message = arrow_ipc::root_as_message(&data.data_header[..])
        .map_err(|e| decode_error("the message header does not decode", e))?;
    let batch = message
        .header_as_record_batch()
        .ok_or_else(|| FlightError::protocol("a record batch message without its batch"))?;
    check_buffers(batch.buffers().map(|b| b.iter()), data.data_body.len())?;
    // A body already aligned is used in place; otherwise it is copied into an aligned buffer
    // once (as arrow-flight's decoder does).
    let buffer = if (data.data_body.as_ptr() as usize).is_multiple_of(64) {
        arrow_buffer::Buffer::from(data.data_body.clone())
    } else {
        arrow_buffer::Buffer::from(data.data_body.as_ref())
    };
    let version = message.version();
    RecordBatchDecoder::try_new(&buffer, batch, schema, dictionaries, &version)
        .and_then(RecordBatchDecoder::read_record_batch)
        .map_err(|e: ArrowError| decode_error("a record batch", e))
}

/// Checks that every buffer an IPC header names lies within the body (arrow-ipc slices the
/// body without checking, and panics past its end: a worker's bad message must be an error).
fn check_buffers<'a>(
    buffers: Option<impl Iterator<Item = &'a arrow_ipc::Buffer>>,
    body: usize,
) -> Result<(), FlightError> {
    for buffer in buffers.into_iter().flatten() {
        let end = u64::try_from(buffer.offset())
            .ok()
            .zip(u64::try_from(buffer.length()).ok())
            .and_then(|(offset, length)| offset.checked_add(length));
        if end.is_none_or(|end| end > body as u64) {
            return Err(FlightError::protocol(format!(
                "a record batch names bytes {}+{} of a body of {body} bytes",
                buffer.offset(),
                buffer.length()
            )));
        }
    }
    Ok(())
}

/// The messages of `raw` decoded, in order, record batches decoded [`DECODE_AHEAD`] at a time.
pub(crate) fn decode(
    raw: impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
) -> BoxStream<'static, Result<Decoded, FlightError>> {
    let mut state = State::default();
    raw.filter_map(move |item| {
        let next = match item {
            Err(error) => Some(future::ready(Err(error)).boxed()),
            Ok(data) => match state.take(data) {
                Ok(next) => next,
                Err(error) => Some(future::ready(Err(error)).boxed()),
            },
        };
        future::ready(next)
    })
    .buffered(DECODE_AHEAD)
    .boxed()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use arrow_array::{Int64Array, StringArray};
    use arrow_flight::encode::FlightDataEncoderBuilder;
    use arrow_schema::{DataType, Field};
    use futures::TryStreamExt;

    use super::*;

    fn batch(start: i64, rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let ids: Vec<i64> = (start..start + rows).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    }

    async fn encoded(batches: Vec<RecordBatch>) -> Vec<FlightData> {
        FlightDataEncoderBuilder::new()
            .build(futures::stream::iter(batches.into_iter().map(Ok)))
            .try_collect()
            .await
            .unwrap()
    }

    // Guards the decoding ahead: with many more batches than decode at once, every batch comes
    // out equal to what was sent and in the order sent, after the schema.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_come_out_in_order() {
        let sent: Vec<RecordBatch> = (0..40).map(|i| batch(i * 100, 100)).collect();
        let messages = encoded(sent.clone()).await;
        let decoded: Vec<Decoded> = decode(futures::stream::iter(messages.into_iter().map(Ok)))
            .try_collect()
            .await
            .unwrap();
        assert!(matches!(
            decoded.first().map(|d| &d.payload),
            Some(Payload::Schema(_))
        ));
        let got: Vec<RecordBatch> = decoded
            .into_iter()
            .filter_map(|d| match d.payload {
                Payload::RecordBatch(batch) => Some(batch),
                _ => None,
            })
            .collect();
        assert_eq!(got, sent);
    }

    // Guards the checks on what a worker sends: a record batch before any schema and a body
    // cut short are errors, not panics or wrong rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_messages_are_errors() {
        let messages = encoded(vec![batch(0, 1000)]).await;
        let (schema, rows) = (messages[0].clone(), messages[1].clone());

        let no_schema = decode(futures::stream::iter([Ok(rows.clone())]));
        let error = no_schema.try_collect::<Vec<_>>().await.err().unwrap();
        assert!(error.to_string().contains("before the schema"), "{error}");

        let mut cut = rows.clone();
        cut.data_body = cut.data_body.slice(0..cut.data_body.len() / 2);
        let stream = decode(futures::stream::iter([Ok(schema.clone()), Ok(cut)]));
        let error = stream.try_collect::<Vec<_>>().await.err().unwrap();
        assert!(error.to_string().contains("of a body of"), "{error}");

        let mut garbage = rows;
        garbage.data_header = Bytes::from_static(b"not a flatbuffer at all");
        let stream = decode(futures::stream::iter([Ok(schema), Ok(garbage)]));
        assert!(stream.try_collect::<Vec<_>>().await.is_err());
    }
}
