//! What to do with one volume at one relay: a pure decision from the local record, the
//! relay's listing and the verified manifest, kept apart from I/O so every rule is tested.
//!
//! The rules, in order of precedence:
//! - **Rollback is refused.** A relay serving a revision older than the one it served before
//!   (`base`) is not followed, and nothing older than the verified manifest records is taken
//!   from a relay.
//! - **Nothing is overwritten silently.** When the relay moved on and this device has changes
//!   the relay has not seen, that is a conflict; the same revision with the same owner tag is
//!   the same content and simply recorded.
//! - **Revisions follow the relay's compare-and-swap**: a push sends `If-Match: base` with a
//!   volume whose header revision is `base + 1` (or `If-None-Match: *` and revision 1).
//! - **Deletions travel by tombstone**: a local tombstone is deleted at the relay with
//!   `If-Match`; a volume missing at the relay is deleted here only if the verified manifest
//!   holds its tombstone (a relay cannot delete data by hiding it).

/// The local side of one volume at one relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalSide {
    /// The local revision.
    pub(crate) revision: u64,
    /// Removed here, not yet at this relay.
    pub(crate) deleted: bool,
    /// The owner tag of the local revision.
    pub(crate) owner_tag: [u8; 32],
    /// The last revision known at this relay (`None`: never there).
    pub(crate) base: Option<u64>,
}

/// What the relay lists for one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteSide {
    /// The relay's current revision.
    pub(crate) revision: u64,
    /// The owner tag of that revision, as the relay lists it.
    pub(crate) owner_tag: Option<[u8; 32]>,
}

/// What the verified manifest says about the volume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ManifestSays {
    /// The revision the manifest records (a relay may not serve less).
    pub(crate) revision: Option<u64>,
    /// The manifest holds a tombstone for the volume.
    pub(crate) tombstoned: bool,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Already in step.
    Nothing,
    /// Upload the local revision with this precondition (`None`: create).
    Push {
        /// `If-Match`.
        if_match: Option<u64>,
    },
    /// Download the relay's revision.
    Pull,
    /// The relay holds the local revision already: record it.
    Record {
        /// The revision.
        revision: u64,
    },
    /// Delete the volume at the relay.
    Delete {
        /// `If-Match`.
        if_match: u64,
    },
    /// The relay no longer has a tombstoned volume: forget the tombstone for it.
    Forget,
    /// The volume was removed by another device (manifest tombstone): remove it here too.
    RemoveHere,
    /// Changed here and at the relay.
    Conflict {
        /// The relay's revision.
        remote: u64,
        /// Why, for people.
        reason: String,
    },
    /// Refused (rollback, impossible revision): nothing is done, the round reports it.
    Refuse {
        /// Why, for people.
        reason: String,
    },
}

/// Decides what to do with one volume at one relay.
pub(crate) fn decide(
    local: Option<&LocalSide>,
    remote: Option<&RemoteSide>,
    manifest: ManifestSays,
) -> Action {
    let action = match (local, remote) {
        (None, None) => Action::Nothing,
        (None, Some(_)) if manifest.tombstoned => Action::Nothing,
        (None, Some(_)) => Action::Pull,
        (Some(local), None) => missing_at_relay(local, manifest),
        (Some(local), Some(remote)) => both(local, remote),
    };
    // The manifest bounds what may be taken from a relay; it does not stop this device from
    // bringing a lagging relay up to date.
    if let (Action::Pull | Action::Record { .. }, Some(remote), Some(floor)) =
        (&action, remote, manifest.revision)
        && remote.revision < floor
    {
        return Action::Refuse {
            reason: format!(
                "the relay serves revision {} but the manifest records revision {floor}; a \
                 relay serving an older revision is refused",
                remote.revision
            ),
        };
    }
    action
}

fn missing_at_relay(local: &LocalSide, manifest: ManifestSays) -> Action {
    match (local.deleted, local.base) {
        (true, _) => Action::Forget,
        (false, None) if local.revision == 1 => Action::Push { if_match: None },
        (false, None) => Action::Refuse {
            reason: format!(
                "the relay has never had this volume and cannot start it at revision {}; \
                 catching up a relay that missed revisions is not supported yet",
                local.revision
            ),
        },
        (false, Some(_)) if manifest.tombstoned => Action::RemoveHere,
        (false, Some(base)) => Action::Refuse {
            reason: format!(
                "the relay no longer lists this volume (it had revision {base}) and the \
                 manifest records no deletion; the local copy is kept"
            ),
        },
    }
}

fn both(local: &LocalSide, remote: &RemoteSide) -> Action {
    let r = remote.revision;
    if let Some(base) = local.base
        && r < base
    {
        return Action::Refuse {
            reason: format!(
                "the relay serves revision {r}, older than revision {base} it served before; a \
                 rollback is refused"
            ),
        };
    }
    if local.base == Some(r) {
        if local.deleted {
            return Action::Delete { if_match: r };
        }
        return if local.revision == r {
            Action::Nothing
        } else if local.revision == r + 1 {
            Action::Push { if_match: Some(r) }
        } else {
            Action::Refuse {
                reason: format!(
                    "local revision {} cannot follow the relay's revision {r}",
                    local.revision
                ),
            }
        };
    }
    // The relay moved on (or this device never synced this volume with it).
    if !local.deleted && local.revision == r && remote.owner_tag == Some(local.owner_tag) {
        return Action::Record { revision: r };
    }
    let changed_here = local.deleted || local.revision > local.base.unwrap_or(0);
    if changed_here {
        let what = if local.deleted {
            "removed here"
        } else {
            "changed here"
        };
        Action::Conflict {
            remote: r,
            reason: format!(
                "{what} and changed at the relay (revision {r}); nothing was overwritten"
            ),
        }
    } else {
        Action::Pull
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: [u8; 32] = [7; 32];

    fn local(revision: u64, base: Option<u64>) -> LocalSide {
        LocalSide {
            revision,
            deleted: false,
            owner_tag: TAG,
            base,
        }
    }

    fn remote(revision: u64) -> RemoteSide {
        RemoteSide {
            revision,
            owner_tag: Some([9; 32]),
        }
    }

    fn none() -> ManifestSays {
        ManifestSays::default()
    }

    #[test]
    fn new_local_volume_is_created_at_the_relay() {
        assert_eq!(
            decide(Some(&local(1, None)), None, none()),
            Action::Push { if_match: None }
        );
    }

    #[test]
    fn local_change_is_pushed_on_top_of_the_relays_revision() {
        assert_eq!(
            decide(Some(&local(4, Some(3))), Some(&remote(3)), none()),
            Action::Push { if_match: Some(3) }
        );
        assert_eq!(
            decide(Some(&local(3, Some(3))), Some(&remote(3)), none()),
            Action::Nothing
        );
    }

    #[test]
    fn relay_change_is_pulled_when_nothing_changed_here() {
        assert_eq!(
            decide(Some(&local(3, Some(3))), Some(&remote(5)), none()),
            Action::Pull
        );
        assert_eq!(decide(None, Some(&remote(2)), none()), Action::Pull);
    }

    #[test]
    fn changes_on_both_sides_are_a_conflict() {
        let action = decide(Some(&local(4, Some(3))), Some(&remote(4)), none());
        assert!(
            matches!(action, Action::Conflict { remote: 4, .. }),
            "{action:?}"
        );
        let mut removed = local(3, Some(3));
        removed.deleted = true;
        let action = decide(Some(&removed), Some(&remote(5)), none());
        assert!(
            matches!(action, Action::Conflict { remote: 5, .. }),
            "{action:?}"
        );
    }

    #[test]
    fn same_revision_with_same_tag_is_recorded_not_conflicting() {
        let same = RemoteSide {
            revision: 4,
            owner_tag: Some(TAG),
        };
        assert_eq!(
            decide(Some(&local(4, Some(3))), Some(&same), none()),
            Action::Record { revision: 4 }
        );
        assert_eq!(
            decide(
                Some(&local(1, None)),
                Some(&RemoteSide {
                    revision: 1,
                    ..same
                }),
                none()
            ),
            Action::Record { revision: 1 }
        );
    }

    #[test]
    fn rollback_below_the_last_seen_revision_is_refused() {
        let action = decide(Some(&local(5, Some(5))), Some(&remote(4)), none());
        assert!(matches!(action, Action::Refuse { .. }), "{action:?}");
    }

    #[test]
    fn rollback_below_the_manifest_is_refused_even_for_a_fresh_device() {
        let says = ManifestSays {
            revision: Some(6),
            tombstoned: false,
        };
        let action = decide(None, Some(&remote(5)), says);
        assert!(matches!(action, Action::Refuse { .. }), "{action:?}");
        assert_eq!(
            decide(None, Some(&remote(6)), says),
            Action::Pull,
            "the manifest's own revision is fine"
        );
    }

    #[test]
    fn tombstones_travel_both_ways() {
        let mut removed = local(3, Some(3));
        removed.deleted = true;
        assert_eq!(
            decide(Some(&removed), Some(&remote(3)), none()),
            Action::Delete { if_match: 3 }
        );
        assert_eq!(decide(Some(&removed), None, none()), Action::Forget);
        let tombstoned = ManifestSays {
            revision: None,
            tombstoned: true,
        };
        assert_eq!(
            decide(Some(&local(3, Some(3))), None, tombstoned),
            Action::RemoveHere
        );
        assert_eq!(decide(None, Some(&remote(3)), tombstoned), Action::Nothing);
    }

    #[test]
    fn a_relay_hiding_a_volume_deletes_nothing() {
        let action = decide(Some(&local(3, Some(3))), None, none());
        assert!(matches!(action, Action::Refuse { .. }), "{action:?}");
    }

    #[test]
    fn impossible_revision_steps_are_refused() {
        let action = decide(Some(&local(6, Some(3))), Some(&remote(3)), none());
        assert!(matches!(action, Action::Refuse { .. }), "{action:?}");
        let action = decide(Some(&local(2, None)), None, none());
        assert!(matches!(action, Action::Refuse { .. }), "{action:?}");
    }
}
