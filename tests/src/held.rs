//! Uploads whose body a test feeds piece by piece, and a watch on the chunks the relay stores,
//! so a test can act (kill NATS, kill the relay, race another upload) at a known point of an
//! upload without guessing with sleeps.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plog_ipc_schema::nats::Names;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::client::SealedVolume;

/// How long a held upload or a chunk watch may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

type Piece = Result<Vec<u8>, std::io::Error>;

/// How a held upload ended.
#[derive(Debug)]
pub enum Outcome {
    /// A response: its status and body (or why the body could not be read).
    Response {
        /// HTTP status.
        status: u16,
        /// Response body text.
        body: Result<String, String>,
        /// When the response arrived.
        at: Instant,
    },
    /// No response: the request failed.
    Failed {
        /// The client's error.
        error: String,
        /// `reqwest::Error::is_request`: sending the request failed.
        request: bool,
        /// `reqwest::Error::is_timeout`.
        timeout: bool,
        /// When it failed.
        at: Instant,
    },
}

impl Outcome {
    /// Status and body of a response.
    ///
    /// # Panics
    /// If there was no response or its body could not be read.
    pub fn response(&self) -> (u16, &str) {
        match self {
            Outcome::Response {
                status,
                body: Ok(body),
                ..
            } => (*status, body.as_str()),
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// An upload whose body the test feeds piece by piece.
#[derive(Debug)]
pub struct HeldUpload {
    feed: mpsc::Sender<Piece>,
    outcome: tokio::task::JoinHandle<Outcome>,
}

impl HeldUpload {
    /// Starts `PUT /v1/volumes/{id}` with the headers of `volume` and a body that only carries
    /// what [`Self::send`] hands it.
    pub fn start(
        client: &reqwest::Client,
        base: &str,
        token: &str,
        volume_id: Uuid,
        volume: &SealedVolume,
    ) -> Self {
        // Capacity 1: a send returns once the client has taken the piece before.
        let (feed, pieces) = mpsc::channel::<Piece>(1);
        let body = futures_util::stream::unfold(pieces, |mut pieces| async move {
            pieces.recv().await.map(|piece| (piece, pieces))
        });
        let mut request = client
            .put(format!("{base}/v1/volumes/{volume_id}"))
            .bearer_auth(token)
            .body(reqwest::Body::wrap_stream(body));
        for (name, value) in volume.headers.to_pairs() {
            request = request.header(name, value);
        }
        let outcome = tokio::spawn(async move {
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let at = Instant::now();
                    let body = response.text().await.map_err(|e| format!("{e:?}"));
                    Outcome::Response { status, body, at }
                }
                Err(error) => Outcome::Failed {
                    request: error.is_request(),
                    timeout: error.is_timeout(),
                    error: format!("{error:?}"),
                    at: Instant::now(),
                },
            }
        });
        Self { feed, outcome }
    }

    /// Hands `bytes` to the body in 64 KiB pieces; the number of bytes the body accepted
    /// (fewer than all once the client stopped sending it).
    pub async fn send(&self, bytes: &[u8]) -> usize {
        let mut accepted = 0;
        for piece in bytes.chunks(64 * 1024) {
            if self.feed.send(Ok(piece.to_vec())).await.is_err() {
                break;
            }
            accepted += piece.len();
        }
        accepted
    }

    /// Ends the body and waits (bounded) for the outcome.
    ///
    /// # Panics
    /// After [`DEADLINE`], or if the upload task panicked.
    pub async fn finish(self) -> Outcome {
        drop(self.feed);
        tokio::time::timeout(DEADLINE, self.outcome)
            .await
            .expect("the upload ends within the deadline")
            .expect("the upload task did not panic")
    }
}

/// A core NATS subscription to the relay's object chunk subjects: every chunk the relay
/// stores passes through it, so the test knows how far the relay has read each body.
#[derive(Debug)]
pub struct ChunkWatch {
    _client: async_nats::Client,
    subscription: async_nats::Subscriber,
    /// Chunk messages seen, per subject (one subject per object being written).
    seen: BTreeMap<String, usize>,
}

impl ChunkWatch {
    /// Subscribes (unprefixed deployment names) and waits until the server has the
    /// subscription.
    ///
    /// # Panics
    /// If NATS cannot be reached.
    pub async fn start(nats_url: &str) -> Self {
        let client = async_nats::connect(nats_url)
            .await
            .expect("NATS for the chunk watch");
        let bucket = Names::new("").expect("empty prefix").volumes_bucket();
        let subscription = client
            .subscribe(format!("$O.{bucket}.C.>"))
            .await
            .expect("chunk subscription");
        // The server has the subscription once a round trip after it is done.
        client.flush().await.expect("flush");
        Self {
            _client: client,
            subscription,
            seen: BTreeMap::new(),
        }
    }

    /// Waits until `objects` distinct objects have received at least `chunks` chunks each.
    ///
    /// # Panics
    /// After [`DEADLINE`].
    pub async fn wait_for(&mut self, objects: usize, chunks: usize) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.seen.values().filter(|&&n| n >= chunks).count() < objects {
            let message = tokio::time::timeout_at(deadline, self.subscription.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "uploads did not reach {chunks} chunks each; saw {:?}",
                        self.seen
                    )
                })
                .expect("chunk subscription open");
            *self.seen.entry(message.subject.to_string()).or_default() += 1;
        }
    }
}
