//! `plog relay …`: the relays this identity uses, and their certificate pins.

use clap::Subcommand;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog relay` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum RelayCommand {
    /// Add a relay; adopts the existing account of this identity's key there, if any.
    Add {
        /// The relay's origin, e.g. `https://relay.example:8443`.
        url: String,
        /// Approve this certificate pin without asking (as printed by `plog-relay fingerprint`).
        #[arg(long, value_name = "sha256:HEX", value_parser = parse_pin)]
        fingerprint: Option<String>,
    },
    /// Re-pin a relay whose certificate changed, after showing the old and the new pin.
    Trust {
        /// The relay's origin.
        url: String,
        /// Approve this new pin without asking.
        #[arg(long, value_name = "sha256:HEX", value_parser = parse_pin)]
        fingerprint: Option<String>,
    },
    /// Point an identity at a relay's new origin (asks first; the derived key stays the same).
    Move {
        /// The origin the identity was registered at.
        old: String,
        /// The relay's new origin.
        new: String,
    },
}

/// Checks a certificate pin: `sha256:` followed by 64 lower-case hex digits.
fn parse_pin(value: &str) -> Result<String, String> {
    let valid = value.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(
            "expected `sha256:` followed by 64 lower-case hex digits, as printed by \
             `plog-relay fingerprint`"
                .to_owned(),
        )
    }
}

pub(crate) fn run(command: &RelayCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        RelayCommand::Add { .. } => not_implemented("plog relay add"),
        RelayCommand::Trust { .. } => not_implemented("plog relay trust"),
        RelayCommand::Move { .. } => not_implemented("plog relay move"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_pin;

    #[test]
    fn pins_are_sha256_and_64_lower_case_hex_digits() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert_eq!(parse_pin(&good).as_deref(), Ok(good.as_str()));
        for bad in [
            String::new(),
            "sha256:".to_owned(),
            "0123456789abcdef".repeat(4),
            format!("sha256:{}", "0123456789ABCDEF".repeat(4)),
            format!("sha256:{}", "0123456789abcdef".repeat(4) + "0"),
            format!("sha1:{}", "0123456789abcdef".repeat(4)),
            format!("sha256:{}g", &"0123456789abcdef".repeat(4)[1..]),
        ] {
            assert!(parse_pin(&bad).is_err(), "accepted {bad:?}");
        }
    }
}
