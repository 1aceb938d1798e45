//! The admin listener's statistics (`GET /admin/v1/stats`, bearer token from
//! `<data-dir>/admin.token`), printed as-is by `plog-relay admin stats --json` (DESIGN §6.1).
//!
//! Only counts: the admin tools never show link pairs or anything that reads content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vtype::VolumeType;

/// Volume counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeCounts {
    /// All volumes.
    pub total: u64,
    /// Volumes per type.
    pub by_type: BTreeMap<VolumeType, u64>,
}

/// Account counts per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCounts {
    /// Accounts of kind `system`.
    pub system: u64,
    /// Accounts of kind `friend`.
    pub friend: u64,
}

/// The body of `GET /admin/v1/stats`. More fields may be added; readers ignore unknown ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminStats {
    /// Volume counts.
    pub volumes: VolumeCounts,
    /// Account counts.
    pub accounts: AccountCounts,
    /// Storage used in total (volumes and metadata), in bytes.
    pub storage_bytes: u64,
    /// Number of registered link tokens.
    pub friend_links: u64,
    /// Number of grants.
    pub grants: u64,
    /// Number of live sessions.
    pub sessions: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn design_shape() {
        let stats = AdminStats {
            volumes: VolumeCounts {
                total: 3,
                by_type: [
                    (VolumeType::parse("front").expect("vtype"), 1),
                    (VolumeType::parse("members").expect("vtype"), 2),
                ]
                .into_iter()
                .collect(),
            },
            accounts: AccountCounts {
                system: 2,
                friend: 1,
            },
            storage_bytes: 12288,
            friend_links: 2,
            grants: 1,
            sessions: 3,
        };
        assert_eq!(
            round_trip(&stats),
            r#"{"volumes":{"total":3,"by_type":{"front":1,"members":2}},"accounts":{"system":2,"friend":1},"storage_bytes":12288,"friend_links":2,"grants":1,"sessions":3}"#
        );
    }
}
