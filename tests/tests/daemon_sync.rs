//! The daemon's sync engine against a real relay and `nats-server`: two devices of one
//! identity keep their volumes in step through the relay; conflicts are surfaced, a relay
//! that rolls a volume back or serves a revision without a valid owner tag is refused, and
//! nothing local is lost or overwritten.
//!
//! The devices are the daemon library's store, custody and relay clients in this process (the
//! D-Bus layer and the real binaries are covered by `daemon_e2e`).

use std::io::Write;
use std::sync::Arc;

use plog_crypto::keyfile::KdfParams;
use plog_crypto::master::MasterSecret;
use plog_crypto::volume::{OwnerKeys, VolumeHeader, VolumeKey, VolumeType as HeaderType};
use plog_daemon::custody::Custody;
use plog_daemon::paths::Paths;
use plog_daemon::relay_links::RelayLinks;
use plog_daemon::store::{NewRelay, Store};
use plog_daemon::sync::{RoundResult, SyncContext, run_round};
use plog_daemon::volumes;
use plog_ipc_schema::dbus::relays::RelayAccount;
use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::headers::{GranteeTags, Precondition, UploadHeaders};
use plog_ipc_schema::{CertPin, VolumeType};
use plog_tests::nats::NatsServer;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use zeroize::Zeroizing;

/// One installation of the daemon's state in a temporary directory.
struct Device {
    _dir: tempfile::TempDir,
    store: Store,
    custody: Arc<Custody>,
    links: RelayLinks,
}

impl Device {
    async fn new(master: &MasterSecret) -> Self {
        let dir = tempfile::tempdir().expect("device directory");
        let paths = Paths::under(dir.path());
        paths.create_dirs().expect("dirs");
        let store = Store::open(&paths.store_db(), &paths.volumes_dir())
            .await
            .expect("store");
        let custody = Arc::new(Custody::new(paths.key_file()));
        custody
            .restore(
                MasterSecret::from_bytes(*master.expose()),
                Zeroizing::new(b"device passphrase".to_vec()),
                KdfParams::INSECURE_FOR_TESTS,
                plog_daemon::custody::Existing::Refuse,
            )
            .await
            .expect("install identity");
        let links = RelayLinks::new(Arc::clone(&custody));
        Self {
            _dir: dir,
            store,
            custody,
            links,
        }
    }

    /// Adds the relay, registering the identity there if it has no account yet.
    async fn add_relay(&self, relay: &TestRelay) {
        let origin = relay.started.public_origin.clone();
        let pin = CertPin::parse(&relay.started.pin).expect("pin");
        let record = self
            .store
            .add_relay(NewRelay {
                origin: origin.clone(),
                pin,
                name: None,
                account: None,
            })
            .await
            .expect("add relay");
        let identity = self
            .links
            .identity(&record.identity_origin, record.generation)
            .expect("unlocked");
        let client = self.links.client(&record).expect("client");
        let session = match client.find_account(&identity).await.expect("look up") {
            Some(session) => session,
            None => client
                .register(&identity, AccountKind::System, None)
                .await
                .expect("register"),
        };
        self.store
            .update_relay(
                &origin,
                plog_daemon::store::RelayUpdate {
                    account: Some(Some(RelayAccount {
                        user_id: session.user_id(),
                        kind: AccountKind::System,
                        handle: None,
                    })),
                    ..Default::default()
                },
            )
            .await
            .expect("store account");
    }

    async fn sync(&self) -> RoundResult {
        let context = SyncContext {
            store: &self.store,
            links: &self.links,
            keys: self.custody.keys().expect("unlocked"),
            relays: self.store.relays().await.expect("relays"),
            progress: &|_, _, _| {},
        };
        run_round(context).await.expect("round")
    }

    async fn put(&self, vtype: &str, content: &[u8]) {
        let mut file = tempfile::tempfile().expect("input file");
        file.write_all(content).expect("write input");
        std::io::Seek::rewind(&mut file).expect("rewind");
        volumes::put(
            &self.store,
            self.custody.keys().expect("unlocked"),
            &VolumeType::parse(vtype).expect("type"),
            file,
        )
        .await
        .expect("put");
    }

    async fn get(&self, vtype: &str) -> Vec<u8> {
        let mut out = tempfile::tempfile().expect("output file");
        volumes::get(
            &self.store,
            self.custody.keys().expect("unlocked"),
            &VolumeType::parse(vtype).expect("type"),
            out.try_clone().expect("clone"),
        )
        .await
        .expect("get");
        std::io::Seek::rewind(&mut out).expect("rewind");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut bytes).expect("read");
        bytes
    }

    async fn revision(&self, vtype: &str) -> Option<u64> {
        self.store
            .volume_by_type(&VolumeType::parse(vtype).expect("type"))
            .await
            .expect("volume")
            .map(|record| record.revision)
    }
}

async fn relay_or_skip() -> Option<(NatsServer, TestRelay)> {
    let nats = NatsServer::start_or_skip().await?;
    let relay = TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await;
    Some((nats, relay))
}

fn ok(result: &RoundResult) {
    assert!(
        result.report.ok,
        "round failed: conflicts {:?}, failures {:?}",
        result.report.conflicts, result.report.failures
    );
}

#[tokio::test]
async fn two_devices_stay_in_step_through_the_relay() {
    let Some((_nats, relay)) = relay_or_skip().await else {
        return;
    };
    let master = MasterSecret::generate().expect("master");
    let first = Device::new(&master).await;
    first.add_relay(&relay).await;
    let journal: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    first.put("members", b"alice\nbob\n").await;
    first.put("journals", &journal).await;
    first.put("members", b"alice\nbob\ncarol\n").await;
    let round = first.sync().await;
    ok(&round);
    assert_eq!(round.report.pushed, 3, "two volumes and the manifest");
    assert_eq!(
        first.revision("members").await,
        Some(1),
        "unpushed edits keep one number"
    );

    // A restored device adopts the account and pulls everything, byte for byte.
    let second = Device::new(&master).await;
    second.add_relay(&relay).await;
    let round = second.sync().await;
    ok(&round);
    assert_eq!(round.report.pulled, 3);
    assert_eq!(second.get("members").await, b"alice\nbob\ncarol\n");
    assert_eq!(second.get("journals").await, journal);

    // An edit on the second device reaches the first.
    second.put("members", b"alice\n").await;
    ok(&second.sync().await);
    assert_eq!(second.revision("members").await, Some(2));
    let round = first.sync().await;
    ok(&round);
    assert_eq!(first.get("members").await, b"alice\n");

    // Nothing to do is a round that moves nothing.
    let round = first.sync().await;
    ok(&round);
    assert_eq!((round.report.pushed, round.report.pulled), (0, 0));

    // Removal travels too (a tombstone, confirmed by the manifest).
    first
        .store
        .mark_deleted(&VolumeType::parse("journals").expect("type"))
        .await
        .expect("remove");
    ok(&first.sync().await);
    ok(&second.sync().await);
    assert_eq!(second.revision("journals").await, None);
}

#[tokio::test]
async fn edits_on_both_devices_are_a_conflict_and_nothing_is_overwritten() {
    let Some((_nats, relay)) = relay_or_skip().await else {
        return;
    };
    let master = MasterSecret::generate().expect("master");
    let first = Device::new(&master).await;
    first.add_relay(&relay).await;
    first.put("front", b"v1").await;
    ok(&first.sync().await);
    let second = Device::new(&master).await;
    second.add_relay(&relay).await;
    ok(&second.sync().await);

    first.put("front", b"first's edit").await;
    second.put("front", b"second's edit").await;
    ok(&first.sync().await);
    let round = second.sync().await;
    assert!(!round.report.ok);
    assert_eq!(round.report.conflicts.len(), 1, "{:?}", round.report);
    assert_eq!(round.report.conflicts[0].name.as_str(), "front");
    assert_eq!(second.get("front").await, b"second's edit", "kept locally");
    // The relay still has the first device's edit.
    let third = Device::new(&master).await;
    third.add_relay(&relay).await;
    ok(&third.sync().await);
    assert_eq!(third.get("front").await, b"first's edit");
}

/// Uploads `content` as the next revision of the owner's volume `vtype` directly, with an
/// owner tag that is not the owner's: what a relay (or anyone holding the session) could
/// store, but the owner never wrote.
async fn upload_forged(device: &Device, vtype: &str, content: &[u8]) {
    let record = device
        .store
        .volume_by_type(&VolumeType::parse(vtype).expect("type"))
        .await
        .expect("volume")
        .expect("exists");
    let relays = device.store.relays().await.expect("relays");
    let client = device.links.client(&relays[0]).expect("client");
    let keys = device.custody.keys().expect("unlocked");
    let vek: VolumeKey = keys
        .owner()
        .unwrap(record.id.as_bytes(), record.key_epoch, &record.owner_key)
        .expect("volume key");
    let header = VolumeHeader {
        volume_id: *record.id.as_bytes(),
        vtype: HeaderType::new(vtype).expect("type"),
        revision: record.revision + 1,
        key_epoch: record.key_epoch,
    };
    let (sealed, _) = plog_crypto::volume::seal_to_vec(&vek, &header, content).expect("seal");
    let wrapped = keys
        .owner()
        .wrap(&header.volume_id, header.key_epoch, &vek)
        .expect("wrap");
    // Any other identity's owner keys make a tag the owner's devices must refuse.
    let stranger = OwnerKeys::derive(&MasterSecret::generate().expect("stranger")).expect("keys");
    let header_len = header_bytes_len(&sealed);
    let mut digester = plog_crypto::volume::VolumeDigester::new();
    digester.update(&sealed);
    let tag = plog_crypto::volume::owner_tag(
        stranger.tag_key(),
        &sealed[..header_len],
        &digester.finalize(),
    )
    .expect("tag");
    let upload = UploadHeaders {
        vtype: VolumeType::parse(vtype).expect("type"),
        key_epoch: record.key_epoch,
        owner_tag: Bytes32::new(tag),
        owner_key: B64Bytes::new(wrapped.to_vec()),
        grantee_tags: GranteeTags::new(),
        precondition: Precondition::Replace {
            revision: record.revision,
        },
    };
    client
        .put_volume(
            record.id,
            &upload,
            plog_daemon::relay_client::VolumeBody::Bytes(sealed.into()),
        )
        .await
        .expect("forged upload accepted by the relay");
}

/// The length of the encoded header at the start of a sealed volume.
fn header_bytes_len(sealed: &[u8]) -> usize {
    // magic (8), version (1), id (16), name length (1), name, revision (8), epoch (8), nonce (24)
    let name_len = usize::from(sealed[8 + 1 + 16]);
    8 + 1 + 16 + 1 + name_len + 8 + 8 + 24
}

#[tokio::test]
async fn a_revision_without_a_valid_owner_tag_is_refused() {
    let Some((_nats, relay)) = relay_or_skip().await else {
        return;
    };
    let master = MasterSecret::generate().expect("master");
    let first = Device::new(&master).await;
    first.add_relay(&relay).await;
    first.put("polls", b"genuine").await;
    ok(&first.sync().await);
    let second = Device::new(&master).await;
    second.add_relay(&relay).await;
    ok(&second.sync().await);

    upload_forged(&first, "polls", b"forged content").await;
    let round = second.sync().await;
    assert!(!round.report.ok, "a forged revision must not sync cleanly");
    let failures = format!("{:?}", round.report.failures);
    assert!(failures.contains("polls"), "{failures}");
    assert_eq!(second.get("polls").await, b"genuine", "nothing replaced");
    assert_eq!(second.revision("polls").await, Some(1));
}

#[tokio::test]
async fn a_relay_serving_an_older_revision_is_refused() {
    let Some((_nats, relay)) = relay_or_skip().await else {
        return;
    };
    let master = MasterSecret::generate().expect("master");
    let device = Device::new(&master).await;
    device.add_relay(&relay).await;
    device.put("members", b"one").await;
    ok(&device.sync().await);
    device.put("members", b"two").await;
    ok(&device.sync().await);
    assert_eq!(device.revision("members").await, Some(2));

    // The relay "loses" the volume and serves a fresh revision 1 of it: older than the
    // revision 2 it served before.
    let record = device
        .store
        .volume_by_type(&VolumeType::parse("members").expect("type"))
        .await
        .expect("volume")
        .expect("exists");
    let relays = device.store.relays().await.expect("relays");
    let client = device.links.client(&relays[0]).expect("client");
    client
        .delete_volume(record.id, Some(2))
        .await
        .expect("delete at the relay");
    let keys = device.custody.keys().expect("unlocked");
    let vek = keys
        .owner()
        .unwrap(record.id.as_bytes(), record.key_epoch, &record.owner_key)
        .expect("key");
    let header = VolumeHeader {
        volume_id: *record.id.as_bytes(),
        vtype: HeaderType::new("members").expect("type"),
        revision: 1,
        key_epoch: record.key_epoch,
    };
    let (sealed, digest) = plog_crypto::volume::seal_to_vec(&vek, &header, b"one").expect("seal");
    let tag = plog_crypto::volume::owner_tag(
        keys.owner().tag_key(),
        &sealed[..header_bytes_len(&sealed)],
        &digest,
    )
    .expect("tag");
    let wrapped = keys
        .owner()
        .wrap(&header.volume_id, header.key_epoch, &vek)
        .expect("wrap");
    client
        .put_volume(
            record.id,
            &UploadHeaders {
                vtype: VolumeType::parse("members").expect("type"),
                key_epoch: record.key_epoch,
                owner_tag: Bytes32::new(tag),
                owner_key: B64Bytes::new(wrapped.to_vec()),
                grantee_tags: GranteeTags::new(),
                precondition: Precondition::Create,
            },
            plog_daemon::relay_client::VolumeBody::Bytes(sealed.into()),
        )
        .await
        .expect("re-create at the relay");

    let round = device.sync().await;
    assert!(!round.report.ok);
    let failures = format!("{:?}", round.report.failures);
    assert!(failures.contains("rollback"), "{failures}");
    assert_eq!(
        device.get("members").await,
        b"two",
        "the newer local copy stays"
    );

    // A restored device with no history is protected by the manifest.
    let fresh = Device::new(&master).await;
    fresh.add_relay(&relay).await;
    let round = fresh.sync().await;
    let failures = format!("{:?}", round.report.failures);
    assert!(
        failures.contains("manifest records revision 2"),
        "{failures}"
    );
    assert_eq!(
        fresh.revision("members").await,
        None,
        "the old revision was not taken"
    );
}
