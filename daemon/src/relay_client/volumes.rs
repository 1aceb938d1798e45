//! Volume calls (`docs/PROTOCOL.md` §11.5), streamed in both directions so that memory stays
//! bounded whatever the volume's size.

use std::fmt;
use std::future::ready;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::TryStreamExt;
use plog_ipc_schema::http::headers::{self, DownloadHeaders, UploadHeaders};
use plog_ipc_schema::http::paths;
use plog_ipc_schema::http::volumes::{RevisionResponse, VolumeEntry, VolumeListing};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Body, RequestBuilder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use super::client::RelayClient;
use super::error::RelayError;
use super::transport::{self, IdleWatch};

/// Read size of an upload stream. A file body is read through `tokio::fs`, one trip to the
/// blocking pool per read: at 64 KiB those trips made streaming a volume from the page cache
/// about twice as slow as at this size, and a 64 MiB push a tenth slower. The body still
/// holds only a chunk or two at a time.
const UPLOAD_CHUNK: usize = 256 << 10;

/// The ciphertext of an upload.
pub enum VolumeBody {
    /// A file, streamed from disk; its length is read when the upload starts. Can be sent
    /// again after a re-login.
    File(PathBuf),
    /// Bytes in memory (small volumes, tests). Can be sent again after a re-login.
    Bytes(Bytes),
    /// A stream of `length` bytes (chunked if `None`). Sent once: if the relay then answers
    /// that the session expired, the call fails with [`RelayError::Unauthorized`].
    Reader {
        /// The source.
        reader: Box<dyn AsyncRead + Send + Unpin>,
        /// Its exact length, if known.
        length: Option<u64>,
    },
}

impl fmt::Debug for VolumeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Self::Reader { length, .. } => f
                .debug_struct("Reader")
                .field("length", length)
                .finish_non_exhaustive(),
        }
    }
}

/// Metadata of a stored volume, from the headers of `GET` or `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMeta {
    /// Revision, type, key epoch, owner and the reader's own tag (and key block for a grantee).
    pub headers: DownloadHeaders,
    /// The ciphertext length: the bytes written for `GET`, the announced `Content-Length` for
    /// `HEAD` (if the relay sent one).
    pub length: Option<u64>,
}

/// The first local read error of an upload, kept so that it is reported as such rather than
/// as a network failure.
#[derive(Debug, Default, Clone)]
struct ReadFailure(Arc<Mutex<Option<io::Error>>>);

impl ReadFailure {
    fn record(&self, error: &io::Error) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(io::Error::new(error.kind(), error.to_string()));
        }
    }

    fn take(&self) -> Option<io::Error> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A body that streams `reader`, reports progress to `watch` and keeps its first read error.
fn streamed<R>(reader: R, watch: &IdleWatch, failure: &ReadFailure) -> Body
where
    R: AsyncRead + Send + 'static,
{
    let (watch, failure) = (watch.clone(), failure.clone());
    Body::wrap_stream(
        ReaderStream::with_capacity(reader, UPLOAD_CHUNK)
            .inspect_ok(move |_| watch.touch())
            .inspect_err(move |e| failure.record(e)),
    )
}

impl RelayClient {
    /// `GET /v1/volumes`: the volumes this account owns and those shared with it.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn list_volumes(&self) -> Result<Vec<VolumeEntry>, RelayError> {
        let url = self.url(paths::VOLUMES);
        let response = self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await?;
        let listing: VolumeListing = self.json(response, "GET /v1/volumes").await?;
        Ok(listing.volumes)
    }

    /// `HEAD /v1/volumes/{id}`: the volume's metadata without its content; `None` if it does
    /// not exist or the caller may not read it.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn head_volume(&self, volume_id: Uuid) -> Result<Option<VolumeMeta>, RelayError> {
        let url = self.url(&paths::volume(volume_id));
        match self
            .execute_authed(true, |_| ready(Ok(self.inner.http.head(&url))))
            .await
        {
            Ok(response) => Ok(Some(VolumeMeta {
                headers: self.download_headers(response.headers())?,
                length: response.content_length(),
            })),
            Err(RelayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `PUT /v1/volumes/{id}`: uploads a revision. `upload` carries type, key epoch, owner tag,
    /// wrapped owner key, grantee tags and the precondition (`If-None-Match: *` to create,
    /// `If-Match` to replace). The body is streamed.
    ///
    /// # Errors
    /// [`RelayError::Conflict`] (`revision_conflict`, `epoch_fenced`) when the precondition
    /// fails, [`RelayError::TooLarge`], [`RelayError::Io`] if the body cannot be read, and
    /// [`RelayError::Protocol`] if the relay reports another volume or revision than the one
    /// uploaded.
    pub async fn put_volume(
        &self,
        volume_id: Uuid,
        upload: &UploadHeaders,
        body: VolumeBody,
    ) -> Result<RevisionResponse, RelayError> {
        let expected_revision =
            upload
                .precondition
                .new_revision()
                .map_err(|e| RelayError::InvalidRequest {
                    reason: format!("upload precondition: {e}"),
                })?;
        let url = self.url(&paths::volume(volume_id));
        let failure = ReadFailure::default();
        let replayable = !matches!(body, VolumeBody::Reader { .. });
        let mut body = Some(body);
        let result = self
            .execute_authed(replayable, |watch| {
                // A replayable body is rebuilt for the second attempt; a reader goes once.
                let source = match &body {
                    Some(VolumeBody::Reader { .. }) => body.take(),
                    Some(VolumeBody::File(path)) => Some(VolumeBody::File(path.clone())),
                    Some(VolumeBody::Bytes(bytes)) => Some(VolumeBody::Bytes(bytes.clone())),
                    None => None,
                };
                let request = self.inner.http.put(&url);
                let (watch, failure) = (watch.clone(), failure.clone());
                async move {
                    let source = source.ok_or_else(|| RelayError::Io {
                        action: "send the volume again".to_owned(),
                        source: io::Error::other("the upload stream was already consumed"),
                    })?;
                    upload_request(request, upload, source, &watch, &failure).await
                }
            })
            .await;
        let response = match result {
            Ok(response) => response,
            Err(err) => {
                return Err(match failure.take() {
                    Some(source) => RelayError::Io {
                        action: "read the volume to upload".to_owned(),
                        source,
                    },
                    None => err,
                });
            }
        };
        let answer: RevisionResponse = self.json(response, "PUT /v1/volumes").await?;
        if answer.volume_id != volume_id || answer.revision != expected_revision {
            return Err(self.protocol(format!(
                "uploaded revision {expected_revision} of {volume_id}, the relay reports revision \
                 {} of {}",
                answer.revision, answer.volume_id
            )));
        }
        Ok(answer)
    }

    /// `GET /v1/volumes/{id}`: streams the current revision into `sink` chunk by chunk (memory
    /// use is one network chunk) and returns its metadata. The sink is flushed, not shut down.
    /// Nothing here is verified or decrypted: the caller checks the tag in the metadata before
    /// opening what was written.
    ///
    /// # Errors
    /// [`RelayError::NotFound`], [`RelayError::Io`] if the sink fails, [`RelayError::Protocol`]
    /// if fewer or more bytes arrive than announced, and [`RelayError::Network`] if the
    /// transfer breaks (the sink then holds a partial volume: discard it).
    pub async fn get_volume<W>(
        &self,
        volume_id: Uuid,
        sink: &mut W,
    ) -> Result<VolumeMeta, RelayError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let url = self.url(&paths::volume(volume_id));
        let mut response = self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await?;
        let headers = self.download_headers(response.headers())?;
        let announced = response.content_length();
        let mut written: u64 = 0;
        while let Some(chunk) = transport::next_chunk(&mut response, self.inner.timeouts.idle)
            .await
            .map_err(|e| self.read_error(e))?
        {
            sink.write_all(&chunk)
                .await
                .map_err(|source| RelayError::Io {
                    action: "write the downloaded volume".to_owned(),
                    source,
                })?;
            written = written.saturating_add(chunk.len() as u64);
        }
        sink.flush().await.map_err(|source| RelayError::Io {
            action: "write the downloaded volume".to_owned(),
            source,
        })?;
        if let Some(announced) = announced
            && announced != written
        {
            return Err(self.protocol(format!(
                "the relay announced {announced} bytes of volume {volume_id} and sent {written}"
            )));
        }
        Ok(VolumeMeta {
            headers,
            length: Some(written),
        })
    }

    /// `GET /v1/volumes/{id}` into memory: the current revision and its metadata (for a
    /// grantee, [`ReaderMaterial::Grantee`](plog_ipc_schema::http::headers::ReaderMaterial)
    /// with its own tag and key block, beside owner id, type, epoch and revision), `None` if it
    /// does not exist or the caller may not read it. For views that must never write a
    /// friend's volume to disk. More than `max_len` bytes, announced or arriving, end the
    /// download with nothing kept; memory use is bounded by `max_len`.
    ///
    /// # Errors
    /// [`RelayError::AnswerTooLarge`] past `max_len`, [`RelayError::Protocol`] if fewer or
    /// more bytes arrive than announced, [`RelayError::Network`] if the transfer breaks.
    pub async fn get_volume_to_vec(
        &self,
        volume_id: Uuid,
        max_len: u64,
    ) -> Result<Option<(VolumeMeta, Vec<u8>)>, RelayError> {
        let url = self.url(&paths::volume(volume_id));
        let mut response = match self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await
        {
            Ok(response) => response,
            Err(RelayError::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let too_large = || RelayError::AnswerTooLarge {
            what: format!("volume {volume_id}"),
            limit: max_len,
        };
        let headers = self.download_headers(response.headers())?;
        let announced = response.content_length();
        if announced.is_some_and(|n| n > max_len) {
            return Err(too_large());
        }
        // Reserve only what was announced and allowed; without an announcement, grow as bytes
        // arrive (each step still checked against the limit).
        let reserve = announced.map_or(0, |n| usize::try_from(n).unwrap_or(0));
        let mut body = Vec::with_capacity(reserve);
        while let Some(chunk) = transport::next_chunk(&mut response, self.inner.timeouts.idle)
            .await
            .map_err(|e| self.read_error(e))?
        {
            if (body.len() as u64).saturating_add(chunk.len() as u64) > max_len {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let written = body.len() as u64;
        if let Some(announced) = announced
            && announced != written
        {
            return Err(self.protocol(format!(
                "the relay announced {announced} bytes of volume {volume_id} and sent {written}"
            )));
        }
        Ok(Some((
            VolumeMeta {
                headers,
                length: Some(written),
            },
            body,
        )))
    }

    /// `DELETE /v1/volumes/{id}` (owner only), optionally only if it is still at revision
    /// `if_match`.
    ///
    /// # Errors
    /// [`RelayError::NotFound`], [`RelayError::Conflict`] if it moved past `if_match`.
    pub async fn delete_volume(
        &self,
        volume_id: Uuid,
        if_match: Option<u64>,
    ) -> Result<(), RelayError> {
        let url = self.url(&paths::volume(volume_id));
        self.execute_authed(true, |_| {
            let mut request = self.inner.http.delete(&url);
            if let Some(revision) = if_match {
                request = request.header(headers::IF_MATCH, headers::etag(revision));
            }
            ready(Ok(request))
        })
        .await
        .map(drop)
    }

    fn download_headers(&self, map: &HeaderMap) -> Result<DownloadHeaders, RelayError> {
        DownloadHeaders::parse(|name| {
            map.get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .collect()
        })
        .map_err(|e| self.protocol(format!("volume headers: {e}")))
    }
}

/// The `PUT` request for one attempt: upload headers, length and a streamed body.
async fn upload_request(
    mut request: RequestBuilder,
    upload: &UploadHeaders,
    source: VolumeBody,
    watch: &IdleWatch,
    failure: &ReadFailure,
) -> Result<RequestBuilder, RelayError> {
    for (name, value) in upload.to_pairs() {
        request = request.header(name, value);
    }
    request = request.header(CONTENT_TYPE, headers::OCTET_STREAM);
    let (body, length) = match source {
        VolumeBody::Bytes(bytes) => {
            let length = bytes.len() as u64;
            (Body::from(bytes), Some(length))
        }
        VolumeBody::File(path) => {
            let io_error = |source| RelayError::Io {
                action: format!("read {}", path.display()),
                source,
            };
            let file = tokio::fs::File::open(&path).await.map_err(io_error)?;
            let length = file.metadata().await.map_err(io_error)?.len();
            // Bounded by the length announced, so a file that grows meanwhile cannot overrun it.
            (streamed(file.take(length), watch, failure), Some(length))
        }
        VolumeBody::Reader { reader, length } => match length {
            Some(length) => (streamed(reader.take(length), watch, failure), Some(length)),
            None => (streamed(reader, watch, failure), None),
        },
    };
    if let Some(length) = length {
        request = request.header(CONTENT_LENGTH, length);
    }
    Ok(request.body(body))
}
