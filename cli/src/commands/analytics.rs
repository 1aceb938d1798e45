//! `plog analytics`: summaries of fronting over time.

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog analytics`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct AnalyticsArgs {
    /// Only the time since WHEN (a date, a time or a duration such as `30d`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

pub(crate) fn run(_args: &AnalyticsArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog analytics")
}
