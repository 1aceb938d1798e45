//! Volume ciphertext in the object store bucket `plog-volumes`.
//!
//! Objects are written by the relay itself, in the object store's own layout (chunks on
//! `$O.<bucket>.C.<id>`, then the description on `$O.<bucket>.M.<base64url name>` with a
//! roll-up), so they read back with the ordinary object store API and NATS tools. Writing it
//! here rather than through `ObjectStore::put` gives three things that put lacks:
//!
//! * every chunk but the last is exactly the chunk size, however the body's reads are cut
//!   (an HTTP body arrives in frames of a few KiB; each would otherwise become a chunk);
//! * the next chunk is read from the body while the previous one's acknowledgement is
//!   outstanding (at most [`ACKS_IN_FLIGHT`]), so reading and storing overlap; memory stays at
//!   about two chunks per upload;
//! * when the body fails halfway, the chunks already sent are purged (with `put` they stay
//!   behind unreferenced); no description is published, so no partial object is visible.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::object_store::{
    DeleteErrorKind, InfoErrorKind, ObjectInfo, ObjectOptions,
};
use async_nats::jetstream::stream::{DirectGetErrorKind, LastRawMessageErrorKind};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::task::ready;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use uuid::Uuid;

use super::declare::chain;
use super::{Broker, BrokerError};

/// Chunk publishes whose acknowledgement may be outstanding at once. Two lets the next chunk
/// of the body be read while the previous one is being stored; on loopback with 2 cores, 4
/// measured no faster than 2 (the server is the bottleneck), so memory stays at about two
/// chunks per upload.
const ACKS_IN_FLIGHT: usize = 2;

/// Longest accepted object key.
const MAX_KEY_LEN: usize = 256;

const KEY_RULE: &str = "1 to 256 characters of A-Z a-z 0-9 - _ / . (not starting or ending \
                        with '.')";

/// Chunks fetched ahead of the reader: enough to keep the server busy while the HTTP body
/// sends the previous chunk, few enough that a slow client holds only this much in memory.
const READ_AHEAD_CHUNKS: usize = 2;

/// Objects of at most this many chunks are fetched with direct gets, one request per chunk,
/// before the body starts: creating, feeding and deleting a consumer costs more round trips
/// than that. It holds no more in memory than a consumer's read-ahead.
const DIRECT_READ_MAX_CHUNKS: usize = READ_AHEAD_CHUNKS;

/// What [`Broker::get_object`] got with direct gets.
enum Fetched {
    /// Every chunk, in order.
    All(VecDeque<Bytes>),
    /// The object is no longer stored.
    Gone,
    /// The object is described but its chunks are not stored (a damaged store).
    Missing,
    /// Read it through a consumer instead.
    NotDirectly,
}

/// How long the server keeps a download's consumer after the relay stopped asking (a crashed
/// relay leaves nothing behind for longer).
const READER_INACTIVE_THRESHOLD: Duration = Duration::from_secs(60);

/// A stored object being read, chunk by chunk, with at most two chunks fetched
/// ahead: through [`futures_util::Stream`] of [`Bytes`] (each chunk as the broker sent it, no
/// copy) or through [`AsyncRead`].
///
/// The reader checks that the chunks add up to the described size and count, and fails with
/// [`io::ErrorKind::InvalidData`] (truncated or overlong object) or
/// [`io::ErrorKind::BrokenPipe`] (the broker went away, or no chunk came within the request
/// timeout). It does not recompute the object
/// store's SHA-256 digest: the relay stores ciphertext that clients authenticate end to end
/// (owner and grantee tags over the header and the volume digest), so a second hash here
/// would only cost CPU.
pub struct ObjectReader {
    size: u64,
    name: String,
    /// Chunks fetched before reading started (small objects), served first.
    fetched: VecDeque<Bytes>,
    chunks: Option<ChunkFeed>,
    chunks_left: usize,
    bytes_left: u64,
    current: Bytes,
}

/// The consumer a reader pulls chunks from; deleted when the reader is dropped.
struct ChunkFeed {
    messages: pull::Stream,
    stream: async_nats::jetstream::stream::Stream,
    consumer: String,
    /// How long the reader waits for the next chunk before giving up (chunks that never come:
    /// a damaged store, or an object purged while it was read).
    stall_limit: Duration,
    /// Armed while the reader waits for a chunk.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drop for ChunkFeed {
    fn drop(&mut self) {
        let stream = self.stream.clone();
        let consumer = std::mem::take(&mut self.consumer);
        // Deleting is a round trip; nobody waits for it. Without a runtime (or if the broker
        // is gone) the server drops the consumer after its inactivity threshold.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = stream.delete_consumer(&consumer).await {
                    tracing::debug!(error = %chain(&err), "could not delete a reader's consumer");
                }
            });
        }
    }
}

impl ObjectReader {
    /// The object's size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next chunk, `None` at the end of the object.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidData`] if the chunks do not match the description,
    /// [`io::ErrorKind::BrokenPipe`] if the broker failed.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if self.chunks_left == 0 {
            self.chunks = None;
            return Poll::Ready(if self.bytes_left == 0 {
                None
            } else {
                Some(Err(self.malformed("ends early")))
            });
        }
        if let Some(payload) = self.fetched.pop_front() {
            return Poll::Ready(Some(self.accept(payload)));
        }
        let Some(feed) = self.chunks.as_mut() else {
            self.chunks_left = 0;
            return Poll::Ready(Some(Err(self.malformed("ends early"))));
        };
        let polled = feed.messages.poll_next_unpin(cx);
        if polled.is_pending() {
            // The limit counts from when the reader started waiting, not from the last chunk:
            // a slow HTTP client must not make the next chunk look late.
            let limit = feed.stall_limit;
            let stall = feed
                .stall
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
            if stall.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.chunks = None;
            self.chunks_left = 0;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!(
                    "reading object chunks: none arrived for {} s",
                    limit.as_secs_f64()
                ),
            ))));
        }
        feed.stall = None;
        let message = match ready!(polled) {
            Some(Ok(message)) => message,
            Some(Err(err)) => {
                self.chunks = None;
                self.chunks_left = 0;
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!("reading object chunks: {}", chain(&err)),
                ))));
            }
            None => {
                self.chunks = None;
                self.chunks_left = 0;
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "reading object chunks: the broker closed the feed",
                ))));
            }
        };
        Poll::Ready(Some(self.accept(message.message.payload)))
    }

    /// Counts a chunk against the description.
    fn accept(&mut self, payload: Bytes) -> io::Result<Bytes> {
        let len = payload.len() as u64;
        if len > self.bytes_left || (len == 0 && self.bytes_left > 0) {
            self.chunks = None;
            self.chunks_left = 0;
            return Err(self.malformed("has chunks beyond its size"));
        }
        self.bytes_left -= len;
        self.chunks_left -= 1;
        if self.chunks_left == 0 {
            // Dropping the feed now deletes the consumer before the last bytes are sent.
            self.chunks = None;
            if self.bytes_left > 0 {
                return Err(self.malformed("ends early"));
            }
        }
        Ok(payload)
    }

    fn malformed(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("stored object {} {what}", self.name),
        )
    }
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl futures_util::Stream for ObjectReader {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_chunk(cx)
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.current.is_empty() {
            match ready!(self.poll_chunk(cx)) {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(err)) => return Poll::Ready(Err(err)),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.current.len().min(buf.remaining());
        buf.put_slice(&self.current.split_to(n));
        Poll::Ready(Ok(()))
    }
}

fn check_key(key: &str) -> Result<(), BrokerError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(BrokerError::InvalidKey {
            what: "object",
            rule: KEY_RULE,
        })
    }
}

/// The chunk id (the object store's "nuid") of an object stored with
/// [`Broker::put_fresh_object`]: 32 hex digits of SHA-256 over the key, so the chunks of a
/// fresh key can be found from the key alone.
fn fresh_chunk_id(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..16])
}

/// Base64url with padding, as the object store names its description subjects and digests.
fn base64url_padded(bytes: &[u8]) -> String {
    let mut text = plog_ipc_schema::encoding::encode(bytes);
    while !text.len().is_multiple_of(4) {
        text.push('=');
    }
    text
}

/// Reads up to `chunk_size` bytes; fewer only at the end of the body.
async fn read_chunk(
    body: &mut (dyn AsyncRead + Send + Unpin),
    chunk_size: usize,
) -> io::Result<BytesMut> {
    let mut chunk = BytesMut::with_capacity(chunk_size);
    while chunk.len() < chunk_size {
        let limit = (chunk_size - chunk.len()) as u64;
        if (&mut *body).take(limit).read_buf(&mut chunk).await? == 0 {
            break;
        }
    }
    Ok(chunk)
}

/// What [`Broker::put_fresh_object`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredObject {
    /// Bytes stored.
    pub size: u64,
    /// SHA-256 of the bytes, as the object's description records it.
    pub sha256: [u8; 32],
}

impl Broker {
    /// Stores the bytes of `body` as object `key`, replacing any object of that name, and
    /// returns the number of bytes stored.
    ///
    /// The body is streamed in chunks of [`Broker::object_chunk_size`]; at most a few chunks
    /// are in memory at once. The object becomes visible only when all of it is stored: if
    /// the body or the broker fails, `key` still shows what it showed before (nothing, or the
    /// previous object) and the chunks already sent are purged.
    ///
    /// # Errors
    /// [`BrokerError::Body`] if reading `body` failed, [`BrokerError::InvalidKey`],
    /// [`BrokerError::Unavailable`], or [`BrokerError::Object`] if the server refused a chunk
    /// (e.g. the bucket is full).
    pub async fn put_object(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<u64, BrokerError> {
        check_key(key)?;
        let nuid = Uuid::new_v4().simple().to_string();
        let stored = self.store_object(key, &nuid, body, true).await?;
        Ok(stored.size)
    }

    /// Like [`Broker::put_object`] for a key no object has ever had (the relay names every
    /// upload with a fresh UUID), to be deleted with [`Broker::delete_fresh_object`].
    ///
    /// It skips looking up an object to replace, and it names the chunks after the key (see
    /// `fresh_chunk_id`) so that deleting needs no lookup either: two round trips to the
    /// server fewer per upload and replacement. Storing a key twice this way would mix both
    /// objects' chunks; readers would then refuse the object (its chunks no longer match its
    /// description).
    ///
    /// # Errors
    /// As [`Broker::put_object`].
    pub async fn put_fresh_object(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<StoredObject, BrokerError> {
        check_key(key)?;
        self.store_object(key, &fresh_chunk_id(key), body, false)
            .await
    }

    /// Deletes an object stored with [`Broker::put_fresh_object`]: purges its description,
    /// then its chunks, both named after the key, without reading the description first.
    /// Deleting a missing object succeeds.
    ///
    /// An object of that key stored some other way loses its description here; its chunks,
    /// no longer described, are left to [`Broker::purge_orphan_chunks`].
    ///
    /// # Errors
    /// [`BrokerError::InvalidKey`], [`BrokerError::Unavailable`] or [`BrokerError::Object`]
    /// if the description could not be purged (the chunks are then left in place too, so a
    /// retry finds everything as it was).
    pub async fn delete_fresh_object(&self, key: &str) -> Result<(), BrokerError> {
        check_key(key)?;
        let description = self.description_subject(key);
        self.guarded(async {
            self.volumes_stream
                .purge()
                .filter(&description)
                .await
                .map_err(|err| self.failed("deleting an object", &err))?;
            self.purge_chunks(&format!(
                "$O.{}.C.{}",
                self.volumes_bucket,
                fresh_chunk_id(key)
            ))
            .await;
            Ok(())
        })
        .await
    }

    fn description_subject(&self, key: &str) -> String {
        format!(
            "$O.{}.M.{}",
            self.volumes_bucket,
            base64url_padded(key.as_bytes())
        )
    }

    async fn store_object(
        &self,
        key: &str,
        nuid: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        may_replace: bool,
    ) -> Result<StoredObject, BrokerError> {
        let chunk_subject = format!("$O.{}.C.{nuid}", self.volumes_bucket);

        let mut acks = VecDeque::with_capacity(ACKS_IN_FLIGHT);
        let stored = self
            .guarded(async {
                let (size, chunks, sha256) =
                    self.put_chunks(&chunk_subject, body, &mut acks).await?;
                self.publish_description(key, nuid, size, chunks, &sha256, may_replace)
                    .await?;
                Ok(StoredObject { size, sha256 })
            })
            .await;
        if stored.is_err() {
            if self.connected() {
                // The stream stores a chunk after the purge request unless its acknowledgement
                // came first: wait for the outstanding ones (each bounded by the request
                // timeout).
                for ack in acks {
                    let _ = ack.await;
                }
                self.purge_chunks(&chunk_subject).await;
            } else {
                tracing::warn!(
                    subject = %chunk_subject,
                    "connection lost while storing an object; its chunks stay behind unreferenced"
                );
            }
        }
        stored
    }

    /// Publishes the chunks; returns the size, the chunk count and the SHA-256 digest.
    /// Acknowledgements still outstanding when it fails are left in `acks`.
    async fn put_chunks(
        &self,
        chunk_subject: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        acks: &mut VecDeque<PublishAckFuture>,
    ) -> Result<(u64, usize, [u8; 32]), BrokerError> {
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut chunks = 0usize;

        loop {
            let chunk = read_chunk(body, self.chunk_size)
                .await
                .map_err(BrokerError::Body)?;
            let last = chunk.len() < self.chunk_size;
            if !chunk.is_empty() {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                chunks += 1;
                if acks.len() == ACKS_IN_FLIGHT
                    && let Some(ack) = acks.pop_front()
                {
                    self.await_chunk_ack(ack).await?;
                }
                let ack = self
                    .js
                    .publish(chunk_subject.to_owned(), chunk.freeze())
                    .await
                    .map_err(|err| self.publish_error("publishing a chunk", &err))?;
                acks.push_back(ack);
            }
            if last {
                break;
            }
        }
        while let Some(ack) = acks.pop_front() {
            self.await_chunk_ack(ack).await?;
        }
        Ok((size, chunks, hasher.finalize().into()))
    }

    async fn await_chunk_ack(&self, ack: PublishAckFuture) -> Result<(), BrokerError> {
        ack.await
            .map(|_| ())
            .map_err(|err| self.publish_error("storing a chunk", &err))
    }

    fn publish_error(
        &self,
        what: &str,
        err: &async_nats::jetstream::context::PublishError,
    ) -> BrokerError {
        use async_nats::jetstream::context::PublishErrorKind as Kind;
        match err.kind() {
            Kind::TimedOut | Kind::BrokenPipe => self.failed(what, err),
            _ if !self.connected() => self.failed(what, err),
            _ => BrokerError::Object(format!("{what}: {}", chain(err))),
        }
    }

    /// Publishes the description that makes the object visible, then purges the chunks of
    /// the object it replaces (looked up only if `may_replace`).
    async fn publish_description(
        &self,
        key: &str,
        nuid: &str,
        size: u64,
        chunks: usize,
        digest: &[u8; 32],
        may_replace: bool,
    ) -> Result<(), BrokerError> {
        let previous = if may_replace {
            match self.volumes.info(key).await {
                Ok(info) if !info.deleted => Some(info.nuid),
                Ok(_) => None,
                Err(err) if err.kind() == InfoErrorKind::NotFound => None,
                Err(err) => return Err(self.failed("looking up the previous object", &err)),
            }
        } else {
            None
        };

        let info = ObjectInfo {
            name: key.to_owned(),
            description: None,
            metadata: Default::default(),
            headers: None,
            options: Some(ObjectOptions {
                link: None,
                max_chunk_size: Some(self.chunk_size),
            }),
            bucket: self.volumes_bucket.clone(),
            nuid: nuid.to_owned(),
            size: usize::try_from(size)
                .map_err(|_| BrokerError::Object("object too large".to_owned()))?,
            chunks,
            modified: Some(async_nats::datetime::now()),
            digest: Some(format!("SHA-256={}", base64url_padded(digest))),
            deleted: false,
        };
        let payload = serde_json::to_vec(&info)
            .map_err(|err| BrokerError::Object(format!("encoding the description: {err}")))?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Rollup", "sub");
        self.js
            .publish_with_headers(self.description_subject(key), headers, payload.into())
            .await
            .map_err(|err| self.publish_error("publishing the description", &err))?
            .await
            .map_err(|err| self.publish_error("storing the description", &err))?;

        if let Some(previous) = previous.filter(|previous| previous != nuid) {
            self.purge_chunks(&format!("$O.{}.C.{previous}", self.volumes_bucket))
                .await;
        }
        Ok(())
    }

    /// Removes the chunks on `subject`; a failure leaves an unreferenced orphan, so it is
    /// logged, not returned.
    async fn purge_chunks(&self, subject: &str) {
        if let Err(err) = self.volumes_stream.purge().filter(subject).await {
            tracing::warn!(
                subject,
                error = %chain(&err),
                "could not purge object chunks; they stay behind unreferenced"
            );
        }
    }

    /// Opens object `key` for reading; `None` if there is no such object.
    ///
    /// # Errors
    /// [`BrokerError::InvalidKey`], [`BrokerError::Unavailable`] or [`BrokerError::Object`].
    pub async fn get_object(&self, key: &str) -> Result<Option<ObjectReader>, BrokerError> {
        check_key(key)?;
        self.guarded(async {
            let info = match self.volumes.info(key).await {
                Ok(info) if !info.deleted => info,
                Ok(_) => return Ok(None),
                Err(err) if err.kind() == InfoErrorKind::NotFound => return Ok(None),
                Err(err) => return Err(self.failed("opening an object", &err)),
            };
            let size = info.size as u64;
            let mut fetched = VecDeque::new();
            let chunks = if info.chunks == 0 {
                None
            } else if info.chunks <= DIRECT_READ_MAX_CHUNKS {
                match self.fetch_chunks(key, &info.nuid, info.chunks).await {
                    Fetched::All(all) => {
                        fetched = all;
                        None
                    }
                    // Replaced and purged since its description was read.
                    Fetched::Gone => return Ok(None),
                    Fetched::Missing => {
                        return Err(BrokerError::Object(format!(
                            "stored object {key} is described but its chunks are missing"
                        )));
                    }
                    Fetched::NotDirectly => Some(self.chunk_feed(&info.nuid).await?),
                }
            } else {
                Some(self.chunk_feed(&info.nuid).await?)
            };
            Ok(Some(ObjectReader {
                size,
                name: key.to_owned(),
                fetched,
                chunks,
                chunks_left: info.chunks,
                bytes_left: size,
                current: Bytes::new(),
            }))
        })
        .await
    }

    /// The `count` chunks of object `key` (chunk id `nuid`), one direct get each.
    ///
    /// A chunk the direct get does not find is gone (the object was replaced and purged since
    /// its description was read), not yet on the replica that answered, or missing from a
    /// damaged store; the stream leader tells which. Any other failure leaves the reading to a
    /// consumer, which reads from the leader.
    async fn fetch_chunks(&self, key: &str, nuid: &str, count: usize) -> Fetched {
        let subject = format!("$O.{}.C.{nuid}", self.volumes_bucket);
        let mut chunks = VecDeque::with_capacity(count);
        let mut from = None;
        for _ in 0..count {
            match self
                .volumes_stream
                .direct_get_next_for_subject(subject.as_str(), from)
                .await
            {
                Ok(message) => {
                    from = Some(message.sequence + 1);
                    chunks.push_back(message.payload);
                }
                Err(err) if err.kind() == DirectGetErrorKind::NotFound => {
                    return match self.volumes.info(key).await {
                        Ok(info) if !info.deleted && info.nuid == nuid => {
                            // Still described: the leader has the chunks, or nobody has.
                            match self
                                .volumes_stream
                                .get_last_raw_message_by_subject(&subject)
                                .await
                            {
                                Err(err)
                                    if err.kind() == LastRawMessageErrorKind::NoMessageFound =>
                                {
                                    Fetched::Missing
                                }
                                _ => Fetched::NotDirectly,
                            }
                        }
                        Ok(_) => Fetched::Gone,
                        Err(err) if err.kind() == InfoErrorKind::NotFound => Fetched::Gone,
                        Err(_) => Fetched::NotDirectly,
                    };
                }
                Err(_) => return Fetched::NotDirectly,
            }
        }
        Fetched::All(chunks)
    }

    /// A consumer of the chunks of object `nuid`, pulled `READ_AHEAD_CHUNKS` at a time.
    async fn chunk_feed(&self, nuid: &str) -> Result<ChunkFeed, BrokerError> {
        let config = pull::Config {
            filter_subject: format!("$O.{}.C.{nuid}", self.volumes_bucket),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: READER_INACTIVE_THRESHOLD,
            memory_storage: true,
            ..Default::default()
        };
        let consumer: PullConsumer = self
            .volumes_stream
            .create_consumer(config)
            .await
            .map_err(|err| self.failed("opening an object", &err))?;
        let consumer_name = consumer.cached_info().name.clone();
        let messages = consumer
            .stream()
            .max_messages_per_batch(READ_AHEAD_CHUNKS)
            .messages()
            .await
            .map_err(|err| self.failed("opening an object", &err))?;
        Ok(ChunkFeed {
            messages,
            stream: self.volumes_stream.clone(),
            consumer: consumer_name,
            stall_limit: self.timeout,
            stall: None,
        })
    }

    /// Deletes object `key`; succeeds if it does not exist.
    ///
    /// # Errors
    /// [`BrokerError::InvalidKey`], [`BrokerError::Unavailable`] or [`BrokerError::Object`].
    pub async fn delete_object(&self, key: &str) -> Result<(), BrokerError> {
        check_key(key)?;
        self.guarded(async {
            match self.volumes.delete(key).await {
                Ok(()) => Ok(()),
                Err(err) => match err.kind() {
                    DeleteErrorKind::NotFound => Ok(()),
                    DeleteErrorKind::TimedOut => Err(self.failed("deleting an object", &err)),
                    _ if !self.connected() => Err(self.failed("deleting an object", &err)),
                    _ => Err(BrokerError::Object(format!(
                        "deleting an object: {}",
                        chain(&err)
                    ))),
                },
            }
        })
        .await
    }

    /// The names of all stored objects, in no particular order.
    ///
    /// Reads every description in the bucket: meant for cleanup and admin tools, not for
    /// request paths.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] (also when the listing stalls for longer than the request
    /// timeout) or [`BrokerError::Object`].
    pub async fn object_keys(&self) -> Result<Vec<String>, BrokerError> {
        self.guarded(async {
            let mut list = self
                .volumes
                .list()
                .await
                .map_err(|err| self.failed("listing objects", &err))?;
            let mut keys = Vec::new();
            loop {
                match tokio::time::timeout(self.timeout, list.next()).await {
                    Ok(Some(Ok(info))) => keys.push(info.name),
                    Ok(Some(Err(err))) => return Err(self.failed("listing objects", &err)),
                    Ok(None) => return Ok(keys),
                    Err(_) => return Err(BrokerError::unavailable("listing objects timed out")),
                }
            }
        })
        .await
    }
}

impl Broker {
    /// Purges the chunks of objects that were never described: uploads cut off by a lost NATS
    /// connection or a relay crash, which `object_keys` cannot see. Only chunk subjects whose
    /// newest chunk is older than `min_age` are touched, so uploads in progress are safe as
    /// long as `min_age` is longer than the pause between two chunks of one upload. Returns
    /// the number of chunk messages purged.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] or [`BrokerError::Object`].
    pub async fn purge_orphan_chunks(&self, min_age: Duration) -> Result<u64, BrokerError> {
        self.guarded(async {
            // Chunk ids of every visible object (deleted ones have no chunks left).
            let mut described = HashSet::new();
            let mut list = self
                .volumes
                .list()
                .await
                .map_err(|err| self.failed("listing objects", &err))?;
            loop {
                match tokio::time::timeout(self.timeout, list.next()).await {
                    Ok(Some(Ok(info))) => {
                        described.insert(info.nuid);
                    }
                    Ok(Some(Err(err))) => return Err(self.failed("listing objects", &err)),
                    Ok(None) => break,
                    Err(_) => return Err(BrokerError::unavailable("listing objects timed out")),
                }
            }
            let prefix = format!("$O.{}.C.", self.volumes_bucket);
            let mut subjects = self
                .volumes_stream
                .info_with_subjects(format!("{prefix}>"))
                .await
                .map_err(|err| self.failed("listing chunk subjects", &err))?;
            let mut candidates = Vec::new();
            while let Some(entry) = subjects.next().await {
                let (subject, count) =
                    entry.map_err(|err| self.failed("listing chunk subjects", &err))?;
                if subject
                    .strip_prefix(&prefix)
                    .is_some_and(|nuid| !described.contains(nuid))
                {
                    candidates.push((subject, count));
                }
            }
            let now = async_nats::datetime::now();
            let mut purged = 0u64;
            for (subject, count) in candidates {
                let last = match self
                    .volumes_stream
                    .get_last_raw_message_by_subject(&subject)
                    .await
                {
                    Ok(last) => last,
                    // Purged meanwhile, or unreadable: try again on the next sweep.
                    Err(_) => continue,
                };
                let old = async_nats::datetime::add_std_duration(last.time, min_age)
                    .is_ok_and(|due| due <= now);
                if old {
                    self.purge_chunks(&subject).await;
                    purged += count as u64;
                }
            }
            Ok(purged)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for good in ["a", "0b1c/7", "vol-1_2.bin", &"x".repeat(256)] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".a",
            "a.",
            "a b",
            "a*",
            "a>",
            "ä",
            "a\nb",
            &"x".repeat(257),
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn padded_base64url() {
        assert_eq!(base64url_padded(b""), "");
        assert_eq!(base64url_padded(b"f"), "Zg==");
        assert_eq!(base64url_padded(b"fo"), "Zm8=");
        assert_eq!(base64url_padded(b"foo"), "Zm9v");
        assert_eq!(base64url_padded(&[0xfb, 0xff]), "-_8=");
    }

    #[tokio::test]
    async fn chunks_are_full_however_reads_are_cut() {
        // A reader that hands out at most 3 bytes per read.
        struct Trickle {
            data: Vec<u8>,
            at: usize,
        }
        impl AsyncRead for Trickle {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = buf.remaining().min(3).min(self.data.len() - self.at);
                let at = self.at;
                buf.put_slice(&self.data[at..at + n]);
                self.at += n;
                Poll::Ready(Ok(()))
            }
        }
        let data: Vec<u8> = (0..=255u8).cycle().take(25).collect();
        let mut reader = Trickle { data, at: 0 };
        let mut got = Vec::new();
        loop {
            let chunk = read_chunk(&mut reader, 10).await.expect("read");
            let last = chunk.len() < 10;
            got.push(chunk.len());
            if last {
                break;
            }
        }
        assert_eq!(got, [10, 10, 5]);
    }
}
