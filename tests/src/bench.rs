//! Helpers shared by the benchmark programs: their runtime, counts from the environment,
//! summary statistics and readings from `/proc`.

use std::fmt;
use std::future::Future;
use std::num::ParseIntError;
use std::path::Path;

/// What a benchmark's steps return: any error ends the run, with its message.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Bytes in a mebibyte.
pub const MIB: usize = 1024 * 1024;

/// Runs a benchmark's `future` to completion on a multi-threaded Tokio runtime; its output,
/// or the error of building the runtime.
pub fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// A count from the environment that cannot be used.
#[derive(Debug)]
pub enum CountError {
    /// The variable's value is not a whole number.
    NotACount {
        /// The variable.
        name: String,
        /// Its value.
        text: String,
        /// Why it does not parse.
        source: ParseIntError,
    },
    /// The variable is 0, and every count must be at least 1.
    Zero {
        /// The variable.
        name: String,
    },
}

impl fmt::Display for CountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotACount { name, text, source } => {
                write!(f, "{name}={text:?} is not a count: {source}")
            }
            Self::Zero { name } => write!(f, "{name} must be at least 1"),
        }
    }
}

impl std::error::Error for CountError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NotACount { source, .. } => Some(source),
            Self::Zero { .. } => None,
        }
    }
}

/// The count in the environment variable `name` (a run made smaller, say), or `default`
/// where it is not set.
///
/// # Errors
/// If the variable is set to something other than a whole number of at least 1.
pub fn env_count(name: &str, default: usize) -> Result<usize, CountError> {
    let Ok(text) = std::env::var(name) else {
        return Ok(default);
    };
    match text.parse() {
        Ok(0) => Err(CountError::Zero {
            name: name.to_owned(),
        }),
        Ok(value) => Ok(value),
        Err(source) => Err(CountError::NotACount {
            name: name.to_owned(),
            text,
            source,
        }),
    }
}

/// The median (the mean of the middle two for an even count); NaN for no values.
#[must_use]
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Decimal megabytes (10^6 bytes) per second.
#[must_use]
pub fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// How a summary table marks a target.
#[must_use]
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// `/proc/loadavg` (1, 5 and 15 minutes): other work on the machine skews every figure.
#[must_use]
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// CPU time (user + system, all threads) of process `pid` in seconds, from `/proc/<pid>/stat`
/// (in units of USER_HZ, 100 per second on Linux); NaN if it cannot be read.
#[must_use]
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may contain spaces): state is the first, utime and
    // stime the 12th and 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The pid of a process running the program named `program_name` (the last part of its path)
/// with `path` as one of its arguments, found through `/proc`.
#[must_use]
pub fn find_pid(program_name: &str, path: &Path) -> Option<u32> {
    let wanted = path.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let mut args = cmdline.split(|&b| b == 0);
            let program = args.next()?;
            let is_it = program.rsplit(|&b| b == b'/').next() == Some(program_name.as_bytes());
            (is_it && args.any(|arg| arg == wanted)).then_some(pid)
        })
}
