//! `org.plurallog.Daemon1.Sharing`: what we share with friends, and what friends share with us.
//!
//! A `friend` or `system` argument is a friend's local id (UUID) or name. Shared content is
//! decrypted in daemon memory and handed over only through `out_fd`; plog never writes it to
//! disk.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zbus::{Fd, proxy};

use crate::dbus::DaemonError;
use crate::vtype::VolumeType;

/// The sharing interface.
#[proxy(
    interface = "org.plurallog.Daemon1.Sharing",
    default_service = "org.plurallog.Daemon1",
    default_path = "/org/plurallog/Daemon1"
)]
pub trait Sharing {
    /// Grants `friend` the volume types `vtypes`. An unverified friend receives no keys
    /// (`Unverified`) unless `allow_unverified` is set; `manifest` is never grantable
    /// (`InvalidArgument`). Returns JSON [`ShareEntry`] for that friend.
    fn grant(
        &self,
        friend: &str,
        vtypes: &[&str],
        allow_unverified: bool,
    ) -> Result<String, DaemonError>;

    /// Revokes `vtypes` (empty: everything) from `friend`: new key epoch, re-encryption, new
    /// key blocks for the remaining grantees. Returns JSON [`ShareEntry`] for that friend.
    fn revoke(&self, friend: &str, vtypes: &[&str]) -> Result<String, DaemonError>;

    /// JSON array of [`ShareEntry`]: what we share, per friend.
    fn list(&self) -> Result<String, DaemonError>;

    /// Fetches from the relays, then returns JSON array of [`IncomingShare`]: what `system`
    /// (empty: every friend) shares with us.
    fn incoming(&self, system: &str) -> Result<String, DaemonError>;

    /// Fetches the current revision of `system`'s volume `vtype`, checks our tag, decrypts it
    /// in memory and writes the plaintext to `out_fd`. Returns JSON [`SharedView`], whose
    /// `sensitive` flag tells desktop apps to keep the content out of screenshots.
    fn view(&self, system: &str, vtype: &str, out_fd: Fd<'_>) -> Result<String, DaemonError>;
}

/// The answer to `View`: what was written to the descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedView {
    /// The volume id at the relay.
    pub id: Uuid,
    /// The volume type.
    pub vtype: VolumeType,
    /// The local id of the friend (system) sharing it.
    pub system_id: Uuid,
    /// That friend's name.
    pub system: String,
    /// The revision shown.
    pub revision: u64,
    /// Plaintext bytes written.
    pub size: u64,
    /// Always true: shared content is someone else's private record. Apps showing it should
    /// block screenshots and screen sharing, and keep it out of caches and notifications.
    pub sensitive: bool,
}

/// What we share with one friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareEntry {
    /// The local friend id.
    pub id: Uuid,
    /// The friend's name.
    pub name: String,
    /// The granted types.
    pub vtypes: Vec<VolumeType>,
}

/// One volume a friend shares with us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingShare {
    /// The volume id at the relay.
    pub id: Uuid,
    /// The volume type, as a name.
    pub name: VolumeType,
    /// The local id of the friend (system) sharing it.
    pub system_id: Uuid,
    /// That friend's name.
    pub system: String,
    /// The current revision.
    pub revision: u64,
    /// When that revision was stored, unix seconds.
    pub updated_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn shapes() {
        assert_eq!(
            round_trip(&vec![ShareEntry {
                id: Uuid::from_u128(1),
                name: "bob".to_owned(),
                vtypes: vec![VolumeType::parse("front").expect("vtype")],
            }]),
            r#"[{"id":"00000000-0000-0000-0000-000000000001","name":"bob","vtypes":["front"]}]"#
        );
        assert_eq!(
            round_trip(&vec![IncomingShare {
                id: Uuid::from_u128(5),
                name: VolumeType::parse("analytics").expect("vtype"),
                system_id: Uuid::from_u128(1),
                system: "the-crew".to_owned(),
                revision: 3,
                updated_at: 4,
            }]),
            r#"[{"id":"00000000-0000-0000-0000-000000000005","name":"analytics","system_id":"00000000-0000-0000-0000-000000000001","system":"the-crew","revision":3,"updated_at":4}]"#
        );
        assert_eq!(
            round_trip(&SharedView {
                id: Uuid::from_u128(5),
                vtype: VolumeType::parse("members").expect("vtype"),
                system_id: Uuid::from_u128(1),
                system: "the-crew".to_owned(),
                revision: 3,
                size: 10,
                sensitive: true,
            }),
            r#"{"id":"00000000-0000-0000-0000-000000000005","vtype":"members","system_id":"00000000-0000-0000-0000-000000000001","system":"the-crew","revision":3,"size":10,"sensitive":true}"#
        );
    }
}
