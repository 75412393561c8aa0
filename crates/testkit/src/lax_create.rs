//! [`LaxCreateStore`]: an `ObjectStore` wrapper whose conditional create is not what it claims.
//!
//! Storage refuses stores that cannot commit safely (docs/format.md, "Stores"). The two ways a
//! real store falls short are both here, on cue, over any inner store: it does not offer
//! `PutMode::Create` at all (`object_store`'s S3 client with conditional put disabled answers
//! `NotImplemented`), or it accepts the request and overwrites anyway (an S3-compatible server
//! that ignores `If-None-Match: *`). Every other request passes through unchanged.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// How a [`LaxCreateStore`] treats `PutMode::Create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaxCreate {
    /// Answers `NotImplemented`, as a store without conditional writes does.
    NotImplemented,
    /// Writes the object whether or not one exists, as a server ignoring `If-None-Match` does.
    Overwrite,
}

/// An `ObjectStore` wrapper that breaks conditional create in the chosen way.
#[derive(Debug)]
pub struct LaxCreateStore {
    inner: Arc<dyn ObjectStore>,
    lax: LaxCreate,
}

impl LaxCreateStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, lax: LaxCreate) -> Arc<Self> {
        Arc::new(Self { inner, lax })
    }
}

impl fmt::Display for LaxCreateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LaxCreateStore({:?}, {})", self.lax, self.inner)
    }
}

#[async_trait]
impl ObjectStore for LaxCreateStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        mut opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if opts.mode == PutMode::Create {
            match self.lax {
                LaxCreate::NotImplemented => {
                    return Err(object_store::Error::NotImplemented {
                        operation: "`put_opts` with mode `PutMode::Create`".into(),
                        implementer: self.to_string(),
                    });
                }
                LaxCreate::Overwrite => opts.mode = PutMode::Overwrite,
            }
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    // Guards the two broken behaviours: a second create overwrites, or create is refused
    // outright; plain puts pass through either way.
    #[tokio::test]
    async fn create_is_broken_as_asked() {
        let path = Path::from("x");
        let create = || PutOptions::from(PutMode::Create);
        let store = LaxCreateStore::new(Arc::new(InMemory::new()), LaxCreate::Overwrite);
        store
            .put_opts(&path, PutPayload::from_static(b"1"), create())
            .await
            .unwrap();
        store
            .put_opts(&path, PutPayload::from_static(b"2"), create())
            .await
            .unwrap();
        let now = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&now[..], b"2", "the second create overwrote");

        let store = LaxCreateStore::new(Arc::new(InMemory::new()), LaxCreate::NotImplemented);
        let refused = store
            .put_opts(&path, PutPayload::from_static(b"1"), create())
            .await;
        assert!(matches!(
            refused,
            Err(object_store::Error::NotImplemented { .. })
        ));
        store
            .put(&path, PutPayload::from_static(b"1"))
            .await
            .unwrap();
        assert!(store.head(&path).await.is_ok());
    }
}
