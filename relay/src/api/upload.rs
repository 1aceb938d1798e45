//! The body of a volume upload as an `AsyncRead` that checks it on the way through: the volume
//! header must be the one the request announced and the size stays within the limit, without
//! buffering more than the header. The object store hashes the bytes it stores (SHA-256); a
//! second hash here would cost a pass over every byte and protect nothing clients do not
//! check end to end.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use plog_crypto::volume::VolumeHeader;
use plog_ipc_schema::error::ErrorCode;
use tokio::io::{AsyncRead, ReadBuf};

use super::error::ApiError;

/// Bytes of the longest possible volume header (type names have at most 32 bytes).
const MAX_HEADER_LEN: usize = 8 + 1 + 16 + 1 + 32 + 8 + 8 + 24;

/// Wraps the request body of `PUT /v1/volumes/{id}`.
pub(crate) struct CheckedUpload<R> {
    inner: R,
    expected: VolumeHeader,
    max_bytes: u64,
    received: u64,
    header: Vec<u8>,
    header_checked: bool,
    failure: Option<ApiError>,
}

impl<R> CheckedUpload<R> {
    pub(crate) fn new(inner: R, expected: VolumeHeader, max_bytes: u64) -> Self {
        Self {
            inner,
            expected,
            max_bytes,
            received: 0,
            header: Vec::with_capacity(MAX_HEADER_LEN),
            header_checked: false,
            failure: None,
        }
    }

    /// Why the body was refused, if it was.
    pub(crate) fn take_failure(&mut self) -> Option<ApiError> {
        self.failure.take()
    }

    /// Bytes received.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    fn fail(&mut self, error: ApiError) -> io::Error {
        let message = format!("upload refused: {:?}", error.code());
        self.failure = Some(error);
        io::Error::new(io::ErrorKind::InvalidData, message)
    }

    fn inspect(&mut self, fresh: &[u8]) -> Result<(), ApiError> {
        self.received += fresh.len() as u64;
        if self.received > self.max_bytes {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "volume is larger than this relay's limit of {} bytes",
                    self.max_bytes
                ),
            ));
        }
        if !self.header_checked {
            let room = MAX_HEADER_LEN - self.header.len();
            self.header
                .extend_from_slice(&fresh[..fresh.len().min(room)]);
            self.check_header(false)?;
        }
        Ok(())
    }

    /// Checks the header once enough bytes are in; at the end of the body, a header that is
    /// still incomplete is an error.
    fn check_header(&mut self, at_end: bool) -> Result<(), ApiError> {
        match VolumeHeader::peek(&self.header) {
            Ok(found) => {
                self.header_checked = true;
                compare(&self.expected, &found)
            }
            Err(_)
                if !at_end && self.header.len() < MAX_HEADER_LEN && !self.prefix_is_invalid() =>
            {
                Ok(())
            }
            Err(error) => Err(ApiError::bad_request(format!(
                "the body is not a volume: {error}"
            ))),
        }
    }

    /// Whether the bytes so far already rule out a valid header (wrong magic or version).
    fn prefix_is_invalid(&self) -> bool {
        let magic = plog_crypto::volume::HEADER_MAGIC;
        let n = self.header.len().min(magic.len());
        self.header[..n] != magic[..n]
    }
}

fn compare(expected: &VolumeHeader, found: &VolumeHeader) -> Result<(), ApiError> {
    if found.volume_id != expected.volume_id {
        return Err(ApiError::bad_request(
            "the volume header names another volume id",
        ));
    }
    if found.vtype != expected.vtype {
        return Err(ApiError::bad_request(format!(
            "the volume header has type {}, the request says {}",
            found.vtype, expected.vtype
        )));
    }
    if found.revision != expected.revision {
        return Err(ApiError::bad_request(format!(
            "the volume header has revision {}, but this upload creates revision {} (If-Match + 1)",
            found.revision, expected.revision
        )));
    }
    if found.key_epoch != expected.key_epoch {
        return Err(ApiError::bad_request(format!(
            "the volume header has key epoch {}, X-Plog-Key-Epoch says {}",
            found.key_epoch, expected.key_epoch
        )));
    }
    Ok(())
}

impl<R: AsyncRead + Unpin> AsyncRead for CheckedUpload<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.failure.is_some() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "upload refused",
            )));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                let result = if fresh.is_empty() {
                    if self.header_checked {
                        Ok(())
                    } else {
                        self.check_header(true)
                    }
                } else {
                    self.inspect(fresh)
                };
                match result {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(error) => Poll::Ready(Err(self.fail(error))),
                }
            }
            other => other,
        }
    }
}
