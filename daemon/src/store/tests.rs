use std::sync::Arc;

use plog_crypto::master::MasterSecret;
use plog_crypto::volume::{
    VolumeHeader, VolumeKey, VolumeType as HeaderType, owner_tag, seal_to_vec,
};
use plog_ipc_schema::dbus::volumes::SyncState;
use plog_ipc_schema::{CertPin, VolumeType};
use uuid::Uuid;

use super::*;
use crate::custody::UnlockedKeys;
use crate::paths::Paths;

struct Fixture {
    _dir: tempfile::TempDir,
    paths: Paths,
    store: Store,
    keys: Arc<UnlockedKeys>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths::under(dir.path());
    paths.create_dirs().expect("dirs");
    let store = Store::open(&paths.store_db(), &paths.volumes_dir())
        .await
        .expect("open");
    let keys = Arc::new(UnlockedKeys::new(MasterSecret::from_bytes([7; 32])).expect("keys"));
    Fixture {
        _dir: dir,
        paths,
        store,
        keys,
    }
}

fn vtype(name: &str) -> VolumeType {
    VolumeType::parse(name).expect("vtype")
}

fn relay(origin: &str) -> NewRelay {
    NewRelay {
        origin: origin.to_owned(),
        pin: CertPin::from_digest([3; 32]),
        name: Some("home".to_owned()),
        account: None,
    }
}

/// Puts `data` through the real put path (a regular file as input).
async fn put(f: &Fixture, name: &str, data: &[u8]) -> VolumeRecord {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("input");
    std::fs::write(&path, data).expect("write");
    let input = std::fs::File::open(&path).expect("open");
    crate::volumes::put(&f.store, Arc::clone(&f.keys), &vtype(name), input)
        .await
        .expect("put")
}

fn volume_files(f: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(f.paths.volumes_dir())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A revision sealed by `keys`' owner, as a relay would serve it.
fn sealed_revision(
    keys: &UnlockedKeys,
    id: Uuid,
    name: &str,
    revision: u64,
    key_epoch: u64,
    plaintext: &[u8],
) -> (IncomingRevision, Vec<u8>) {
    let vek = VolumeKey::generate().expect("vek");
    let header = VolumeHeader {
        volume_id: *id.as_bytes(),
        vtype: HeaderType::new(name).expect("type"),
        revision,
        key_epoch,
    };
    let (sealed, digest) = seal_to_vec(&vek, &header, plaintext).expect("seal");
    let header_len = 8 + 1 + 16 + 1 + name.len() + 8 + 8 + 24;
    let tag = owner_tag(keys.owner().tag_key(), &sealed[..header_len], &digest).expect("tag");
    let owner_key = keys
        .owner()
        .wrap(id.as_bytes(), key_epoch, &vek)
        .expect("wrap");
    (
        IncomingRevision {
            id,
            vtype: vtype(name),
            revision,
            key_epoch,
            owner_key,
            owner_tag: tag,
            max_len: sealed.len() as u64,
        },
        sealed,
    )
}

#[tokio::test]
async fn local_revisions_count_up_and_mark_every_relay_pending() {
    let f = fixture().await;
    let first = put(&f, "journals", b"day one").await;
    assert_eq!(
        (first.revision, first.key_epoch, first.plaintext_size),
        (1, 1, 7)
    );
    let statuses = f.store.volume_statuses().await.expect("statuses");
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].overall(), SyncState::Pending, "no relay yet");

    f.store
        .add_relay(relay("https://a.example"))
        .await
        .expect("relay a");
    f.store
        .add_relay(relay("https://b.example"))
        .await
        .expect("relay b");
    let status = &f.store.volume_statuses().await.expect("statuses")[0];
    assert_eq!(status.relays.len(), 2);
    assert!(
        status
            .relays
            .iter()
            .all(|r| r.state == SyncState::Pending && r.remote_revision.is_none())
    );

    f.store
        .mark_pushed(first.id, "https://a.example", 1)
        .await
        .expect("pushed a");
    f.store
        .mark_pushed(first.id, "https://b.example", 1)
        .await
        .expect("pushed b");
    let status = &f.store.volume_statuses().await.expect("statuses")[0];
    assert_eq!(status.overall(), SyncState::Synced);

    let second = put(&f, "journals", b"day two").await;
    assert_eq!(
        (second.id, second.revision, second.key_epoch),
        (first.id, 2, 1)
    );
    assert_eq!(second.owner_key.len(), plog_crypto::volume::WRAPPED_KEY_LEN);
    let status = &f.store.volume_statuses().await.expect("statuses")[0];
    assert_eq!(status.overall(), SyncState::Pending);
    assert!(
        status.relays.iter().all(|r| r.remote_revision == Some(1)),
        "If-Match base kept"
    );

    // Pushing an older revision than the local one leaves it pending, with the new base.
    f.store
        .mark_conflict(first.id, "https://b.example", 5, "someone else wrote")
        .await
        .expect("conflict");
    let status = &f.store.volume_statuses().await.expect("statuses")[0];
    assert_eq!(status.overall(), SyncState::Conflict);
    assert_eq!(volume_files(&f).len(), 1, "the replaced file is gone");
}

#[tokio::test]
async fn a_stale_base_is_a_conflict_and_leaves_no_file_behind() {
    let f = fixture().await;
    let record = put(&f, "front", b"a").await;
    let mut staged = f.store.stage().expect("stage");
    std::io::Write::write_all(&mut staged, b"not really a volume").expect("write");
    let stale = NewRevision {
        id: record.id,
        vtype: vtype("front"),
        revision: 1,
        key_epoch: 1,
        plaintext_size: 1,
        digest: [0; 32],
        owner_key: record.owner_key,
        owner_tag: [0; 32],
    };
    let err = f
        .store
        .commit_local(staged, stale, None)
        .await
        .expect_err("stale base");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(volume_files(&f), vec![record.file_name.clone()]);
    // A staged file that is dropped unpublished leaves nothing either.
    drop(f.store.stage().expect("stage"));
    assert_eq!(volume_files(&f), vec![record.file_name]);
}

#[tokio::test]
async fn crash_leftovers_are_swept_at_open() {
    let f = fixture().await;
    let record = put(&f, "members", b"alice").await;
    let dir = f.paths.volumes_dir();
    std::fs::write(dir.join(".tmp-half-written"), b"partial").expect("temp");
    std::fs::write(
        dir.join(format!("{}-2-deadbeef0000.vol", record.id)),
        b"uncommitted",
    )
    .expect("orphan");
    f.store.close().await;
    let store = Store::open(&f.paths.store_db(), &dir)
        .await
        .expect("reopen");
    assert_eq!(volume_files(&f), vec![record.file_name.clone()]);
    let reopened = store
        .volume_by_type(&vtype("members"))
        .await
        .expect("read")
        .expect("still there");
    assert_eq!(reopened, record);
    store
        .open_verified_blocking(&reopened, f.keys.owner().tag_key())
        .expect("intact");
}

#[tokio::test]
async fn tampering_is_detected_on_read() {
    let f = fixture().await;
    let record = put(&f, "polls", &[42u8; 100_000]).await;
    let path = f.paths.volumes_dir().join(&record.file_name);
    let original = std::fs::read(&path).expect("read");
    let check = || {
        f.store
            .open_verified_blocking(&record, f.keys.owner().tag_key())
            .expect_err("tampered")
            .to_string()
    };

    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 1;
    std::fs::write(&path, &flipped).expect("write");
    assert!(check().contains("digest does not match"), "{}", check());

    std::fs::write(&path, &original[..original.len() - 1]).expect("write");
    assert!(check().contains("bytes"), "{}", check());

    std::fs::remove_file(&path).expect("remove");
    assert!(check().contains("cannot be opened"), "{}", check());

    // A row edited to point at another (valid) volume's file: header and tag give it away.
    std::fs::write(&path, &original).expect("restore");
    let other = put(&f, "front", &[42u8; 100_000]).await;
    let mut swapped = record.clone();
    swapped.file_name = other.file_name.clone();
    swapped.sealed_len = other.sealed_len;
    swapped.digest = other.digest;
    let err = f
        .store
        .open_verified_blocking(&swapped, f.keys.owner().tag_key())
        .expect_err("swapped");
    assert!(err.to_string().contains("header"), "{err}");

    // Another identity's tag key does not verify.
    let stranger = UnlockedKeys::new(MasterSecret::from_bytes([8; 32])).expect("keys");
    let err = f
        .store
        .open_verified_blocking(&record, stranger.owner().tag_key())
        .expect_err("foreign key");
    assert!(err.to_string().contains("owner tag"), "{err}");
    f.store
        .open_verified_blocking(&record, f.keys.owner().tag_key())
        .expect("the original is fine");
}

#[tokio::test]
async fn downloads_install_atomically_and_regressions_are_refused() {
    let f = fixture().await;
    let origin = "https://a.example";
    f.store.add_relay(relay(origin)).await.expect("relay");
    let id = Uuid::new_v4();

    let (incoming, sealed) = sealed_revision(&f.keys, id, "front", 3, 2, b"from elsewhere");
    let installed = f
        .store
        .install_download(
            origin,
            incoming.clone(),
            &sealed[..],
            None,
            Arc::clone(&f.keys),
        )
        .await
        .expect("install");
    assert_eq!(
        (
            installed.revision,
            installed.key_epoch,
            installed.plaintext_size
        ),
        (3, 2, 14)
    );
    let status = &f.store.volume_statuses().await.expect("statuses")[0];
    assert_eq!(status.relays[0].state, SyncState::Synced);
    assert_eq!(status.relays[0].remote_revision, Some(3));
    f.store
        .open_verified_blocking(&installed, f.keys.owner().tag_key())
        .expect("stored intact");

    // The same revision again: only bookkeeping.
    f.store
        .install_download(origin, incoming, &sealed[..], Some(3), Arc::clone(&f.keys))
        .await
        .expect("same again");

    let (older, bytes) = sealed_revision(&f.keys, id, "front", 2, 2, b"old");
    let err = f
        .store
        .install_download(origin, older, &bytes[..], Some(3), Arc::clone(&f.keys))
        .await
        .expect_err("older revision");
    assert!(
        matches!(
            err,
            StoreError::RevisionRegression {
                local: 3,
                received: 2,
                ..
            }
        ),
        "{err}"
    );

    let (old_epoch, bytes) = sealed_revision(&f.keys, id, "front", 4, 1, b"old epoch");
    let err = f
        .store
        .install_download(origin, old_epoch, &bytes[..], Some(3), Arc::clone(&f.keys))
        .await
        .expect_err("older epoch");
    assert!(
        matches!(
            err,
            StoreError::EpochRegression {
                local: 2,
                received: 1,
                ..
            }
        ),
        "{err}"
    );

    let (newer, bytes) = sealed_revision(&f.keys, id, "front", 4, 2, b"newer");
    let err = f
        .store
        .install_download(
            origin,
            newer.clone(),
            &bytes[..],
            Some(2),
            Arc::clone(&f.keys),
        )
        .await
        .expect_err("stale base");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let stranger = Arc::new(UnlockedKeys::new(MasterSecret::from_bytes([8; 32])).expect("keys"));
    let (forged, bytes) = sealed_revision(&stranger, id, "front", 4, 2, b"forged");
    let err = f
        .store
        .install_download(origin, forged, &bytes[..], Some(3), Arc::clone(&f.keys))
        .await
        .expect_err("not our tag");
    assert!(err.to_string().contains("owner tag"), "{err}");

    let mut truncated = bytes.clone();
    truncated.truncate(bytes.len() - 10);
    let (good, good_bytes) = sealed_revision(&f.keys, id, "front", 4, 2, b"newer");
    let err = f
        .store
        .install_download(
            origin,
            good.clone(),
            &good_bytes[..good_bytes.len() - 1],
            Some(3),
            Arc::clone(&f.keys),
        )
        .await
        .expect_err("truncated");
    assert!(matches!(err, StoreError::Refused { .. }), "{err}");

    let current = f.store.volume(id).await.expect("read").expect("there");
    assert_eq!(current.revision, 3, "nothing refused was installed");
    assert_eq!(volume_files(&f), vec![current.file_name.clone()]);

    let installed = f
        .store
        .install_download(origin, good, &good_bytes[..], Some(3), Arc::clone(&f.keys))
        .await
        .expect("newer");
    assert_eq!(installed.revision, 4);
    assert_eq!(volume_files(&f), vec![installed.file_name]);
}

#[tokio::test]
async fn tombstones_live_until_every_relay_applied_them() {
    let f = fixture().await;
    let lone = put(&f, "polls", b"q").await;
    f.store.mark_deleted(&vtype("polls")).await.expect("rm");
    assert!(
        f.store.volume(lone.id).await.expect("read").is_none(),
        "no relay: forgotten"
    );
    assert!(volume_files(&f).is_empty());

    f.store
        .add_relay(relay("https://a.example"))
        .await
        .expect("relay");
    let record = put(&f, "front", b"x").await;
    f.store.mark_deleted(&vtype("front")).await.expect("rm");
    let err = f
        .store
        .mark_deleted(&vtype("front"))
        .await
        .expect_err("twice");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let tomb = f
        .store
        .volume(record.id)
        .await
        .expect("read")
        .expect("tombstone");
    assert!(tomb.deleted);
    f.store
        .mark_removed_at(record.id, "https://a.example")
        .await
        .expect("applied");
    assert!(f.store.volume(record.id).await.expect("read").is_none());
    assert!(volume_files(&f).is_empty());
}

#[tokio::test]
async fn relay_crud() {
    let f = fixture().await;
    let added = f
        .store
        .add_relay(relay("https://a.example"))
        .await
        .expect("add");
    assert_eq!(added.identity_origin, "https://a.example");
    assert_eq!(added.generation, 0);
    let err = f
        .store
        .add_relay(relay("https://a.example"))
        .await
        .expect_err("dup");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let account = plog_ipc_schema::dbus::relays::RelayAccount {
        user_id: Uuid::from_u128(9),
        kind: plog_ipc_schema::http::accounts::AccountKind::System,
        handle: Some(plog_ipc_schema::Handle::parse("crew").expect("handle")),
    };
    let updated = f
        .store
        .update_relay(
            "https://a.example",
            RelayUpdate {
                next_pin: Some(Some(CertPin::from_digest([4; 32]))),
                account: Some(Some(account.clone())),
                ..RelayUpdate::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.account, Some(account));
    assert_eq!(
        f.store.relay("https://a.example").await.expect("read"),
        Some(updated.clone())
    );

    let record = put(&f, "front", b"x").await;
    let moved = f
        .store
        .move_relay("https://a.example", "https://b.example")
        .await
        .expect("move");
    assert_eq!(moved.identity_origin, "https://a.example", "the key stays");
    let status = &f.store.volume_statuses().await.expect("statuses")[0];
    assert_eq!(
        status.relays[0].relay, "https://b.example",
        "bookkeeping follows"
    );
    f.store
        .mark_pushed(record.id, "https://b.example", 1)
        .await
        .expect("pushed");

    f.store
        .remove_relay("https://b.example")
        .await
        .expect("remove");
    assert!(f.store.relays().await.expect("list").is_empty());
    let err = f
        .store
        .remove_relay("https://b.example")
        .await
        .expect_err("gone");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(
        f.store.volume_statuses().await.expect("statuses")[0]
            .relays
            .is_empty()
    );
}

#[tokio::test]
async fn forgetting_a_deleted_account_resets_what_the_relay_holds() {
    let f = fixture().await;
    for origin in ["https://a.example", "https://b.example"] {
        f.store.add_relay(relay(origin)).await.expect("relay");
    }
    let account = plog_ipc_schema::dbus::relays::RelayAccount {
        user_id: Uuid::from_u128(9),
        kind: plog_ipc_schema::http::accounts::AccountKind::System,
        handle: Some(plog_ipc_schema::Handle::parse("crew").expect("handle")),
    };
    f.store
        .update_relay(
            "https://a.example",
            RelayUpdate {
                account: Some(Some(account)),
                ..RelayUpdate::default()
            },
        )
        .await
        .expect("account");
    let front = put(&f, "front", b"x").await;
    let members = put(&f, "members", b"y").await;
    for (id, origin) in [
        (front.id, "https://a.example"),
        (front.id, "https://b.example"),
        (members.id, "https://a.example"),
        (members.id, "https://b.example"),
    ] {
        f.store.mark_pushed(id, origin, 1).await.expect("pushed");
    }
    f.store.mark_deleted(&vtype("members")).await.expect("rm");

    let record = f
        .store
        .forget_relay_account("https://a.example")
        .await
        .expect("forget");
    assert_eq!(record.account, None);
    assert_eq!(record.pin, CertPin::from_digest([3; 32]), "the rest stays");
    let statuses = f.store.volume_statuses().await.expect("statuses");
    let front_status = statuses
        .iter()
        .find(|s| s.volume.id == front.id)
        .expect("front");
    for sync in &front_status.relays {
        if sync.relay == "https://a.example" {
            assert_eq!(sync.remote_revision, None);
            assert_eq!(sync.state, SyncState::Pending);
        } else {
            assert_eq!(sync.remote_revision, Some(1), "other relays keep theirs");
            assert_eq!(sync.state, SyncState::Synced);
        }
    }
    let tomb = statuses
        .iter()
        .find(|s| s.volume.id == members.id)
        .expect("the tombstone still waits for b");
    let waiting: Vec<&str> = tomb.relays.iter().map(|s| s.relay.as_str()).collect();
    assert_eq!(waiting, ["https://b.example"]);

    let err = f
        .store
        .forget_relay_account("https://c.example")
        .await
        .expect_err("unknown relay");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}
