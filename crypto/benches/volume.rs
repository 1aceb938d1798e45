//! Throughput and peak memory of the streaming volume format.
//!
//! Run with `cargo bench -p plog-crypto --bench volume`. Throughput is plaintext bytes per
//! second in decimal megabytes (1 MB = 1,000,000 bytes). See `docs/BENCHMARKS.md`.
//!
//! The memory part re-executes this binary as `volume --memory-probe seal` and
//! `volume --memory-probe open PATH` (PATH: a volume this process sealed into the temporary
//! directory, deleted afterwards), so each probe starts from a clean process and its `VmHWM`
//! (peak resident set) reflects only the streaming path.

use orion::hazardous::aead::streaming::{self, StreamTag, StreamXChaCha20Poly1305};
use orion::hazardous::aead::xchacha20poly1305::{self as xchacha, XChaCha20Poly1305};
use orion::hazardous::hash::blake2::blake2b::Blake2b;
use plog_crypto::padding::padded_len;
use plog_crypto::volume::{
    CHUNK_LEN, CHUNK_OVERHEAD, SEALED_CHUNK_LEN, VolumeHeader, VolumeKey, VolumeOpener,
    VolumeSealer, VolumeType, open_stream, seal_stream, seal_stream_pipelined, seal_to_vec,
};
use std::error::Error;
use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn Error>>;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Size of the volume streamed by the memory probes.
const PROBE_LEN: u64 = 512 * MIB as u64;
/// Peak resident set the streaming path must stay under for a 512 MiB volume.
const MEMORY_TARGET_KIB: u64 = 16 * 1024;
/// Streaming throughput must reach this fraction of orion's one-shot AEAD.
const RATIO_TARGET: f64 = 0.85;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench` (and possibly a filter); only `--memory-probe` matters.
    if let Some(i) = args.iter().position(|a| a == "--memory-probe") {
        let mode = args.get(i + 1).ok_or("--memory-probe needs seal or open")?;
        return memory_probe(mode, args.get(i + 2));
    }
    run_all()
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn vek() -> VolumeKey {
    VolumeKey::from_bytes([0x42; 32])
}

fn header() -> Res<VolumeHeader> {
    Ok(VolumeHeader {
        volume_id: [0x11; 16],
        vtype: VolumeType::new("journals")?,
        revision: 1,
        key_epoch: 0,
    })
}

/// The byte at offset `i` of every generated plaintext.
fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(pattern_byte).collect()
}

/// Hands the output to an imaginary sink and empties it, as a daemon writing to a socket does.
fn drain(out: &mut Vec<u8>) {
    black_box(out.as_slice());
    out.clear();
}

// ---------------------------------------------------------------------------------------------
// Throughput

/// One measured operation over a plaintext of a given size.
struct Case<'a> {
    op: &'static str,
    path: &'static str,
    run: Box<dyn FnMut() -> Res<()> + 'a>,
    times: Vec<Duration>,
}

impl<'a> Case<'a> {
    fn new(op: &'static str, path: &'static str, run: impl FnMut() -> Res<()> + 'a) -> Self {
        Self {
            op,
            path,
            run: Box::new(run),
            times: Vec::new(),
        }
    }
}

/// Figures for one case, per operation.
struct Row {
    size: &'static str,
    op: &'static str,
    path: &'static str,
    bytes: usize,
    median: Duration,
    min: Duration,
    /// Per-sample times, in round order (sample `k` of every case ran in the same round).
    times: Vec<Duration>,
}

impl Row {
    fn mbps(&self, t: Duration) -> f64 {
        self.bytes as f64 / t.as_secs_f64() / 1e6
    }
    fn median_mbps(&self) -> f64 {
        self.mbps(self.median)
    }
}

fn median_f64(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Streams `plaintext` through a [`VolumeSealer`] in `piece`-byte updates.
fn stream_seal(vek: &VolumeKey, header: &VolumeHeader, plaintext: &[u8], piece: usize) -> Res<()> {
    let mut out = Vec::with_capacity(2 * SEALED_CHUNK_LEN);
    let mut sealer = VolumeSealer::start(vek, header, plaintext.len() as u64, &mut out)?;
    drain(&mut out);
    for p in plaintext.chunks(piece) {
        sealer.update(p, &mut out)?;
        drain(&mut out);
    }
    black_box(sealer.finish(&mut out)?);
    drain(&mut out);
    Ok(())
}

/// Streams `volume` through a [`VolumeOpener`] in `piece`-byte updates.
fn stream_open(vek: &VolumeKey, header: &VolumeHeader, volume: &[u8], piece: usize) -> Res<()> {
    let mut out = Vec::with_capacity(2 * SEALED_CHUNK_LEN);
    let mut opener = VolumeOpener::new(vek, header.clone())?;
    for p in volume.chunks(piece) {
        opener.update(p, &mut out)?;
        drain(&mut out);
    }
    black_box(opener.finish(&mut out)?);
    drain(&mut out);
    Ok(())
}

/// Measures every path on a `len`-byte plaintext; `samples` rounds of `reps` operations each,
/// interleaved across cases so that noise on the shared machine hits all of them alike.
fn measure_size(size: &'static str, len: usize, samples: usize, reps: usize) -> Res<Vec<Row>> {
    let vek = vek();
    let header = header()?;
    let plaintext = pattern(len);
    let (volume, _) = seal_to_vec(&vek, &header, &plaintext)?;

    // orion one-shot XChaCha20-Poly1305 with an AD the size of a volume header's.
    let key = xchacha::SecretKey::try_from(&vek.expose()[..])?;
    let nonce = xchacha::Nonce::from([7u8; 24]);
    let ad = [0x5a_u8; 90];
    let mut raw_ct = vec![0u8; len + 16];
    XChaCha20Poly1305::seal(&key, &nonce, &plaintext, Some(&ad), &mut raw_ct)?;
    let mut raw_seal_dst = vec![0u8; len + 16];
    let mut raw_open_dst = vec![0u8; len];

    // orion's streaming primitive alone (64 KiB chunks, no padding, no digest), for diagnosis.
    let skey = streaming::SecretKey::try_from(&vek.expose()[..])?;
    let snonce = streaming::Nonce::from([9u8; 24]);
    let chunked_len = len + len.div_ceil(CHUNK_LEN) * CHUNK_OVERHEAD;
    let mut chunked = vec![0u8; chunked_len];
    // With `hash`, the sealed chunks also go through BLAKE2b-256, as the volume digest does.
    let chunk_seal = |dst: &mut [u8], hash: bool| -> Res<()> {
        let mut s = StreamXChaCha20Poly1305::new(&skey, &snonce);
        let mut h = Blake2b::new(32)?;
        let n = plaintext.len().div_ceil(CHUNK_LEN);
        for (i, (p, d)) in plaintext
            .chunks(CHUNK_LEN)
            .zip(dst.chunks_mut(SEALED_CHUNK_LEN))
            .enumerate()
        {
            let tag = if i + 1 == n {
                StreamTag::Finish
            } else {
                StreamTag::Message
            };
            s.seal_chunk(p, None, d, &tag)?;
            if hash {
                h.update(d)?;
            }
        }
        black_box(h.finalize()?);
        Ok(())
    };
    chunk_seal(&mut chunked, false)?;
    let mut chunk_seal_dst = vec![0u8; chunked_len];
    let mut chunk_seal_dst2 = vec![0u8; chunked_len];
    let mut chunk_open_dst = vec![0u8; CHUNK_LEN];
    let mut chunk_open_dst2 = vec![0u8; CHUNK_LEN];
    let chunked = &chunked;
    let chunk_open = |dst: &mut [u8], hash: bool| -> Res<()> {
        let mut s = StreamXChaCha20Poly1305::new(&skey, &snonce);
        let mut h = Blake2b::new(32)?;
        for c in chunked.chunks(SEALED_CHUNK_LEN) {
            if hash {
                h.update(c)?;
            }
            black_box(s.open_chunk(c, None, dst)?);
            black_box(&*dst);
        }
        black_box(h.finalize()?);
        Ok(())
    };

    let (vek, header, plaintext, volume) = (&vek, &header, &plaintext, &volume);
    let (key, nonce, ad, raw_ct) = (&key, &nonce, &ad, &raw_ct);
    let mut cases = vec![
        Case::new("seal", "raw one-shot", move || {
            XChaCha20Poly1305::seal(key, nonce, plaintext, Some(ad), &mut raw_seal_dst)?;
            black_box(&raw_seal_dst);
            Ok(())
        }),
        Case::new("seal", "stream 64KiB", move || {
            stream_seal(vek, header, plaintext, 64 * KIB)
        }),
        Case::new("seal", "stream 1MiB", move || {
            stream_seal(vek, header, plaintext, MIB)
        }),
        Case::new("seal", "seal_stream io", move || {
            let out = seal_stream(
                vek,
                header,
                plaintext.len() as u64,
                &plaintext[..],
                io::sink(),
            )?;
            black_box(out);
            Ok(())
        }),
        Case::new("seal", "seal_stream_pipelined io", move || {
            let out = seal_stream_pipelined(
                vek,
                header,
                plaintext.len() as u64,
                &plaintext[..],
                io::sink(),
            )?;
            black_box(out);
            Ok(())
        }),
        Case::new("seal", "diag orion chunks", move || {
            chunk_seal(&mut chunk_seal_dst, false)?;
            black_box(&chunk_seal_dst);
            Ok(())
        }),
        Case::new("seal", "diag chunks+blake2b", move || {
            chunk_seal(&mut chunk_seal_dst2, true)?;
            black_box(&chunk_seal_dst2);
            Ok(())
        }),
        Case::new("open", "raw one-shot", move || {
            XChaCha20Poly1305::open(key, nonce, raw_ct, Some(ad), &mut raw_open_dst)?;
            black_box(&raw_open_dst);
            Ok(())
        }),
        Case::new("open", "stream 64KiB", move || {
            stream_open(vek, header, volume, 64 * KIB)
        }),
        Case::new("open", "stream 1MiB", move || {
            stream_open(vek, header, volume, MIB)
        }),
        Case::new("open", "open_stream io", move || {
            let out = open_stream(vek, header.clone(), &volume[..], io::sink())?;
            black_box(out);
            Ok(())
        }),
        Case::new("open", "diag orion chunks", move || {
            chunk_open(&mut chunk_open_dst, false)
        }),
        Case::new("open", "diag chunks+blake2b", move || {
            chunk_open(&mut chunk_open_dst2, true)
        }),
        Case::new("hash", "diag blake2b-256", move || {
            let mut h = Blake2b::new(32)?;
            for c in plaintext.chunks(SEALED_CHUNK_LEN) {
                h.update(c)?;
            }
            black_box(h.finalize()?);
            Ok(())
        }),
    ];

    // Warm-up: one untimed round (caches, page faults on the destination buffers).
    for case in &mut cases {
        (case.run)()?;
    }
    for _ in 0..samples {
        for case in &mut cases {
            let start = Instant::now();
            for _ in 0..reps {
                (case.run)()?;
            }
            case.times.push(start.elapsed() / reps as u32);
        }
    }

    let rows: Vec<Row> = cases
        .iter()
        .map(|c| Row {
            size,
            op: c.op,
            path: c.path,
            bytes: len,
            median: median(&c.times),
            min: c.times.iter().copied().min().unwrap_or_default(),
            times: c.times.clone(),
        })
        .collect();
    for r in &rows {
        println!(
            "{:>7} {:<4} {:<18} median {:>9.3} ms {:>7.1} MB/s   min {:>9.3} ms {:>7.1} MB/s",
            r.size,
            r.op,
            r.path,
            r.median.as_secs_f64() * 1e3,
            r.median_mbps(),
            r.min.as_secs_f64() * 1e3,
            r.mbps(r.min),
        );
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Memory

/// Produces `remaining` pattern bytes without holding them.
struct PatternReader {
    pos: u64,
    remaining: u64,
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.remaining) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern_byte(self.pos + i as u64);
        }
        self.pos += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Counts what is written and, if asked, checks it is the pattern plaintext.
struct CheckingSink {
    written: u64,
    /// Largest single `write` call: what the streaming path had to hold at once.
    largest_write: usize,
    check: bool,
    mismatch: bool,
}

impl Write for CheckingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.check {
            let base = self.written;
            self.mismatch |= buf
                .iter()
                .enumerate()
                .any(|(i, &b)| b != pattern_byte(base + i as u64));
        }
        black_box(buf);
        self.written += buf.len() as u64;
        self.largest_write = self.largest_write.max(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmRSS`), if the system has one.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Size of the probe volume: `PROBE_LEN`, or `PLOG_BENCH_PROBE_MIB` MiB to see how the peak
/// scales with the volume.
fn probe_len() -> Res<u64> {
    match std::env::var("PLOG_BENCH_PROBE_MIB") {
        Ok(mib) => Ok(mib.parse::<u64>()? * MIB as u64),
        Err(_) => Ok(PROBE_LEN),
    }
}

/// Child process: streams a volume and prints one `probe` line of `key=value` pairs. `seal`
/// seals generated plaintext into a sink; `open PATH` opens the sealed volume at `PATH` and
/// checks the plaintext.
fn memory_probe(mode: &str, path: Option<&String>) -> Res<()> {
    let baseline = status_kib("VmHWM").ok_or("no VmHWM in /proc/self/status")?;
    let len = probe_len()?;
    let vek = vek();
    let header = header()?;
    let start = Instant::now();
    let (written, largest_write) = match mode {
        "seal" => {
            let reader = PatternReader {
                pos: 0,
                remaining: len,
            };
            let mut sink = CheckingSink {
                written: 0,
                largest_write: 0,
                check: false,
                mismatch: false,
            };
            seal_stream(&vek, &header, len, reader, &mut sink)?;
            (sink.written, sink.largest_write)
        }
        "open" => {
            let path = path.ok_or("--memory-probe open needs the path of a sealed volume")?;
            let reader = BufReader::new(File::open(path)?);
            let mut sink = CheckingSink {
                written: 0,
                largest_write: 0,
                check: true,
                mismatch: false,
            };
            open_stream(&vek, header, reader, &mut sink)?;
            if sink.mismatch || sink.written != len {
                return Err("opened plaintext differs from the sealed one".into());
            }
            (sink.written, sink.largest_write)
        }
        other => return Err(format!("unknown probe mode {other:?}").into()),
    };
    let secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM").ok_or("no VmHWM in /proc/self/status")?;
    println!(
        "probe mode={mode} plaintext_bytes={len} output_bytes={written} \
         largest_write_bytes={largest_write} \
         baseline_kib={baseline} peak_kib={peak} growth_kib={} secs={secs:.3}",
        peak.saturating_sub(baseline)
    );
    Ok(())
}

/// A sealed probe volume in the temporary directory, deleted when dropped.
struct TempVolume(PathBuf);

impl TempVolume {
    /// Seals `len` pattern bytes into a new temporary file (in this process, not the probe's).
    fn create(len: u64) -> Res<Self> {
        let path =
            std::env::temp_dir().join(format!("plog-volume-bench-{}.vol", std::process::id()));
        let temp = Self(path);
        let mut writer = BufWriter::new(File::create(&temp.0)?);
        let reader = PatternReader {
            pos: 0,
            remaining: len,
        };
        seal_stream(&vek(), &header()?, len, reader, &mut writer)?;
        writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok(temp)
    }
}

impl Drop for TempVolume {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temporary directory is harmless.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Figures reported by one probe child.
struct Probe {
    mode: &'static str,
    plaintext_bytes: u64,
    baseline_kib: u64,
    peak_kib: u64,
    growth_kib: u64,
    secs: f64,
}

fn run_probe(mode: &'static str, path: Option<&Path>) -> Res<Probe> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--memory-probe", mode]);
    if let Some(path) = path {
        command.arg(path);
    }
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "memory probe {mode} failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("probe "))
        .ok_or("memory probe printed no result")?;
    println!("{line}");
    let field = |name: &str| -> Res<&str> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("probe output lacks {name}").into())
    };
    Ok(Probe {
        mode,
        plaintext_bytes: field("plaintext_bytes")?.parse()?,
        baseline_kib: field("baseline_kib")?.parse()?,
        peak_kib: field("peak_kib")?.parse()?,
        growth_kib: field("growth_kib")?.parse()?,
        secs: field("secs")?.parse()?,
    })
}

// ---------------------------------------------------------------------------------------------
// Driver and summary

fn run_all() -> Res<()> {
    let started = Instant::now();
    println!("plog-crypto volume benchmark; MB/s = 10^6 plaintext bytes per second");
    println!("1 MiB: median of 7 samples of 16 operations; 64 MiB: median of 5 single operations");
    let mut rows = measure_size("1MiB", MIB, 7, 16)?;
    rows.extend(measure_size("64MiB", 64 * MIB, 5, 1)?);
    println!(
        "memory probes (child processes, {} MiB volume):",
        probe_len()? / MIB as u64
    );
    let seal = run_probe("seal", None)?;
    let open = {
        let volume = TempVolume::create(probe_len()?)?;
        run_probe("open", Some(&volume.0))?
    };
    let probes = [seal, open];

    println!();
    println!("## SUMMARY: throughput (MB = 1e6 bytes of plaintext per second)");
    println!("| size | op | path | median ms | min ms | median MB/s | best MB/s |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.1} | {:.1} |",
            r.size,
            r.op,
            r.path,
            r.median.as_secs_f64() * 1e3,
            r.min.as_secs_f64() * 1e3,
            r.median_mbps(),
            r.mbps(r.min),
        );
    }

    println!();
    println!(
        "## SUMMARY: streaming / raw one-shot throughput (target >= {RATIO_TARGET:.2}, judged on \
         the paired ratio)"
    );
    println!("paired = median over rounds of raw time / streaming time in the same round;");
    println!("per padded byte = paired x padded length / plaintext length (PADME padding work)");
    println!("| size | op | path | ratio of medians | paired ratio | per padded byte | target |");
    println!("|---|---|---|---:|---:|---:|---|");
    for size in ["1MiB", "64MiB"] {
        for op in ["seal", "open"] {
            let find = |path: &str| {
                rows.iter()
                    .find(|r| r.size == size && r.op == op && r.path == path)
            };
            let Some(raw) = find("raw one-shot") else {
                continue;
            };
            let io_path = if op == "seal" {
                "seal_stream io"
            } else {
                "open_stream io"
            };
            let padded = padded_len(raw.bytes as u64).ok_or("plaintext too large")?;
            let padding_factor = padded as f64 / raw.bytes as f64;
            for path in ["stream 64KiB", "stream 1MiB", io_path] {
                let Some(s) = find(path) else { continue };
                let of_medians = s.median_mbps() / raw.median_mbps();
                let per_round: Vec<f64> = raw
                    .times
                    .iter()
                    .zip(&s.times)
                    .map(|(r, t)| r.as_secs_f64() / t.as_secs_f64())
                    .collect();
                let paired = median_f64(&per_round);
                let verdict = if paired >= RATIO_TARGET {
                    "met"
                } else {
                    "MISSED"
                };
                println!(
                    "| {size} | {op} | {path} | {of_medians:.3} | {paired:.3} | {:.3} | {verdict} |",
                    paired * padding_factor
                );
            }
        }
    }

    println!();
    println!(
        "## SUMMARY: peak memory, {} MiB volume (VmHWM; target peak < {} MiB)",
        probe_len()? / MIB as u64,
        MEMORY_TARGET_KIB / 1024
    );
    println!("| probe | baseline KiB | peak KiB | growth KiB | secs | MB/s | target |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for p in &probes {
        let verdict = if p.peak_kib < MEMORY_TARGET_KIB {
            "met"
        } else {
            "MISSED"
        };
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.1} | {} |",
            p.mode,
            p.baseline_kib,
            p.peak_kib,
            p.growth_kib,
            p.secs,
            p.plaintext_bytes as f64 / p.secs / 1e6,
            verdict
        );
    }
    println!();
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
