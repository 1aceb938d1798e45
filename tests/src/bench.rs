//! Helpers shared by the benchmark programs: summary statistics and readings from `/proc`.

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
