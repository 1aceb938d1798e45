//! Friends and sharing: how fast mail reaches a recipient on another relay instance, and how
//! long granting and revoking (with key rotation) a large volume take through the daemon.
//!
//! Run with `cargo bench -p plog-tests --bench sharing`. See `docs/BENCHMARKS.md`. Needs
//! `nats-server`, `dbus-daemon` and PostgreSQL (as the tests find it: `PLOG_TEST_DATABASE_URL`,
//! the local server, or a private one).
//!
//! 1. **Delivery across instances.** Two release `plog-relay` processes of one deployment (one
//!    `nats-server`, one PostgreSQL database, one data directory and public origin) on
//!    127.0.0.1. A recipient holds `GET /v1/events` open on instance B and has registered a
//!    link token; a sender on instance A posts [`DELIVERIES`] envelopes of 1 KiB to it by that
//!    token, one at a time. Each latency runs from just before the `POST` to the arrival of
//!    the `new_mail` event on the recipient's stream. Targets: p99 < 50 ms.
//! 2. **Grant and revoke of a [`VOLUME_MIB`] MiB volume.** One release relay on SQLite, two
//!    release `plogd` on private buses (owner and friend, linked through an invite). The owner
//!    stores and syncs `members`; then [`ROUNDS`] times: `plog share grant kit members` and
//!    `plog share revoke kit members --yes`, each timed from spawning `plog` to its exit.
//!    Revoking re-encrypts the volume under a new key epoch and uploads it before answering.
//!    Target: revoke < 2 s.
//!
//! `PLOG_BENCH_DELIVERIES`, `PLOG_BENCH_VOLUME_MIB` and `PLOG_BENCH_ROUNDS` shrink a run.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plog_crypto::link::link_token_hash;
use plog_ipc_schema::LinkToken;
use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::links::LinkRequest;
use plog_ipc_schema::http::mailbox::{MailPostRequest, MailRoute};
use plog_tests::bench::{MIB, Res, block_on, env_count, loadavg, median, verdict};
use plog_tests::client::register_and_login;
use plog_tests::nats::NatsServer;
use plog_tests::people::Person;
use plog_tests::postgres;
use plog_tests::relay::client_trusting;
use plog_tests::relay_process::RelayProcess;

const DELIVERIES: usize = 500;
const VOLUME_MIB: usize = 64;
const ROUNDS: usize = 3;

const DELIVERY_P99_TARGET_MS: f64 = 50.0;
const REVOKE_TARGET_SECS: f64 = 2.0;

/// The public origin both instances are configured with.
const ORIGIN: &str = "https://relay.plog.test";

fn main() -> Res<()> {
    block_on(run())?
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn run() -> Res<()> {
    let deliveries = env_count("PLOG_BENCH_DELIVERIES", DELIVERIES)?;
    let volume_mib = env_count("PLOG_BENCH_VOLUME_MIB", VOLUME_MIB)?;
    let rounds = env_count("PLOG_BENCH_ROUNDS", ROUNDS)?;
    println!("sharing benchmark; load average before: {}", loadavg());
    delivery(deliveries).await?;
    grant_and_revoke(volume_mib, rounds).await?;
    println!("load average after: {}", loadavg());
    Ok(())
}

/// Part 1: mail posted on instance A, seen on instance B's event stream.
async fn delivery(count: usize) -> Res<()> {
    let nats = NatsServer::start()
        .await
        .map_err(|e| format!("nats-server: {e}"))?;
    let database = postgres::test_database().await?;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let env = || -> Res<Vec<(&'static str, String)>> {
        Ok(vec![
            ("PLOG_RELAY_NATS__URL", nats.url()),
            ("PLOG_RELAY_DATABASE_URL", database.url().to_owned()),
            ("PLOG_RELAY_PUBLIC_ORIGIN", ORIGIN.to_owned()),
            (
                "PLOG_RELAY_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()?),
            ),
        ])
    };
    let instance_a =
        RelayProcess::start_listening(&data_dir, &format!("127.0.0.1:{}", free_port()?), &env()?)
            .await;
    let instance_b =
        RelayProcess::start_listening(&data_dir, &format!("127.0.0.1:{}", free_port()?), &env()?)
            .await;
    let http = client_trusting(&data_dir);
    let (a, b) = (instance_a.base_url.clone(), instance_b.base_url.clone());

    let recipient = register_and_login(&http, &b, ORIGIN, AccountKind::System).await;
    let sender = register_and_login(&http, &a, ORIGIN, AccountKind::Friend).await;
    let token = [5u8; 32];
    let registered = http
        .post(format!("{b}/v1/links"))
        .bearer_auth(&recipient.token)
        .json(&LinkRequest {
            token_hash: Bytes32::new(link_token_hash(&token)),
        })
        .send()
        .await?;
    if !registered.status().is_success() {
        return Err(format!("link registration: {}", registered.status()).into());
    }
    let events = http
        .get(format!("{b}/v1/events"))
        .bearer_auth(&recipient.token)
        .send()
        .await?;
    if !events.status().is_success() {
        return Err(format!("events: {}", events.status()).into());
    }
    let mut stream = events.bytes_stream();
    let mut seen = String::new();
    // The relay's readiness comment: from here on, events are delivered.
    while !seen.contains(": ready") {
        let chunk = stream.next().await.ok_or("event stream ended")??;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen.clear();

    let envelope = vec![0x42u8; 1024];
    let mut latencies = Vec::with_capacity(count);
    for round in 0..count + 10 {
        let body = MailPostRequest {
            envelope: B64Bytes::new(envelope.clone()),
            route: MailRoute::Link {
                token: LinkToken::from_bytes(token),
            },
        };
        let started = Instant::now();
        let posted = http
            .post(format!("{a}/v1/mailbox/{}", recipient.user_id))
            .bearer_auth(&sender.token)
            .json(&body)
            .send()
            .await?;
        if posted.status().as_u16() != 202 {
            return Err(format!("post: {}", posted.status()).into());
        }
        loop {
            if let Some(end) = seen.find("\n\n") {
                let event: String = seen.drain(..end + 2).collect();
                if event.contains("event: new_mail") {
                    break;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .map_err(|_| "no event within 10 s")?
                .ok_or("event stream ended")??;
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        // The first ten warm connections and caches up.
        if round >= 10 {
            latencies.push(elapsed);
        }
        // Keep the mailbox from filling up to its limit.
        let _ = http
            .delete(format!("{b}/v1/mailbox/{}", round + 1))
            .bearer_auth(&recipient.token)
            .send()
            .await;
    }
    latencies.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    println!(
        "delivery across instances, {} posts of 1 KiB: p50 {p50:.2} ms, p99 {p99:.2} ms, \
         max {:.2} ms (target p99 < {DELIVERY_P99_TARGET_MS} ms: {})",
        latencies.len(),
        latencies.last().copied().unwrap_or(f64::NAN),
        verdict(p99 < DELIVERY_P99_TARGET_MS)
    );
    drop(stream);
    drop(instance_a);
    drop(instance_b);
    let _ = database.cleanup().await;
    Ok(())
}

/// Part 2: `plog share grant` and `plog share revoke` of a large volume.
async fn grant_and_revoke(volume_mib: usize, rounds: usize) -> Res<()> {
    let nats = NatsServer::start()
        .await
        .map_err(|e| format!("nats-server: {e}"))?;
    let dir = tempfile::tempdir()?;
    let relay = RelayProcess::start(
        &dir.path().join("data"),
        &[
            ("PLOG_RELAY_NATS__URL", nats.url()),
            (
                "PLOG_RELAY_LIMITS__MAX_VOLUME_BYTES",
                (1u64 << 30).to_string(),
            ),
            ("PLOG_RELAY_LIMITS__QUOTA_BYTES", (1u64 << 40).to_string()),
        ],
    )
    .await;
    let owner = Person::join(&relay.public_origin, &relay.pin, "--system", "crew")
        .await
        .ok_or("dbus-daemon is needed")?;
    let kit = Person::join(&relay.public_origin, &relay.pin, "--friend", "kit")
        .await
        .ok_or("dbus-daemon is needed")?;
    let invite: serde_json::Value = owner.json(&["friend", "invite"]);
    let code = invite["code"].as_str().ok_or("no code")?.to_owned();
    let _: serde_json::Value = kit.json_stdin(&["friend", "request", "-"], code.as_bytes());
    let requests: Vec<serde_json::Value> = owner.json(&["friend", "requests"]);
    let id = requests
        .first()
        .and_then(|r| r["id"].as_str())
        .ok_or("no request")?
        .to_owned();
    let _: serde_json::Value = owner.json(&["friend", "approve", &id]);

    let mut content = vec![0u8; volume_mib * MIB];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for byte in &mut content {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let _: serde_json::Value = owner.json_stdin(&["volume", "put", "members", "-"], &content);
    owner.ok(&["sync"]);

    let timed = |args: &[&str]| -> f64 {
        let started = Instant::now();
        owner.ok(args);
        started.elapsed().as_secs_f64()
    };
    let (mut grants, mut revokes) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        grants.push(timed(&["share", "grant", "kit", "members"]));
        if round == 0 {
            let seen = kit.plog(&["view", "crew", "members", "--raw"]);
            if seen.stdout != content {
                return Err("the friend does not see the granted volume".into());
            }
        }
        revokes.push(timed(&["share", "revoke", "kit", "members", "--yes"]));
    }
    let (grant, revoke) = (median(&grants), median(&revokes));
    println!(
        "{volume_mib} MiB volume, {rounds} rounds: grant median {grant:.3} s ({grants:.3?}), \
         revoke with rotation median {revoke:.3} s ({revokes:.3?}) (target < {REVOKE_TARGET_SECS} s: {})",
        verdict(revoke < REVOKE_TARGET_SECS)
    );
    Ok(())
}
