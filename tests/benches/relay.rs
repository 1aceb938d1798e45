//! Throughput, request rates and memory of the relay, beside raw NATS on the same machine.
//!
//! Run with `cargo bench -p plog-tests --bench relay`. See `docs/BENCHMARKS.md`.
//!
//! One run starts its own `nats-server -js` (the test harness's [`NatsServer`]) and an
//! in-process relay on SQLite ([`TestRelay`]), everything on 127.0.0.1, and measures:
//!
//! 1. volume upload and download through the relay's HTTPS API (1 MiB, 64 MiB and 512 MiB
//!    volumes, sealed once per size), beside raw JetStream object store put/get of the same
//!    bytes (async-nats directly, in a bucket of its own) at the relay's chunk size and at
//!    1 MiB chunks;
//! 2. challenge logins per second (1 and 64 clients), beside raw NATS request/reply;
//! 3. 4 KiB volume puts per second with 64 clients;
//! 4. the peak resident memory (`VmHWM`) of a separate `plog-relay` process during a 512 MiB
//!    upload (then, for information, a second upload over HTTP/1.1 and a download).
//!
//! Diagnostic rows (`diag: …`) help to explain the figures: the same transfers over HTTP/1.1
//! and through the relay's storage layer alone ([`Broker`], no HTTP), raw object store puts of
//! 4 KiB objects, and the relay's SQLite writes alone. Every figure comes with the CPU it took
//! ("cores busy": CPU seconds per wall second of this process, which holds the relay and its
//! clients, and of `nats-server`), to tell work from waiting.
//!
//! Throughput is volume bytes (the sealed ciphertext, as stored and sent) per second in decimal
//! megabytes (1 MB = 1,000,000 bytes). Every loop is bounded by a count or a deadline, and
//! every stage by a timeout. `PLOG_BENCH_PARTS` (a comma-separated subset of `transfer`,
//! `rates`, `puts`, `memory`) runs only some parts.

use std::error::Error;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, object_store::ObjectMetadata, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use plog_crypto::master::MasterSecret;
use plog_ipc_schema::encoding::PublicKeyB64;
use plog_ipc_schema::http::accounts::{AccountKind, RegisterRequest, RegisterResponse};
use plog_ipc_schema::http::auth::ChallengeRequest;
use plog_relay::broker::{Broker, NatsSettings};
use plog_tests::bench::{MIB, Res, block_on, cpu_secs, find_pid, loadavg, mbps, median, verdict};
use plog_tests::client::{self, SealedVolume, TestUser, seal_volume};
use plog_tests::nats::NatsServer;
use plog_tests::relay::{Database, RelayOptions, TestRelay, client_trusting};
use plog_tests::relay_process::RelayProcess;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

const KIB: usize = 1024;

/// Limits of the relays under test: volumes up to 600 MiB, a quota that never binds.
const MAX_VOLUME_BYTES: u64 = 600 * MIB as u64;
const QUOTA_BYTES: u64 = 1 << 40;

/// Volume sizes (plaintext) and how many runs of each transfer path.
const SIZES: [(&str, usize, usize); 3] = [
    ("1MiB", MIB, 15),
    ("64MiB", 64 * MIB, 5),
    ("512MiB", 512 * MIB, 3),
];

/// Pieces the upload body is streamed in (slices of the sealed volume in memory).
const BODY_PIECE: usize = 256 * KIB;

/// Concurrent clients for the rate tests.
const CLIENTS: usize = 64;

/// Rounds of each rate test, and how long one round runs.
const RATE_ROUNDS: usize = 3;
const LOGIN_ROUND_1: Duration = Duration::from_secs(2);
const LOGIN_ROUND_64: Duration = Duration::from_secs(3);
const NATS_ROUND: Duration = Duration::from_secs(1);

/// 4 KiB puts: puts per client per round.
const SMALL_PLAINTEXT: usize = 4 * KIB;
const SMALL_PUTS_PER_ROUND: usize = 20;

/// Targets.
const TRANSFER_RATIO_TARGET: f64 = 0.60;
const LOGIN_TARGET: f64 = 1_000.0;
const SMALL_PUT_TARGET: f64 = 2_000.0;
const RSS_TARGET_KIB: u64 = 64 * 1024;

/// Bound on any single stage (a stuck server must not hang the bench).
const STAGE_TIMEOUT: Duration = Duration::from_secs(240);

/// The bucket of the raw object store measurements (not the relay's).
const RAW_BUCKET: &str = "bench-raw";
/// The prefix of the broker diagnostic's buckets.
const DIAG_PREFIX: &str = "bench";

fn main() -> Res<()> {
    block_on(run())?
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

async fn bounded<T>(what: &str, future: impl Future<Output = Res<T>>) -> Res<T> {
    match tokio::time::timeout(STAGE_TIMEOUT, future).await {
        Ok(result) => result,
        Err(_) => Err(format!("{what}: no result within {} s", STAGE_TIMEOUT.as_secs()).into()),
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// CPU used by this process (relay and clients) and by `nats-server` over an interval.
#[derive(Clone, Copy)]
struct Cpu {
    nats_pid: u32,
}

#[derive(Clone, Copy, Default)]
struct CpuUse {
    wall: f64,
    bench: f64,
    nats: f64,
}

impl CpuUse {
    fn add(&mut self, other: CpuUse) {
        self.wall += other.wall;
        self.bench += other.bench;
        self.nats += other.nats;
    }

    /// Average busy cores: `bench + nats` as text.
    fn cores(&self) -> String {
        format!(
            "{:.2} + {:.2}",
            self.bench / self.wall,
            self.nats / self.wall
        )
    }
}

impl Cpu {
    /// Runs `future`, returning its output and the wall and CPU time it took.
    async fn measure<T>(self, future: impl Future<Output = Res<T>>) -> Res<(T, CpuUse)> {
        let me = std::process::id();
        let (b0, n0, t0) = (cpu_secs(me), cpu_secs(self.nats_pid), Instant::now());
        let out = future.await?;
        let wall = t0.elapsed().as_secs_f64();
        Ok((
            out,
            CpuUse {
                wall,
                bench: cpu_secs(me) - b0,
                nats: cpu_secs(self.nats_pid) - n0,
            },
        ))
    }
}

/// The pid of the `nats-server` whose command line names `store_dir`.
fn find_nats_pid(store_dir: &Path) -> Option<u32> {
    find_pid("nats-server", store_dir)
}

/// The pid of the `plog-relay` process serving `data_dir` (found through `/proc`).
fn find_relay_pid(data_dir: &Path) -> Option<u32> {
    find_pid("plog-relay", data_dir)
}

/// Registers an account for `master`'s identity at `origin` and logs it in.
async fn register_with(
    http: &reqwest::Client,
    base: &str,
    origin: &str,
    master: MasterSecret,
) -> Res<TestUser> {
    let identity = master.relay_identity(origin, 0)?;
    let response = http
        .post(format!("{base}/v1/accounts"))
        .json(&RegisterRequest {
            kind: AccountKind::System,
            public_key: PublicKeyB64::new(*identity.public_key().as_bytes()),
            handle: None,
        })
        .send()
        .await?;
    if response.status() != 201 {
        return Err(format!("registration: {}", response.status()).into());
    }
    let RegisterResponse { user_id } = response.json().await?;
    let token = client::login(
        http,
        base,
        origin,
        &identity,
        ChallengeRequest::UserId(user_id),
    )
    .await
    .map_err(|(status, body)| format!("first login: {status} {body:?}"))?;
    Ok(TestUser {
        master,
        identity,
        user_id,
        token,
    })
}

/// A client like the harness's ([`client_trusting`]) but limited to HTTP/1.1 (diagnostic).
fn http1_client(data_dir: &Path) -> Res<reqwest::Client> {
    let (cert_path, _) = plog_relay::tls::generated_paths(data_dir);
    Ok(reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&cert_path)?)?])
        .timeout(Duration::from_secs(60))
        .http1_only()
        .build()?)
}

/// `PUT /v1/volumes/{id}` with the body streamed from `bytes` in [`BODY_PIECE`] slices.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    volume_id: Uuid,
    headers: &[(&'static str, String)],
    bytes: &Bytes,
) -> Res<()> {
    let pieces: Vec<Result<Bytes, std::io::Error>> = (0..bytes.len())
        .step_by(BODY_PIECE)
        .map(|at| Ok(bytes.slice(at..(at + BODY_PIECE).min(bytes.len()))))
        .collect();
    let mut request = http
        .put(format!("{base}/v1/volumes/{volume_id}"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_LENGTH, bytes.len())
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("upload: {status} {text}").into());
    }
    Ok(())
}

/// `GET /v1/volumes/{id}`, counting the body's bytes as they arrive.
async fn download(http: &reqwest::Client, base: &str, token: &str, volume_id: Uuid) -> Res<u64> {
    let response = http
        .get(format!("{base}/v1/volumes/{volume_id}"))
        .bearer_auth(token)
        .send()
        .await?;
    if response.status() != 200 {
        return Err(format!("download: {}", response.status()).into());
    }
    let mut body = response.bytes_stream();
    let mut received = 0u64;
    while let Some(piece) = body.next().await {
        received += piece?.len() as u64;
    }
    Ok(received)
}

async fn delete_volume(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    volume_id: Uuid,
) -> Res<()> {
    let response = http
        .delete(format!("{base}/v1/volumes/{volume_id}"))
        .bearer_auth(token)
        .send()
        .await?;
    if response.status() != 204 {
        return Err(format!("delete: {}", response.status()).into());
    }
    Ok(())
}

/// Reads `reader` to the end through a 256 KiB buffer; the number of bytes.
async fn drain(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> Res<u64> {
    let mut buffer = vec![0u8; 256 * KIB];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// Waits (at most 30 s) until the stream `name` holds at most `bytes` bytes: the relay purges
/// deleted objects in the background, and that work must not overlap the next measurement.
async fn wait_stream_at_most(js: &jetstream::Context, name: &str, bytes: u64) -> Res<()> {
    let stream = js.get_stream(name).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = stream.get_info().await?.state.bytes;
        if held <= bytes {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("stream {name} still holds {held} bytes after 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Volume transfer

/// Timings of one transfer path at one size (seconds per run).
struct TransferPath {
    size: &'static str,
    dir: &'static str,
    path: String,
    bytes: u64,
    secs: Vec<f64>,
    cpu: CpuUse,
}

impl TransferPath {
    fn rates(&self) -> Vec<f64> {
        self.secs.iter().map(|s| mbps(self.bytes, *s)).collect()
    }

    fn record(&mut self, used: CpuUse) {
        self.secs.push(used.wall);
        self.cpu.add(used);
    }
}

struct TransferSetup<'a> {
    relay: &'a TestRelay,
    http1: &'a reqwest::Client,
    owner: &'a TestUser,
    js: &'a jetstream::Context,
    raw: &'a jetstream::object_store::ObjectStore,
    broker: &'a Broker,
    relay_chunk: usize,
    relay_stream: &'a str,
    cpu: Cpu,
}

/// The relay path under test and the HTTP/1.1 diagnostic.
const RELAY_H2: &str = "relay HTTPS (h2)";
const RELAY_H1: &str = "diag: relay HTTPS (HTTP/1.1)";
const BROKER: &str = "diag: relay broker, no HTTP";

async fn measure_transfers(setup: &TransferSetup<'_>) -> Res<Vec<TransferPath>> {
    let cpu = setup.cpu;
    let mut results = Vec::new();
    for (size_name, plaintext_len, runs) in SIZES {
        let volume_id = Uuid::new_v4();
        let started = Instant::now();
        // Any plaintext will do: the ciphertext looks random whatever it is.
        let plaintext = vec![0x5au8; plaintext_len];
        let sealed: SealedVolume =
            seal_volume(setup.owner, volume_id, "journals", 1, 0, &plaintext);
        drop(plaintext);
        let headers = sealed.headers.to_pairs();
        let bytes = Bytes::from(sealed.bytes);
        let len = bytes.len() as u64;
        println!(
            "[transfer {size_name}] sealed {len} bytes in {:.2} s; {runs} runs per path",
            started.elapsed().as_secs_f64()
        );

        let chunkings = [
            (
                format!("raw object store, {} B chunks (relay's)", setup.relay_chunk),
                setup.relay_chunk,
            ),
            ("raw object store, 1 MiB chunks".to_owned(), MIB),
        ];
        let mut paths: Vec<TransferPath> = Vec::new();
        let mut add = |dir: &'static str, path: &str| {
            paths.push(TransferPath {
                size: size_name,
                dir,
                path: path.to_owned(),
                bytes: len,
                secs: Vec::new(),
                cpu: CpuUse::default(),
            });
            paths.len() - 1
        };
        let relay_paths = [
            (add("upload", RELAY_H2), add("download", RELAY_H2)),
            (add("upload", RELAY_H1), add("download", RELAY_H1)),
        ];
        let raw_paths: Vec<(usize, usize)> = chunkings
            .iter()
            .map(|(name, _)| (add("upload", name), add("download", name)))
            .collect();
        let broker_paths = (add("upload", BROKER), add("download", BROKER));

        let relay_base = setup
            .js
            .get_stream(setup.relay_stream)
            .await?
            .get_info()
            .await?
            .state
            .bytes;
        let base = setup.relay.base_url.as_str();
        let token = setup.owner.token.as_str();
        for run in 0..runs {
            // Every other run in the opposite order, so that the background work one path
            // leaves behind (file removal in nats-server) does not always hit the same path.
            let flip = run % 2 == 1;

            // Relay over HTTP/2 (what reqwest negotiates) and over HTTP/1.1.
            let mut clients = [
                (&setup.relay.client, relay_paths[0]),
                (setup.http1, relay_paths[1]),
            ];
            if flip {
                clients.reverse();
            }
            for (http, (up, down)) in clients {
                let ((), used) = cpu
                    .measure(upload(http, base, token, volume_id, &headers, &bytes))
                    .await?;
                paths[up].record(used);
                let (got, used) = cpu.measure(download(http, base, token, volume_id)).await?;
                paths[down].record(used);
                if got != len {
                    return Err(format!("downloaded {got} bytes of {len}").into());
                }
                delete_volume(http, base, token, volume_id).await?;
                wait_stream_at_most(setup.js, setup.relay_stream, relay_base + len / 4).await?;
            }

            // Raw object store, same bytes.
            let mut order: Vec<usize> = (0..chunkings.len()).collect();
            if flip {
                order.reverse();
            }
            for i in order {
                let chunk = chunkings[i].1;
                let (up, down) = raw_paths[i];
                let name = format!("volume-{size_name}");
                let meta = ObjectMetadata {
                    name: name.clone(),
                    chunk_size: Some(chunk),
                    ..Default::default()
                };
                let (info, used) = cpu
                    .measure(async { Ok(setup.raw.put(meta, &mut &bytes[..]).await?) })
                    .await?;
                paths[up].record(used);
                if run == 0 {
                    println!(
                        "[transfer {size_name}] raw put, {chunk} B chunks: {} chunks",
                        info.chunks
                    );
                }
                let (got, used) = cpu
                    .measure(async {
                        let mut object = setup.raw.get(&name).await?;
                        drain(&mut object).await
                    })
                    .await?;
                paths[down].record(used);
                if got != len {
                    return Err(format!("raw get returned {got} bytes of {len}").into());
                }
                setup.raw.delete(&name).await?;
            }

            // The relay's own storage layer (`Broker::put_object`/`get_object`), without HTTP.
            let key = format!("diag/{size_name}");
            let (stored, used) = cpu
                .measure(async { Ok(setup.broker.put_object(&key, &mut &bytes[..]).await?) })
                .await?;
            paths[broker_paths.0].record(used);
            let (got, used) = cpu
                .measure(async {
                    let mut object = setup
                        .broker
                        .get_object(&key)
                        .await?
                        .ok_or("stored object is missing")?;
                    drain(&mut object).await
                })
                .await?;
            paths[broker_paths.1].record(used);
            if stored != len || got != len {
                return Err(format!("broker stored {stored}, read {got} of {len}").into());
            }
            setup.broker.delete_object(&key).await?;

            let last = |i: usize| {
                format!(
                    "{:.0}",
                    paths[i].rates().last().copied().unwrap_or(f64::NAN)
                )
            };
            println!(
                "[transfer {size_name}] run {}: MB/s up/down: relay h2 {}/{}, relay h1 {}/{}, \
                 raw {}/{} and {}/{}, broker {}/{}",
                run + 1,
                last(relay_paths[0].0),
                last(relay_paths[0].1),
                last(relay_paths[1].0),
                last(relay_paths[1].1),
                last(raw_paths[0].0),
                last(raw_paths[0].1),
                last(raw_paths[1].0),
                last(raw_paths[1].1),
                last(broker_paths.0),
                last(broker_paths.1),
            );
        }
        results.extend(paths);
    }
    Ok(results)
}

// ---------------------------------------------------------------------------------------------
// 2. Logins and raw request/reply; 3. small puts

struct Rate {
    what: String,
    clients: usize,
    per_sec: Vec<f64>,
    cpu: CpuUse,
}

/// Runs `rounds` rounds of `clients` tasks, each repeating `op` until the round's deadline;
/// returns operations per second of each round (counted until the last task has finished).
async fn rate_rounds<S, F, Fut>(
    cpu: Cpu,
    rounds: usize,
    round: Duration,
    states: &[S],
    op: F,
) -> Res<(Vec<f64>, CpuUse)>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Res<()>> + Send + 'static,
{
    let mut rates = Vec::new();
    let mut used = CpuUse::default();
    for _ in 0..rounds {
        let (me, nats) = (cpu_secs(std::process::id()), cpu_secs(cpu.nats_pid));
        let start = Instant::now();
        let deadline = start + round;
        let tasks: Vec<_> = states
            .iter()
            .cloned()
            .map(|state| {
                let op = op.clone();
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        op(state.clone()).await?;
                        done += 1;
                    }
                    Res::Ok(done)
                })
            })
            .collect();
        let mut total = 0u64;
        for task in tasks {
            total += task.await??;
        }
        let wall = start.elapsed().as_secs_f64();
        rates.push(total as f64 / wall);
        used.add(CpuUse {
            wall,
            bench: cpu_secs(std::process::id()) - me,
            nats: cpu_secs(cpu.nats_pid) - nats,
        });
    }
    Ok((rates, used))
}

#[derive(Clone)]
struct LoginClient {
    http: reqwest::Client,
    base: Arc<str>,
    origin: Arc<str>,
    user: Arc<TestUser>,
}

async fn login_once(c: LoginClient) -> Res<()> {
    client::login(
        &c.http,
        &c.base,
        &c.origin,
        &c.user.identity,
        ChallengeRequest::UserId(c.user.user_id),
    )
    .await
    .map(|_| ())
    .map_err(|(status, body)| format!("login: {status} {body:?}").into())
}

async fn measure_logins(cpu: Cpu, clients: &[LoginClient]) -> Res<Vec<Rate>> {
    let mut rates = Vec::new();
    for (n, round) in [(1, LOGIN_ROUND_1), (CLIENTS, LOGIN_ROUND_64)] {
        let (per_sec, used) =
            rate_rounds(cpu, RATE_ROUNDS, round, &clients[..n], login_once).await?;
        println!("[logins] {n} client(s): per round {per_sec:.0?} logins/s");
        rates.push(Rate {
            what: "challenge login (challenge + response)".to_owned(),
            clients: n,
            per_sec,
            cpu: used,
        });
    }
    Ok(rates)
}

async fn measure_request_reply(cpu: Cpu, url: &str) -> Res<Vec<Rate>> {
    let responder = async_nats::connect(url).await?;
    let mut subscription = responder.subscribe("bench.echo").await?;
    let echo = tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            if let Some(reply) = message.reply {
                let _ = responder.publish(reply, message.payload).await;
            }
        }
    });
    let requester = async_nats::connect(url).await?;
    requester.flush().await?;
    let payload = Bytes::from(vec![7u8; 128]);
    let mut rates = Vec::new();
    for n in [1, CLIENTS] {
        let states = vec![(requester.clone(), payload.clone()); n];
        let (per_sec, used) = rate_rounds(
            cpu,
            RATE_ROUNDS,
            NATS_ROUND,
            &states,
            |(client, payload): (async_nats::Client, Bytes)| async move {
                client.request("bench.echo", payload).await?;
                Ok(())
            },
        )
        .await?;
        println!("[nats request/reply] {n} requester(s): per round {per_sec:.0?} per s");
        rates.push(Rate {
            what: "raw NATS request/reply (128 B)".to_owned(),
            clients: n,
            per_sec,
            cpu: used,
        });
    }
    echo.abort();
    Ok(rates)
}

/// 64 clients, each putting new revisions of its own 4 KiB volume (sealed beforehand).
async fn measure_small_puts(cpu: Cpu, relay: &TestRelay, clients: &[LoginClient]) -> Res<Rate> {
    let total_puts = RATE_ROUNDS * SMALL_PUTS_PER_ROUND;
    let started = Instant::now();
    let plaintext = vec![0x33u8; SMALL_PLAINTEXT];
    let mut work = Vec::new();
    for c in clients {
        let volume_id = Uuid::new_v4();
        let revisions: Vec<SealedVolume> = (1..=total_puts as u64)
            .map(|revision| seal_volume(&c.user, volume_id, "journals", revision, 0, &plaintext))
            .collect();
        work.push((c.http.clone(), volume_id, revisions));
    }
    println!(
        "[4KiB puts] sealed {} revisions of {} B in {:.2} s",
        CLIENTS * total_puts,
        work[0].2[0].bytes.len(),
        started.elapsed().as_secs_f64()
    );
    let work: Vec<_> = work.into_iter().map(Arc::new).collect();
    let mut per_sec = Vec::new();
    let mut used = CpuUse::default();
    for round in 0..RATE_ROUNDS {
        let (me, nats) = (cpu_secs(std::process::id()), cpu_secs(cpu.nats_pid));
        let start = Instant::now();
        let tasks: Vec<_> = work
            .iter()
            .zip(clients)
            .map(|(w, c)| {
                let w = w.clone();
                let base = relay.base_url.clone();
                let token = c.user.token.clone();
                tokio::spawn(async move {
                    let (http, volume_id, revisions) = &*w;
                    let from = round * SMALL_PUTS_PER_ROUND;
                    for volume in &revisions[from..from + SMALL_PUTS_PER_ROUND] {
                        let response =
                            client::put_volume(http, &base, &token, *volume_id, volume).await;
                        if !response.status().is_success() {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            return Res::Ok(Err(format!("4 KiB put: {status} {text}")));
                        }
                    }
                    Ok(Ok(()))
                })
            })
            .collect();
        for task in tasks {
            task.await??
                .map_err(|e| -> Box<dyn Error + Send + Sync> { e.into() })?;
        }
        let wall = start.elapsed().as_secs_f64();
        per_sec.push((CLIENTS * SMALL_PUTS_PER_ROUND) as f64 / wall);
        used.add(CpuUse {
            wall,
            bench: cpu_secs(std::process::id()) - me,
            nats: cpu_secs(cpu.nats_pid) - nats,
        });
    }
    println!("[4KiB puts] {CLIENTS} clients: per round {per_sec:.0?} puts/s");
    Ok(Rate {
        what: "4 KiB volume put (create, then replace)".to_owned(),
        clients: CLIENTS,
        per_sec,
        cpu: used,
    })
}

/// Diagnostic: raw object store put of the same 4 KiB volumes' size, 64 concurrent writers,
/// each replacing its own object.
async fn measure_raw_small_puts(
    cpu: Cpu,
    raw: &jetstream::object_store::ObjectStore,
    len: usize,
) -> Res<Rate> {
    let data = Bytes::from(vec![0x44u8; len]);
    let mut per_sec = Vec::new();
    let mut used = CpuUse::default();
    for _ in 0..RATE_ROUNDS {
        let (me, nats) = (cpu_secs(std::process::id()), cpu_secs(cpu.nats_pid));
        let start = Instant::now();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let raw = raw.clone();
                let data = data.clone();
                tokio::spawn(async move {
                    for _ in 0..SMALL_PUTS_PER_ROUND {
                        raw.put(format!("small-{i}").as_str(), &mut &data[..])
                            .await?;
                    }
                    Res::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let wall = start.elapsed().as_secs_f64();
        per_sec.push((CLIENTS * SMALL_PUTS_PER_ROUND) as f64 / wall);
        used.add(CpuUse {
            wall,
            bench: cpu_secs(std::process::id()) - me,
            nats: cpu_secs(cpu.nats_pid) - nats,
        });
    }
    println!("[raw 4KiB object puts] {CLIENTS} writers: per round {per_sec:.0?} puts/s");
    Ok(Rate {
        what: format!("diag: raw object store put, {len} B, replacing"),
        clients: CLIENTS,
        per_sec,
        cpu: used,
    })
}

/// Diagnostics: the relay's SQLite metadata writes alone (its own `Db`, same settings as the
/// relay's, a fresh file), 64 concurrent writers: the commit transaction of every volume put,
/// and the `last_seen_at` update of every login.
async fn measure_db(cpu: Cpu) -> Res<Vec<Rate>> {
    use plog_ipc_schema::http::headers::Precondition;
    use plog_relay::db::{Db, NewAccount, VolumeCommit};

    let dir = tempfile::Builder::new()
        .prefix("plog-bench-db-")
        .tempdir()?;
    let db = Db::connect(&format!("sqlite:{}", dir.path().join("relay.db").display())).await?;
    let now = || plog_relay::state::now_secs() as i64;
    let mut owners = Vec::new();
    for _ in 0..CLIENTS {
        let user_id = Uuid::new_v4();
        let mut public_key = [0u8; 32];
        public_key[..16].copy_from_slice(user_id.as_bytes());
        db.create_account(&NewAccount {
            user_id,
            kind: AccountKind::System,
            public_key,
            handle: None,
            now: now(),
        })
        .await?;
        owners.push(user_id);
    }
    let db = Arc::new(db);

    let mut rates = Vec::new();
    let mut next_revision = 1u64;
    // As the relay does it (the read of the current row in parallel, the one writing
    // statement in the process's write turn), then with whole commits one at a time.
    for (what, queue) in [
        ("diag: SQLite commit_volume alone", None),
        (
            "diag: SQLite commit_volume, whole commits one at a time",
            Some(Arc::new(tokio::sync::Mutex::new(()))),
        ),
    ] {
        let mut commits = Vec::new();
        let mut used = CpuUse::default();
        for _ in 0..RATE_ROUNDS {
            let (me, nats) = (cpu_secs(std::process::id()), cpu_secs(cpu.nats_pid));
            let start = Instant::now();
            let first = next_revision;
            next_revision += SMALL_PUTS_PER_ROUND as u64;
            let tasks: Vec<_> = owners
                .iter()
                .map(|&owner_id| {
                    let db = db.clone();
                    let queue = queue.clone();
                    // One volume per owner; its id is derived from the owner's.
                    let volume_id = Uuid::from_u128(owner_id.as_u128() ^ 1);
                    tokio::spawn(async move {
                        for revision in first..first + SMALL_PUTS_PER_ROUND as u64 {
                            let commit = VolumeCommit {
                                volume_id,
                                owner_id,
                                vtype: "journals".to_owned(),
                                new_revision: revision,
                                expected: if revision == 1 {
                                    Precondition::Create
                                } else {
                                    Precondition::Replace {
                                        revision: revision - 1,
                                    }
                                },
                                key_epoch: 0,
                                size: 4443,
                                object_key: format!("{volume_id}/{revision}/bench"),
                                digest: [0; 32],
                                owner_tag: vec![0; 32],
                                owner_key: vec![0; 73],
                                grantee_tags: Default::default(),
                                quota_bytes: QUOTA_BYTES,
                                now: plog_relay::state::now_secs() as i64,
                            };
                            let _turn = match &queue {
                                Some(queue) => Some(queue.lock().await),
                                None => None,
                            };
                            db.commit_volume(&commit).await?;
                        }
                        Res::Ok(())
                    })
                })
                .collect();
            for task in tasks {
                task.await??;
            }
            let wall = start.elapsed().as_secs_f64();
            commits.push((CLIENTS * SMALL_PUTS_PER_ROUND) as f64 / wall);
            used.add(CpuUse {
                wall,
                bench: cpu_secs(std::process::id()) - me,
                nats: cpu_secs(cpu.nats_pid) - nats,
            });
        }
        println!("[db] {what}, {CLIENTS} writers: per round {commits:.0?} per s");
        rates.push(Rate {
            what: what.to_owned(),
            clients: CLIENTS,
            per_sec: commits,
            cpu: used,
        });
    }

    let touch_db = db.clone();
    let (per_sec, used) = rate_rounds(
        cpu,
        RATE_ROUNDS,
        NATS_ROUND,
        &owners,
        move |user_id: Uuid| {
            let db = touch_db.clone();
            async move {
                db.touch(user_id, plog_relay::state::now_secs() as i64)
                    .await?;
                Ok(())
            }
        },
    )
    .await?;
    println!("[db] touch, {CLIENTS} writers: per round {per_sec:.0?} per s");
    rates.push(Rate {
        what: "diag: SQLite login write (touch) alone".to_owned(),
        clients: CLIENTS,
        per_sec,
        cpu: used,
    });
    Ok(rates)
}

// ---------------------------------------------------------------------------------------------
// 4. Peak memory of a relay process

struct Memory {
    pid: u32,
    after_start_rss: u64,
    after_start_hwm: u64,
    upload_sampled_max_rss: u64,
    after_upload_hwm: u64,
    after_h1_upload_hwm: u64,
    after_download_hwm: u64,
    upload_secs: f64,
    h1_upload_secs: f64,
    download_secs: f64,
    bytes: u64,
}

async fn measure_memory(nats_url: &str, plaintext_len: usize) -> Res<Memory> {
    let dir = tempfile::Builder::new()
        .prefix("plog-relay-bench-")
        .tempdir()?;
    let data_dir = dir.path().join("data");
    let started = Instant::now();
    let relay = RelayProcess::start(
        &data_dir,
        &[
            ("PLOG_RELAY_NATS__URL", nats_url.to_owned()),
            // Its own buckets, apart from the in-process relay's.
            ("PLOG_RELAY_NATS__PREFIX", "rss".to_owned()),
            (
                "PLOG_RELAY_LIMITS__MAX_VOLUME_BYTES",
                MAX_VOLUME_BYTES.to_string(),
            ),
            ("PLOG_RELAY_LIMITS__QUOTA_BYTES", QUOTA_BYTES.to_string()),
            // The production default (the harness sets debug).
            ("RUST_LOG", "info".to_owned()),
        ],
    )
    .await;
    println!(
        "[memory] relay process ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let pid =
        find_relay_pid(relay.data_dir()).ok_or("cannot find the plog-relay process in /proc")?;
    let http = client_trusting(relay.data_dir());
    let base = relay.base_url.clone();
    let origin = relay.public_origin.clone();
    let user = register_with(&http, &base, &origin, MasterSecret::generate()?).await?;

    let volume_id = Uuid::new_v4();
    let plaintext = vec![0x5au8; plaintext_len];
    let sealed = seal_volume(&user, volume_id, "journals", 1, 0, &plaintext);
    drop(plaintext);
    let headers = sealed.headers.to_pairs();
    let bytes = Bytes::from(sealed.bytes);

    let after_start_rss = status_kib(pid, "VmRSS").ok_or("no VmRSS")?;
    let after_start_hwm = status_kib(pid, "VmHWM").ok_or("no VmHWM")?;
    // Sample the resident set while the upload runs.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut max = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(status_kib(pid, "VmRSS").unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            max
        })
    };
    let t = Instant::now();
    upload(&http, &base, &user.token, volume_id, &headers, &bytes).await?;
    let upload_secs = t.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let upload_sampled_max_rss = sampler.await?;
    let after_upload_hwm = status_kib(pid, "VmHWM").ok_or("no VmHWM")?;

    // Diagnostic: the same upload over HTTP/1.1.
    delete_volume(&http, &base, &user.token, volume_id).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let http1 = http1_client(relay.data_dir())?;
    let t = Instant::now();
    upload(&http1, &base, &user.token, volume_id, &headers, &bytes).await?;
    let h1_upload_secs = t.elapsed().as_secs_f64();
    let after_h1_upload_hwm = status_kib(pid, "VmHWM").ok_or("no VmHWM")?;

    let t = Instant::now();
    let got = download(&http, &base, &user.token, volume_id).await?;
    let download_secs = t.elapsed().as_secs_f64();
    if got != bytes.len() as u64 {
        return Err(format!("downloaded {got} bytes of {}", bytes.len()).into());
    }
    let after_download_hwm = status_kib(pid, "VmHWM").ok_or("no VmHWM")?;
    delete_volume(&http, &base, &user.token, volume_id).await?;
    // Let the relay purge what it stored before it stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.terminate().await;
    Ok(Memory {
        pid,
        after_start_rss,
        after_start_hwm,
        upload_sampled_max_rss,
        after_upload_hwm,
        after_h1_upload_hwm,
        after_download_hwm,
        upload_secs,
        h1_upload_secs,
        download_secs,
        bytes: bytes.len() as u64,
    })
}

// ---------------------------------------------------------------------------------------------
// Driver and summary

/// Which parts to run: `PLOG_BENCH_PARTS`, a comma-separated subset of `transfer`, `rates`
/// (logins, request/reply, database), `puts` (4 KiB puts) and `memory` (default: all four).
struct Parts {
    transfer: bool,
    rates: bool,
    puts: bool,
    memory: bool,
}

impl Parts {
    fn from_env() -> Res<Self> {
        let Ok(list) = std::env::var("PLOG_BENCH_PARTS") else {
            return Ok(Self {
                transfer: true,
                rates: true,
                puts: true,
                memory: true,
            });
        };
        let mut parts = Self {
            transfer: false,
            rates: false,
            puts: false,
            memory: false,
        };
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "transfer" => parts.transfer = true,
                "rates" => parts.rates = true,
                "puts" => parts.puts = true,
                "memory" => parts.memory = true,
                other => {
                    return Err(format!(
                        "PLOG_BENCH_PARTS: unknown part {other:?} (transfer, rates, puts, memory)"
                    )
                    .into());
                }
            }
        }
        Ok(parts)
    }
}

async fn run() -> Res<()> {
    let bench_start = Instant::now();
    println!("plog relay benchmark; MB/s = 10^6 volume (ciphertext) bytes per second");
    println!("load average at start: {}", loadavg());
    let parts = Parts::from_env()?;
    if parts.memory {
        // The memory part runs the real `plog-relay` binary: build it (if needed) now, not
        // between measurements.
        let built = Instant::now();
        plog_tests::binaries::path(plog_tests::binaries::RELAY)?;
        println!(
            "plog-relay binary ready in {:.1} s",
            built.elapsed().as_secs_f64()
        );
    }
    let nats = NatsServer::start()
        .await
        .map_err(|missing| format!("{missing}"))?;
    let cpu = Cpu {
        nats_pid: find_nats_pid(&nats.store_dir()).ok_or("cannot find the nats-server process")?,
    };
    println!(
        "nats-server {} on {}; {} cores",
        nats.program().display(),
        nats.url(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    options.overrides.push((
        "limits.max_volume_bytes".into(),
        MAX_VOLUME_BYTES.to_string(),
    ));
    options
        .overrides
        .push(("limits.quota_bytes".into(), QUOTA_BYTES.to_string()));
    let relay = TestRelay::start(options).await;
    let base = relay.base_url.clone();
    let origin = relay.started.public_origin.clone();

    let http1 = http1_client(relay.data_dir())?;

    let nats_client = async_nats::connect(nats.url()).await?;
    let js = jetstream::new(nats_client.clone());
    println!("nats-server version {}", nats_client.server_info().version);
    js.get_or_create_stream(stream::Config {
        name: format!("OBJ_{RAW_BUCKET}"),
        subjects: vec![
            format!("$O.{RAW_BUCKET}.C.>"),
            format!("$O.{RAW_BUCKET}.M.>"),
        ],
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        allow_direct: true,
        ..Default::default()
    })
    .await?;
    let raw = js.get_object_store(RAW_BUCKET).await?;
    let broker = Broker::connect(
        &NatsSettings {
            prefix: DIAG_PREFIX.to_owned(),
            ..NatsSettings::with_url(nats.url())
        },
        Duration::from_secs(60),
        Duration::from_secs(3600),
    )
    .await?;
    let relay_chunk = broker.object_chunk_size();
    println!(
        "relay object chunk size {relay_chunk} B (configured 1 MiB, capped below max_payload)"
    );

    let owner = register_with(&relay.client, &base, &origin, MasterSecret::generate()?).await?;
    let transfers = if !parts.transfer {
        Vec::new()
    } else {
        bounded(
            "transfers",
            measure_transfers(&TransferSetup {
                relay: &relay,
                http1: &http1,
                owner: &owner,
                js: &js,
                raw: &raw,
                broker: &broker,
                relay_chunk,
                relay_stream: "OBJ_plog-volumes",
                cpu,
            }),
        )
        .await?
    };

    let mut rates = Vec::new();
    // 64 accounts, each with its own HTTPS client (own connection), like 64 devices.
    let mut clients = Vec::new();
    if parts.rates || parts.puts {
        for _ in 0..CLIENTS {
            let http = client_trusting(relay.data_dir());
            let user = register_with(&http, &base, &origin, MasterSecret::generate()?).await?;
            clients.push(LoginClient {
                http,
                base: base.as_str().into(),
                origin: origin.as_str().into(),
                user: Arc::new(user),
            });
        }
    }
    if parts.rates {
        rates.extend(bounded("logins", measure_logins(cpu, &clients)).await?);
        rates.extend(bounded("request/reply", measure_request_reply(cpu, &nats.url())).await?);
    }
    if parts.puts {
        let small = bounded("4 KiB puts", measure_small_puts(cpu, &relay, &clients)).await?;
        let small_len = {
            let sample = seal_volume(
                &owner,
                Uuid::new_v4(),
                "journals",
                1,
                0,
                &vec![0u8; SMALL_PLAINTEXT],
            );
            sample.bytes.len()
        };
        rates.push(small);
        rates.push(
            bounded(
                "raw 4 KiB puts",
                measure_raw_small_puts(cpu, &raw, small_len),
            )
            .await?,
        );
    }
    if parts.rates {
        rates.extend(bounded("database", measure_db(cpu)).await?);
    }

    let memory = if parts.memory {
        Some(bounded("memory", measure_memory(&nats.url(), 512 * MIB)).await?)
    } else {
        None
    };

    // ----- Summary
    println!();
    println!("## SUMMARY: volume transfer (MB = 1e6 volume bytes per second)");
    println!(
        "cores busy = CPU seconds per wall second of this process (relay and clients) + nats-server"
    );
    println!("| size | direction | path | runs | median MB/s | best MB/s | cores busy |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for p in &transfers {
        let rates = p.rates();
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {} |",
            p.size,
            p.dir,
            p.path,
            rates.len(),
            median(&rates),
            best(&rates),
            p.cpu.cores()
        );
    }

    let mut verdicts: Vec<(String, String, bool)> = Vec::new();
    println!();
    println!(
        "## SUMMARY: relay / best raw object store (medians; target >= {:.0} %)",
        TRANSFER_RATIO_TARGET * 100.0
    );
    println!("| size | direction | relay MB/s | best raw path | raw MB/s | relay / raw | target |");
    println!("|---|---|---:|---|---:|---:|---|");
    for (size, _, _) in SIZES {
        for dir in ["upload", "download"] {
            let of = |pred: &dyn Fn(&str) -> bool| {
                transfers
                    .iter()
                    .filter(|p| p.size == size && p.dir == dir && pred(&p.path))
                    .map(|p| (p.path.clone(), median(&p.rates())))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
            };
            let (Some((_, relay_rate)), Some((raw_path, raw_rate))) = (
                of(&|path| path == RELAY_H2),
                of(&|path| path.starts_with("raw ")),
            ) else {
                continue;
            };
            let ratio = relay_rate / raw_rate;
            let met = ratio >= TRANSFER_RATIO_TARGET;
            println!(
                "| {size} | {dir} | {relay_rate:.0} | {raw_path} | {raw_rate:.0} | {ratio:.2} | {} |",
                verdict(met)
            );
            verdicts.push((
                format!("{size} {dir} >= 60 % of best raw object store"),
                format!(
                    "{:.0} % ({relay_rate:.0} / {raw_rate:.0} MB/s)",
                    ratio * 100.0
                ),
                met,
            ));
        }
    }

    println!();
    println!("## SUMMARY: request rates (per second, median of {RATE_ROUNDS} rounds)");
    println!("| what | clients | median per s | best per s | cores busy | target |");
    println!("|---|---:|---:|---:|---:|---|");
    for r in &rates {
        let m = median(&r.per_sec);
        let target = if r.what.starts_with("challenge login") && r.clients == CLIENTS {
            let met = m >= LOGIN_TARGET;
            verdicts.push((
                format!("logins with {CLIENTS} clients >= {LOGIN_TARGET:.0}/s"),
                format!("{m:.0}/s"),
                met,
            ));
            format!(">= {LOGIN_TARGET:.0}: {}", verdict(met))
        } else if r.what.starts_with("4 KiB volume put") {
            let met = m >= SMALL_PUT_TARGET;
            verdicts.push((
                format!("4 KiB puts with {CLIENTS} clients >= {SMALL_PUT_TARGET:.0}/s"),
                format!("{m:.0}/s"),
                met,
            ));
            format!(">= {SMALL_PUT_TARGET:.0}: {}", verdict(met))
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {} |",
            r.what,
            r.clients,
            m,
            best(&r.per_sec),
            r.cpu.cores(),
            target
        );
    }

    if let Some(memory) = &memory {
        println!();
        println!(
            "## SUMMARY: relay process memory, {} B upload then download (KiB; pid {})",
            memory.bytes, memory.pid
        );
        println!("| stage | KiB |");
        println!("|---|---:|");
        println!(
            "| after start and login, VmRSS | {} |",
            memory.after_start_rss
        );
        println!(
            "| after start and login, VmHWM | {} |",
            memory.after_start_hwm
        );
        println!(
            "| during upload, largest sampled VmRSS | {} |",
            memory.upload_sampled_max_rss
        );
        println!(
            "| after upload (h2), VmHWM (peak so far) | {} |",
            memory.after_upload_hwm
        );
        println!(
            "| after a second upload over HTTP/1.1, VmHWM | {} |",
            memory.after_h1_upload_hwm
        );
        println!(
            "| after download (h2), VmHWM (peak so far) | {} |",
            memory.after_download_hwm
        );
        println!(
            "separate process, RUST_LOG=info: upload h2 {:.0} MB/s, upload HTTP/1.1 {:.0} MB/s, \
         download h2 {:.0} MB/s",
            mbps(memory.bytes, memory.upload_secs),
            mbps(memory.bytes, memory.h1_upload_secs),
            mbps(memory.bytes, memory.download_secs)
        );
        let rss_met = memory.after_upload_hwm < RSS_TARGET_KIB;
        verdicts.push((
            "relay peak RSS during a 512 MiB upload < 64 MiB".to_owned(),
            format!("{:.1} MiB", memory.after_upload_hwm as f64 / 1024.0),
            rss_met,
        ));
    }

    println!();
    println!("## SUMMARY: targets");
    println!("| target | measured | verdict |");
    println!("|---|---|---|");
    for (target, measured, met) in &verdicts {
        println!("| {target} | {measured} | {} |", verdict(*met));
    }
    println!();
    println!("load average at end: {}", loadavg());
    println!(
        "total bench time {:.1} s",
        bench_start.elapsed().as_secs_f64()
    );
    relay.stop().await;
    Ok(())
}
