//! What commands print on stdout: aligned tables and `key value` lines for people, exactly one
//! JSON document for `--json` (DESIGN §6.1), and the small formatting helpers both use.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::error::Error;

/// Writes `text` to stdout.
pub(crate) fn print(text: &str) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| Error::io("writing to stdout", err))
}

/// Prints a JSON document the daemon returned, as it returned it (one line, trimmed), after
/// checking that it is one JSON document.
pub(crate) fn print_daemon_json(method: &'static str, json: &str) -> Result<(), Error> {
    serde_json::from_str::<serde_json::Value>(json).map_err(|err| Error::bad_reply(method, err))?;
    print(&format!("{}\n", json.trim()))
}

/// Prints `value` as one JSON document.
pub(crate) fn print_json(value: &impl Serialize) -> Result<(), Error> {
    let json = serde_json::to_string(value)
        .map_err(|err| Error::Failed(format!("cannot encode the JSON output: {err}")))?;
    print(&format!("{json}\n"))
}

/// A table with a header row; columns are as wide as their widest cell and separated by two
/// spaces, the last column is not padded.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty, extra cells are dropped).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each ending in `\n`.
    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (cell, column_width) in row.iter().zip(widths.iter_mut()) {
                *column_width = (*column_width).max(width(cell));
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for column in 0..columns {
                let cell = row.get(column).map_or("", String::as_str);
                if column + 1 == columns {
                    line.push_str(cell);
                } else {
                    let pad = widths
                        .get(column)
                        .map_or(0, |w| w.saturating_sub(width(cell)));
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// `key value` lines with the values aligned, for single records (`plog status`).
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let key_width = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in pairs {
        let pad = key_width.saturating_sub(width(key));
        let _ = writeln!(text, "{key}{}  {value}", " ".repeat(pad));
    }
    text
}

/// Display width of a cell: one column per character (names may be Unicode; wide glyphs are
/// rare enough in these tables not to warrant a width table).
fn width(text: &str) -> usize {
    text.chars().count()
}

/// A byte count for people: `512 B`, `12.0 KiB`, `3.4 MiB`.
pub(crate) fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if count < 1024 {
        return format!("{count} B");
    }
    let mut value = count as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// A unix time as a UTC date and time to the minute: `2026-11-03 14:05 UTC`.
pub(crate) fn utc_time(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras (146,097
/// days each) starting on 0000-03-01, so that leap days fall at the end of a year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A duration in seconds for people: `45 s`, `15 min`, `2 h`, `1 h 30 min`.
pub(crate) fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 if secs.is_multiple_of(60) => format!("{} min", secs / 60),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ if secs.is_multiple_of(3600) => format!("{} h", secs / 3600),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(&["TYPE", "REVISION", "SYNC"]);
        table.row(vec!["members".into(), "12".into(), "synced".into()]);
        table.row(vec!["front".into(), "3".into(), String::new()]);
        table.row(vec!["ü".into()]);
        assert_eq!(
            table.render(),
            "TYPE     REVISION  SYNC\n\
             members  12        synced\n\
             front    3\n\
             ü\n"
        );
        assert_eq!(Table::new(&["ID", "NAME"]).render(), "ID  NAME\n");
    }

    #[test]
    fn fields_align_values() {
        assert_eq!(
            fields(&[("keys", "locked".into()), ("last sync", "never".into())]),
            "keys       locked\nlast sync  never\n"
        );
    }

    #[test]
    fn byte_counts() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(12 * 1024 + 512), "12.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_time(951_868_799), "2000-02-29 23:59 UTC");
        assert_eq!(utc_time(1_709_251_199), "2024-02-29 23:59 UTC");
        assert_eq!(utc_time(1_798_761_599), "2026-12-31 23:59 UTC");
        assert_eq!(utc_time(4_107_542_400), "2100-03-01 00:00 UTC");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(900), "15 min");
        assert_eq!(duration(90), "1 min 30 s");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(5400), "1 h 30 min");
    }
}
