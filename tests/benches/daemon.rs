//! What a person waits for at the command line: `plog status` (process start plus one D-Bus
//! round trip to `plogd`), and putting and syncing a large volume through the daemon to a
//! relay, beside a direct upload of the same size to the same relay.
//!
//! Run with `cargo bench -p plog-tests --bench daemon`. See `docs/BENCHMARKS.md`.
//!
//! One run starts, all on 127.0.0.1 and in temporary directories: a `nats-server -js` (the
//! harness's [`NatsServer`]), the release `plog-relay` executable on SQLite
//! ([`RelayProcess`]), a private `dbus-daemon` ([`SessionBus`]) and the release `plogd`
//! ([`Installation`]), and then measures:
//!
//! 1. `plog status`: wall time from spawning `plog` to its exit, [`STATUS_RUNS`] runs after
//!    two warm-up runs (target: median < 20 ms);
//! 2. `plog volume put journals FILE` of a [`VOLUME_MIB`] MiB file, then `plog sync` pushing it
//!    (the daemon seals while reading the pipe, and streams the sealed file to the relay), each
//!    timed from spawn to exit, [`TRANSFER_RUNS`] rounds with fresh content;
//! 3. beside it, direct uploads of a volume of the same plaintext size, sealed beforehand (not
//!    timed), with the harness's relay client ([`plog_tests::client`]) over HTTP/2, to the same
//!    relay process, [`TRANSFER_RUNS`] runs.
//!
//! The end-to-end figure is put + sync; the target is a throughput of at least 40 % of the
//! direct upload's (medians). Throughput is sealed volume bytes per second in decimal megabytes
//! (1 MB = 1,000,000 bytes). `PLOG_BENCH_VOLUME_MIB`, `PLOG_BENCH_STATUS_RUNS` and
//! `PLOG_BENCH_TRANSFER_RUNS` shrink a run (for a smoke test).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use plog_ipc_schema::http::accounts::AccountKind;
use plog_tests::bench::{
    MIB, Res, block_on, cpu_secs, env_count, find_pid, loadavg, mbps, median, verdict,
};
use plog_tests::binaries;
use plog_tests::client::{put_volume, register_and_login, seal_volume};
use plog_tests::installation::{DaemonProcess, Installation, expect_success};
use plog_tests::nats::NatsServer;
use plog_tests::relay::client_trusting;
use plog_tests::relay_process::RelayProcess;
use plog_tests::session_bus::SessionBus;
use uuid::Uuid;

/// Defaults of the sizes and counts (overridable, see the module documentation).
const VOLUME_MIB: usize = 64;
const STATUS_RUNS: usize = 50;
const TRANSFER_RUNS: usize = 3;

/// Targets.
const STATUS_TARGET_MS: f64 = 20.0;
const END_TO_END_RATIO_TARGET: f64 = 0.40;

/// Relay limits that never bind here.
const MAX_VOLUME_BYTES: u64 = 1 << 30;
const QUOTA_BYTES: u64 = 1 << 40;

fn main() -> Res<()> {
    block_on(run())?
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::min)
}

/// CPU seconds per wall second of the daemon, the relay and `nats-server` over a stage.
#[derive(Clone, Copy, Default)]
struct CpuUse {
    wall: f64,
    daemon: f64,
    relay: f64,
    nats: f64,
}

impl CpuUse {
    fn add(&mut self, other: Self) {
        self.wall += other.wall;
        self.daemon += other.daemon;
        self.relay += other.relay;
        self.nats += other.nats;
    }

    fn cores(&self) -> String {
        format!(
            "{:.2} + {:.2} + {:.2}",
            self.daemon / self.wall,
            self.relay / self.wall,
            self.nats / self.wall
        )
    }
}

#[derive(Clone, Copy)]
struct Pids {
    daemon: u32,
    relay: u32,
    nats: u32,
}

impl Pids {
    fn sample(self) -> (f64, f64, f64) {
        (
            cpu_secs(self.daemon),
            cpu_secs(self.relay),
            cpu_secs(self.nats),
        )
    }

    /// The CPU the three servers used since `before` was sampled at `t0`.
    fn used_since(self, (d0, r0, n0): (f64, f64, f64), t0: Instant) -> CpuUse {
        let wall = t0.elapsed().as_secs_f64();
        let (d1, r1, n1) = self.sample();
        CpuUse {
            wall,
            daemon: d1 - d0,
            relay: r1 - r0,
            nats: n1 - n0,
        }
    }

    /// Runs `f`, returning its output and the CPU the three servers used meanwhile.
    fn measure<T>(self, f: impl FnOnce() -> Res<T>) -> Res<(T, CpuUse)> {
        let (before, t0) = (self.sample(), Instant::now());
        let out = f()?;
        Ok((out, self.used_since(before, t0)))
    }

    async fn measure_async<T>(
        self,
        future: impl std::future::Future<Output = Res<T>>,
    ) -> Res<(T, CpuUse)> {
        let (before, t0) = (self.sample(), Instant::now());
        let out = future.await?;
        Ok((out, self.used_since(before, t0)))
    }
}

/// Bytes that do not compress: xorshift output.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `plog ARGS` as a command for `install` on `bus` (no harness thread around it, so only the
/// process itself is timed).
fn plog_command(install: &Installation, bus: &SessionBus, args: &[&str]) -> Res<Command> {
    let mut command = binaries::command(binaries::CLI)?;
    command.args(args).envs(install.env(bus));
    Ok(command)
}

/// Runs `plog ARGS`, failing unless it succeeds; returns the wall time in seconds.
fn timed_plog(install: &Installation, bus: &SessionBus, args: &[&str]) -> Res<f64> {
    let mut command = plog_command(install, bus, args)?;
    let start = Instant::now();
    let output = command.output()?;
    let secs = start.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "plog {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(secs)
}

// ---------------------------------------------------------------------------------------------
// Driver

struct Transfer {
    put_secs: Vec<f64>,
    sync_secs: Vec<f64>,
    end_to_end_secs: Vec<f64>,
    end_to_end_cpu: CpuUse,
    direct_secs: Vec<f64>,
    direct_cpu: CpuUse,
    sealed_bytes: u64,
}

async fn run() -> Res<()> {
    let bench_start = Instant::now();
    let volume_mib = env_count("PLOG_BENCH_VOLUME_MIB", VOLUME_MIB)?;
    let status_runs = env_count("PLOG_BENCH_STATUS_RUNS", STATUS_RUNS)?;
    let transfer_runs = env_count("PLOG_BENCH_TRANSFER_RUNS", TRANSFER_RUNS)?;
    println!(
        "daemon bench: {volume_mib} MiB volumes, {status_runs} status runs, {transfer_runs} \
         transfer runs; load average {}",
        loadavg()
    );

    // ----- Processes
    let bus = SessionBus::start().map_err(|e| e.to_string())?;
    let nats = NatsServer::start().await.map_err(|e| e.to_string())?;
    let relay_dir = tempfile::Builder::new()
        .prefix("plog-daemon-bench-")
        .tempdir()?;
    let relay_data = relay_dir.path().join("relay");
    let relay = RelayProcess::start(
        &relay_data,
        &[
            ("PLOG_RELAY_NATS__URL", nats.url()),
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
    let install = Installation::new("[sync]\ninterval = 0\n[lock]\nidle_timeout = 0\n");
    let daemon: DaemonProcess = install.start_daemon(&bus).await;
    let pids = Pids {
        daemon: daemon.pid(),
        relay: find_pid("plog-relay", &relay_data).ok_or("no plog-relay process found")?,
        nats: find_pid("nats-server", &nats.store_dir()).ok_or("no nats-server process found")?,
    };
    let passphrase = install.secret_file("passphrase", "daemon bench passphrase");
    let passphrase = passphrase.to_str().ok_or("non-UTF-8 path")?;
    let _ = expect_success(
        &install.plog(&bus, &["init", "--passphrase-file", passphrase]),
        "plog init",
    );
    let _ = expect_success(
        &install.plog(
            &bus,
            &[
                "relay",
                "add",
                &relay.public_origin,
                "--fingerprint",
                &relay.pin,
            ],
        ),
        "plog relay add",
    );
    let _ = expect_success(
        &install.plog(&bus, &["register", "--system"]),
        "plog register",
    );

    // ----- 1. plog status
    for _ in 0..2 {
        timed_plog(&install, &bus, &["status"])?;
    }
    let mut status_ms = Vec::with_capacity(status_runs);
    for _ in 0..status_runs {
        status_ms.push(timed_plog(&install, &bus, &["status"])? * 1e3);
    }
    println!(
        "[status] median {:.1} ms, best {:.1} ms over {status_runs} runs",
        median(&status_ms),
        min(&status_ms)
    );

    // ----- 2. put + sync through the daemon
    let files = tempfile::Builder::new()
        .prefix("plog-daemon-bench-files-")
        .tempdir()?;
    let input = files.path().join("journals.in");
    let plaintext_len = volume_mib * MIB;
    // A first small round logs the daemon in and creates the volume at the relay.
    std::fs::write(&input, b"warm-up")?;
    timed_plog(
        &install,
        &bus,
        &["volume", "put", "journals", path(&input)?],
    )?;
    timed_plog(&install, &bus, &["sync"])?;
    let mut transfer = Transfer {
        put_secs: Vec::new(),
        sync_secs: Vec::new(),
        end_to_end_secs: Vec::new(),
        end_to_end_cpu: CpuUse::default(),
        direct_secs: Vec::new(),
        direct_cpu: CpuUse::default(),
        sealed_bytes: 0,
    };
    for run in 0..transfer_runs {
        std::fs::write(&input, noise(plaintext_len, 0xbe7c + run as u64))?;
        let ((put, sync), cpu) = pids.measure(|| {
            let put = timed_plog(
                &install,
                &bus,
                &["volume", "put", "journals", path(&input)?],
            )?;
            let sync = timed_plog(&install, &bus, &["sync"])?;
            Ok((put, sync))
        })?;
        println!(
            "[end to end] run {}: put {put:.2} s, sync {sync:.2} s",
            run + 1
        );
        transfer.put_secs.push(put);
        transfer.sync_secs.push(sync);
        transfer.end_to_end_secs.push(put + sync);
        transfer.end_to_end_cpu.add(cpu);
    }
    std::fs::remove_file(&input)?;

    // ----- 3. direct uploads of the same size with the test client
    let http = client_trusting(&relay_data);
    let user = register_and_login(
        &http,
        &relay.base_url,
        &relay.public_origin,
        AccountKind::System,
    )
    .await;
    let plaintext = noise(plaintext_len, 0xd12ec7);
    for run in 0..transfer_runs {
        let volume_id = Uuid::new_v4();
        let sealed = seal_volume(&user, volume_id, "journals", 1, 0, &plaintext);
        transfer.sealed_bytes = sealed.bytes.len() as u64;
        let (status, cpu) = pids
            .measure_async(async {
                let response =
                    put_volume(&http, &relay.base_url, &user.token, volume_id, &sealed).await;
                Ok(response.status())
            })
            .await?;
        if !status.is_success() {
            return Err(format!("direct upload: {status}").into());
        }
        println!("[direct] run {}: {:.2} s", run + 1, cpu.wall);
        transfer.direct_secs.push(cpu.wall);
        transfer.direct_cpu.add(cpu);
    }

    summarise(&status_ms, &transfer, volume_mib);
    println!();
    println!("load average at end: {}", loadavg());
    println!(
        "total bench time {:.1} s",
        bench_start.elapsed().as_secs_f64()
    );
    drop(daemon);
    relay.terminate().await;
    Ok(())
}

fn path(path: &Path) -> Res<&str> {
    path.to_str().ok_or_else(|| "non-UTF-8 path".into())
}

fn summarise(status_ms: &[f64], transfer: &Transfer, volume_mib: usize) {
    let bytes = transfer.sealed_bytes;
    let end_to_end = median(&transfer.end_to_end_secs);
    let direct = median(&transfer.direct_secs);
    let ratio = direct / end_to_end;
    let status_met = median(status_ms) < STATUS_TARGET_MS;
    let ratio_met = ratio >= END_TO_END_RATIO_TARGET;
    let runs = transfer.end_to_end_secs.len();

    println!();
    println!("## SUMMARY: daemon and CLI ({volume_mib} MiB volume, {bytes} B sealed)");
    println!("cores busy = CPU seconds per wall second of plogd + plog-relay + nats-server");
    println!("| what | runs | median | best | MB/s (median) | cores busy |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| plog status (process start + D-Bus round trip) | {} | {:.1} ms | {:.1} ms | | |",
        status_ms.len(),
        median(status_ms),
        min(status_ms)
    );
    let row = |what: &str, secs: &[f64], cores: &str| {
        println!(
            "| {what} | {} | {:.2} s | {:.2} s | {:.0} | {cores} |",
            secs.len(),
            median(secs),
            min(secs),
            mbps(bytes, median(secs))
        );
    };
    row("plog volume put", &transfer.put_secs, "");
    row("plog sync (push)", &transfer.sync_secs, "");
    row(
        "put + sync, end to end",
        &transfer.end_to_end_secs,
        &transfer.end_to_end_cpu.cores(),
    );
    row(
        "direct upload, test client (HTTP/2)",
        &transfer.direct_secs,
        &transfer.direct_cpu.cores(),
    );

    println!();
    println!("## SUMMARY: targets");
    println!("| target | measured | verdict |");
    println!("|---|---|---|");
    println!(
        "| plog status median < {STATUS_TARGET_MS:.0} ms | {:.1} ms | {} |",
        median(status_ms),
        verdict(status_met)
    );
    println!(
        "| put + sync >= {:.0} % of a direct upload ({runs} runs, medians) | {:.0} % ({:.0} / {:.0} MB/s) | {} |",
        END_TO_END_RATIO_TARGET * 100.0,
        ratio * 100.0,
        mbps(bytes, end_to_end),
        mbps(bytes, direct),
        verdict(ratio_met)
    );
}
