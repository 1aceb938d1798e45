//! Friends and sharing end to end: two people, each with their own `plogd` process on their
//! own private session bus and XDG directories, driven by the real `plog` binary, through a
//! real `plog-relay` process on a real `nats-server`.
//!
//! The scenario follows DESIGN §2 and §5: invite → request → approval → grant → the friend
//! views in memory → revocation with key rotation → removal; and checks the walls on the way:
//! the relay refuses what is not granted (404), an old key does not open a new epoch, a stale
//! owner upload is fenced (409), and nothing shared lands on the friend's disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use plog_crypto::keyblock::{self, KeyBlockContext};
use plog_crypto::master::MasterSecret;
use plog_crypto::volume::{VolumeHeader, VolumeKey, open_to_vec};
use plog_daemon::relay_client::{CertPin, RelayClient, RelayError};
use plog_ipc_schema::dbus::FriendsProxy;
use plog_ipc_schema::dbus::friends::{
    FriendEntry, FriendRequest, FriendState, RequestVia, SafetyNumber,
};
use plog_ipc_schema::dbus::sharing::ShareEntry;
use plog_ipc_schema::dbus::volumes::LocalVolume;
use plog_ipc_schema::http::headers::ReaderMaterial;
use plog_ipc_schema::http::volumes::VolumeRole;
use plog_tests::installation::expect_success;
use plog_tests::nats::NatsServer;
use plog_tests::people::Person;
use plog_tests::relay_process::RelayProcess;
use tempfile::TempDir;
use uuid::Uuid;

/// A relay process on its own `nats-server`.
struct Relay {
    _nats: NatsServer,
    _process: RelayProcess,
    _dir: TempDir,
    origin: String,
    pin: String,
}

impl Relay {
    async fn start_or_skip() -> Option<Self> {
        let nats = NatsServer::start_or_skip().await?;
        let dir = tempfile::Builder::new()
            .prefix("plog-friends-relay-")
            .tempdir()
            .expect("relay directory");
        let process = RelayProcess::start(
            &dir.path().join("data"),
            &[("PLOG_RELAY_NATS__URL", nats.url())],
        )
        .await;
        Some(Self {
            origin: process.public_origin.clone(),
            pin: process.pin.clone(),
            _nats: nats,
            _process: process,
            _dir: dir,
        })
    }

    async fn join(&self, kind: &str, handle: &str) -> Option<Person> {
        Person::join(&self.origin, &self.pin, kind, handle).await
    }
}

/// A client of the relay acting as `person` (the key derived from its recovery phrase), for
/// checks the CLI cannot make: raw fetches and stale uploads.
fn raw_client(person: &Person, relay: &Relay) -> RelayClient {
    let master = Arc::new(MasterSecret::from_recovery_phrase(&person.phrase).expect("phrase"));
    let origin = relay.origin.clone();
    RelayClient::builder(&relay.origin, CertPin::parse(&relay.pin).expect("pin"))
        .account(person.user_id)
        .identity_source(Arc::new(move || master.relay_identity(&origin, 0).ok()))
        .build()
        .expect("client")
}

fn identity(person: &Person, relay: &Relay) -> plog_crypto::identity::IdentityKeyPair {
    MasterSecret::from_recovery_phrase(&person.phrase)
        .expect("phrase")
        .relay_identity(&relay.origin, 0)
        .expect("identity")
}

fn view_raw(person: &Person, system: &str, vtype: &str) -> Vec<u8> {
    expect_success(
        &person.plog(&["view", system, vtype, "--raw"]),
        &format!("view {system} {vtype}"),
    )
    .into_bytes()
}

fn marker(what: &str) -> Vec<u8> {
    format!("PLOG-E2E-SHARED-{what}-{}", Uuid::new_v4()).into_bytes()
}

fn files_under(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        walk(dir, &mut out);
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the friend can learn about one of the owner's volumes by fetching it directly.
async fn fetch_as_grantee(
    client: &RelayClient,
    volume_id: Uuid,
) -> Result<Option<(plog_daemon::relay_client::VolumeMeta, Vec<u8>)>, RelayError> {
    client.get_volume_to_vec(volume_id, 64 * 1024 * 1024).await
}

/// The volume key of `sealed`, from the grantee key block served with it.
fn open_key_block(
    meta: &plog_daemon::relay_client::VolumeMeta,
    friend: &Person,
    owner: &Person,
    relay: &Relay,
    volume_id: Uuid,
) -> VolumeKey {
    let ReaderMaterial::Grantee { key_block, .. } = &meta.headers.reader else {
        panic!("served without a key block");
    };
    let (vek, _) = keyblock::open(
        key_block.as_bytes(),
        &identity(friend, relay),
        &identity(owner, relay).public_key(),
        &KeyBlockContext {
            relay_origin: &relay.origin,
            owner_id: *owner.user_id.as_bytes(),
            grantee_id: *friend.user_id.as_bytes(),
            volume_id: *volume_id.as_bytes(),
            epoch: meta.headers.key_epoch,
        },
    )
    .expect("the key block opens for its grantee");
    vek
}

fn header_of(sealed: &[u8]) -> VolumeHeader {
    VolumeHeader::peek(sealed).expect("volume header")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friend_sees_exactly_what_is_shared_until_it_is_revoked() {
    let Some(relay) = Relay::start_or_skip().await else {
        return;
    };
    let Some(owner) = relay.join("--system", "crew").await else {
        return;
    };
    let Some(friend) = relay.join("--friend", "kit").await else {
        return;
    };

    let members = marker("members");
    let journals = marker("journals");
    let polls = marker("polls");
    owner.put("members", &members);
    owner.put("journals", &journals);
    owner.put("polls", &polls);
    owner.ok(&["sync"]);
    let volumes: Vec<LocalVolume> = owner.json(&["volume", "ls"]);
    let id_of = |vtype: &str| {
        volumes
            .iter()
            .find(|v| v.vtype.as_str() == vtype)
            .map(|v| v.id)
            .expect("volume listed")
    };

    // Invite → request: a verified request the owner sees, but nothing shared yet.
    let invite: serde_json::Value = owner.json(&["friend", "invite", "--uses", "1"]);
    let code = invite["code"].as_str().expect("code").to_owned();
    assert!(code.contains('.'), "code is locator.secret: {code}");
    let pending: FriendEntry = friend.json_stdin(&["friend", "request", "-"], code.as_bytes());
    assert_eq!(pending.state, FriendState::Pending);
    assert!(pending.verified, "an invite code verifies the owner's key");
    assert_eq!(pending.user_id, owner.user_id);

    // A code alone gives nothing: before approval the friend can view nothing.
    friend.fails(&["view", "crew", "members", "--raw"], 1, &[]);

    // The code was for one use only.
    let out = friend.plog_stdin(&["friend", "request", "-", "--json"], code.as_bytes());
    assert!(!out.status.success(), "a used-up code must fail");

    let requests: Vec<FriendRequest> = owner.json(&["friend", "requests"]);
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.via, RequestVia::Invite);
    assert!(request.verified);
    assert_eq!(request.user_id, friend.user_id);
    assert_eq!(request.name, "kit");

    let approved: FriendEntry = owner.json(&["friend", "approve", &request.id.to_string()]);
    assert_eq!(approved.state, FriendState::Linked);
    assert!(approved.verified);
    let friends: Vec<FriendEntry> = friend.json(&["friend", "list"]);
    assert_eq!(friends.len(), 1, "{friends:?}");
    assert_eq!(friends[0].state, FriendState::Linked, "approval arrived");
    assert!(
        owner
            .json::<Vec<FriendRequest>>(&["friend", "requests"])
            .is_empty()
    );

    // Safety numbers agree on both sides; confirming them keeps both verified.
    let mine: SafetyNumber = owner.json(&["friend", "verify", "kit", "--show"]);
    let theirs: SafetyNumber = friend.json(&["friend", "verify", "crew", "--show"]);
    assert_eq!(mine.safety_number, theirs.safety_number);
    assert_eq!(
        mine.safety_number
            .chars()
            .filter(char::is_ascii_digit)
            .count(),
        60
    );
    let confirmed: FriendEntry = owner.json(&["friend", "verify", "kit", "--yes"]);
    assert!(confirmed.verified && !confirmed.key_changed);

    // The friend's daemon hears of shares and revocations as D-Bus signals.
    friend.wait_live(1).await;
    let connection = friend.bus.connect().await;
    let signals = FriendsProxy::new(&connection).await.expect("proxy");
    let mut shares = signals.receive_share_received().await.expect("subscribe");
    let mut revocations = signals.receive_access_revoked().await.expect("subscribe");

    // Grant members and journals.
    let shared: ShareEntry = owner.json(&["share", "grant", "kit", "members", "journals"]);
    let granted: Vec<&str> = shared.vtypes.iter().map(|v| v.as_str()).collect();
    assert_eq!(granted, ["journals", "members"]);

    let mut announced = Vec::new();
    while announced.len() < 2 {
        let signal = tokio::time::timeout(Duration::from_secs(10), shares.next())
            .await
            .expect("a ShareReceived signal")
            .expect("signal stream");
        let args = signal.args().expect("arguments");
        assert_eq!(*args.name(), "crew");
        announced.push(args.vtype().to_string());
    }
    announced.sort();
    assert_eq!(announced, ["journals", "members"]);
    assert_eq!(view_raw(&friend, "crew", "members"), members);
    assert_eq!(view_raw(&friend, "crew", "journals"), journals);
    friend.fails(&["view", "crew", "polls", "--raw"], 1, &["polls"]);

    // A later revision carries the friend's tag too.
    let members = marker("members-2");
    owner.put("members", &members);
    owner.ok(&["sync"]);
    assert_eq!(view_raw(&friend, "crew", "members"), members);

    // The relay's wall: polls is a 404 for the friend, and the friend holds no key for it.
    let as_friend = raw_client(&friend, &relay);
    assert!(
        fetch_as_grantee(&as_friend, id_of("polls"))
            .await
            .expect("fetch")
            .is_none(),
        "an ungranted volume is a 404"
    );
    let listing = as_friend.list_volumes().await.expect("list");
    assert!(listing.iter().all(|v| v.role == VolumeRole::Grantee));
    assert!(!listing.iter().any(|v| v.volume_id == id_of("polls")));

    // Keep the journals key the friend holds now, to try it on the next epoch.
    let (meta, sealed) = fetch_as_grantee(&as_friend, id_of("journals"))
        .await
        .expect("fetch")
        .expect("granted");
    let old_key = open_key_block(&meta, &friend, &owner, &relay, id_of("journals"));
    let old_epoch = meta.headers.key_epoch;
    let (plain, _) = open_to_vec(&old_key, header_of(&sealed), &sealed).expect("opens");
    assert_eq!(plain.as_slice(), journals.as_slice());

    // Revoke journals: the friend's fetch is a 404, the old key fails on the new revision,
    // members still work.
    let after: ShareEntry = owner.json(&["share", "revoke", "kit", "journals", "--yes"]);
    let left: Vec<&str> = after.vtypes.iter().map(|v| v.as_str()).collect();
    assert_eq!(left, ["members"]);
    let signal = tokio::time::timeout(Duration::from_secs(10), revocations.next())
        .await
        .expect("an AccessRevoked signal")
        .expect("signal stream");
    assert_eq!(*signal.args().expect("arguments").vtype(), "journals");
    friend.fails(&["view", "crew", "journals", "--raw"], 1, &["journals"]);
    assert!(
        fetch_as_grantee(&as_friend, id_of("journals"))
            .await
            .expect("fetch")
            .is_none(),
        "a revoked volume is a 404"
    );
    let as_owner = raw_client(&owner, &relay);
    let mut rotated = Vec::new();
    let meta = as_owner
        .get_volume(id_of("journals"), &mut rotated)
        .await
        .expect("owner fetch");
    assert!(
        meta.headers.key_epoch > old_epoch,
        "revocation starts a new epoch"
    );
    assert!(
        open_to_vec(&old_key, header_of(&rotated), &rotated).is_err(),
        "the old key must not open the new revision"
    );
    assert_eq!(view_raw(&friend, "crew", "members"), members);

    // A stale owner device uploading under the old epoch is fenced and loses nothing.
    let stale = stale_upload(
        &as_owner,
        id_of("journals"),
        meta.headers.revision,
        old_epoch,
    )
    .await;
    assert!(
        matches!(stale, Err(RelayError::Conflict { .. })),
        "an upload under an old epoch must be refused with 409: {stale:?}"
    );
    let mut again = Vec::new();
    let unchanged = as_owner
        .get_volume(id_of("journals"), &mut again)
        .await
        .expect("owner fetch");
    assert_eq!(unchanged.headers.revision, meta.headers.revision);
    assert_eq!(again, rotated, "the fenced upload changed nothing");
    let got = owner.plog(&["volume", "get", "journals"]);
    assert_eq!(expect_success(&got, "volume get").as_bytes(), journals);

    // Remove the friend: nothing left for them.
    owner.ok(&["friend", "remove", "kit", "--yes"]);
    friend.fails(&["view", "crew", "members", "--raw"], 1, &[]);
    assert!(
        as_friend.list_volumes().await.expect("list").is_empty(),
        "no grant is left"
    );
    let friends: Vec<FriendEntry> = friend.json(&["friend", "list"]);
    assert!(
        friends.is_empty(),
        "the removal notice ends the friendship on the friend's side too: {friends:?}"
    );

    // Nothing shared was written to the friend's disk: no plaintext, no volume key.
    let mut dirs = friend.install.xdg_dirs();
    dirs.push(friend.install.home().to_path_buf());
    for (path, bytes) in files_under(&dirs) {
        for (what, needle) in [
            ("members", members.as_slice()),
            ("journals", journals.as_slice()),
            ("the journals key", old_key.expose().as_slice()),
        ] {
            assert!(!contains(&bytes, needle), "{} holds {what}", path.display());
        }
    }
}

/// Uploads a revision of `volume_id` under `epoch` on top of `revision`, as a device that
/// missed the rotation would.
async fn stale_upload(
    client: &RelayClient,
    volume_id: Uuid,
    revision: u64,
    epoch: u64,
) -> Result<(), RelayError> {
    use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
    use plog_ipc_schema::http::headers::{GranteeTags, Precondition, UploadHeaders};
    let key = VolumeKey::generate().expect("key");
    let header = VolumeHeader {
        volume_id: *volume_id.as_bytes(),
        vtype: plog_crypto::volume::VolumeType::new("journals").expect("type"),
        revision: revision + 1,
        key_epoch: epoch,
    };
    let (sealed, _) =
        plog_crypto::volume::seal_to_vec(&key, &header, b"stale content").expect("seal");
    let upload = UploadHeaders {
        vtype: plog_ipc_schema::VolumeType::parse("journals").expect("type"),
        key_epoch: epoch,
        owner_tag: Bytes32::new([0; 32]),
        owner_key: B64Bytes::new(vec![0; plog_crypto::volume::WRAPPED_KEY_LEN]),
        grantee_tags: GranteeTags::new(),
        precondition: Precondition::Replace { revision },
    };
    let length = Some(sealed.len() as u64);
    client
        .put_volume(
            volume_id,
            &upload,
            plog_daemon::relay_client::VolumeBody::Reader {
                reader: Box::new(std::io::Cursor::new(sealed)),
                length,
            },
        )
        .await
        .map(drop)
}

/// Seals a friend request from `sender` to `owner` the way the relay itself could: without
/// the invite secret (auth mode), so only the locator it saw is used.
fn request_without_the_secret(sender: &Person, owner: &Person, relay: &Relay) -> Vec<u8> {
    use plog_crypto::envelope::{EnvelopeContext, Message, Purpose, seal};
    let body = serde_json::json!({
        "kind": "friend_request",
        "link_token": plog_ipc_schema::encoding::Bytes32::new([7; 32]),
    });
    seal(
        Purpose::FriendRequest,
        &EnvelopeContext {
            relay_origin: &relay.origin,
            sender_id: *sender.user_id.as_bytes(),
            recipient_id: *owner.user_id.as_bytes(),
        },
        &identity(sender, relay),
        &identity(owner, relay).public_key(),
        None,
        &Message {
            message_id: *Uuid::new_v4().as_bytes(),
            counter: 1,
            timestamp_ms: 0,
            body: zeroize::Zeroizing::new(serde_json::to_vec(&body).expect("body")),
        },
    )
    .expect("seal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_codes_expire_handles_stay_unverified_and_forgeries_are_refused() {
    let Some(relay) = Relay::start_or_skip().await else {
        return;
    };
    let Some(owner) = relay.join("--system", "crew").await else {
        return;
    };
    let Some(kit) = relay.join("--friend", "kit").await else {
        return;
    };
    let Some(eve) = relay.join("--friend", "eve").await else {
        return;
    };
    let members = marker("members");
    owner.put("members", &members);
    owner.ok(&["sync"]);

    // An expired code fails clearly.
    let short: serde_json::Value = owner.json(&["friend", "invite", "--expires", "1s"]);
    let code = short["code"].as_str().expect("code").to_owned();
    // Expiry is a matter of the clock: wait it out.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let out = kit.plog_stdin(&["friend", "request", "-"], code.as_bytes());
    assert_eq!(out.status.code(), Some(1), "an expired code must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expired"), "{stderr}");

    // Someone who saw only the locator (as the relay does) cannot make a request the owner
    // accepts: it is dropped, and the code still works for its holder.
    let invite: serde_json::Value = owner.json(&["friend", "invite", "--uses", "2"]);
    let code = invite["code"].as_str().expect("code").to_owned();
    let locator = plog_crypto::invite::InviteCode::parse(&code)
        .expect("code parses")
        .locator()
        .to_owned();
    raw_client(&eve, &relay)
        .redeem_invite(&locator, request_without_the_secret(&eve, &owner, &relay))
        .await
        .expect("the relay cannot tell and delivers it");
    assert!(
        owner
            .json::<Vec<FriendRequest>>(&["friend", "requests"])
            .is_empty(),
        "a request without the invite secret must be dropped"
    );
    let _: FriendEntry = kit.json_stdin(&["friend", "request", "-"], code.as_bytes());
    let requests: Vec<FriendRequest> = owner.json(&["friend", "requests"]);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].verified);
    let _: FriendEntry = owner.json(&["friend", "approve", &requests[0].id.to_string()]);

    // A request by handle is unverified, and an unverified friend gets no keys by default.
    let by_handle: FriendEntry = eve.json(&["friend", "request", "--handle", "crew"]);
    assert!(!by_handle.verified);
    let requests: Vec<FriendRequest> = owner.json(&["friend", "requests"]);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].via, RequestVia::Handle);
    assert!(!requests[0].verified);
    let eve_entry: FriendEntry = owner.json(&["friend", "approve", &requests[0].id.to_string()]);
    assert!(!eve_entry.verified);
    owner.fails(
        &["share", "grant", "eve", "members"],
        1,
        &["not verified", "--unverified"],
    );
    let _: ShareEntry = owner.json(&["share", "grant", "eve", "members", "--unverified"]);
    let _: ShareEntry = owner.json(&["share", "grant", "kit", "members"]);
    assert_eq!(view_raw(&eve, "crew", "members"), members);
    assert_eq!(view_raw(&kit, "crew", "members"), members);

    // Requests by handle can be switched off.
    owner.ok(&["friend", "handle-requests", "off"]);
    let Some(mallory) = relay.join("--friend", "mallory").await else {
        return;
    };
    let out = mallory.plog(&["friend", "request", "--handle", "crew"]);
    assert!(!out.status.success(), "handle requests are off");

    // A revision forged by a grantee (it holds the volume key, not the owner's tag key), which
    // a misbehaving relay accepts: the owner's devices and the other friend refuse it.
    let as_kit = raw_client(&kit, &relay);
    let listing = as_kit.list_volumes().await.expect("list");
    let volume_id = listing
        .iter()
        .find(|v| v.vtype.as_str() == "members")
        .expect("members shared")
        .volume_id;
    let (meta, _) = as_kit
        .get_volume_to_vec(volume_id, 1 << 20)
        .await
        .expect("fetch")
        .expect("granted");
    let ReaderMaterial::Grantee { key_block, .. } = &meta.headers.reader else {
        panic!("no key block");
    };
    let (vek, kit_tag_key) = keyblock::open(
        key_block.as_bytes(),
        &identity(&kit, &relay),
        &identity(&owner, &relay).public_key(),
        &KeyBlockContext {
            relay_origin: &relay.origin,
            owner_id: *owner.user_id.as_bytes(),
            grantee_id: *kit.user_id.as_bytes(),
            volume_id: *volume_id.as_bytes(),
            epoch: meta.headers.key_epoch,
        },
    )
    .expect("kit's key block");
    let forged_header = VolumeHeader {
        volume_id: *volume_id.as_bytes(),
        vtype: plog_crypto::volume::VolumeType::new("members").expect("type"),
        revision: meta.headers.revision + 1,
        key_epoch: meta.headers.key_epoch,
    };
    let forged_text = marker("forged");
    let (forged, digest) =
        plog_crypto::volume::seal_to_vec(&vek, &forged_header, &forged_text).expect("seal");
    let kit_tag = plog_crypto::volume::grantee_tag(&kit_tag_key, header_slice(&forged), &digest)
        .expect("kit's own tag");
    let mut tags = plog_ipc_schema::http::headers::GranteeTags::new();
    tags.insert(
        kit.user_id,
        plog_ipc_schema::encoding::Bytes32::new(kit_tag),
    );
    tags.insert(
        eve.user_id,
        plog_ipc_schema::encoding::Bytes32::new([9; 32]),
    );
    let upload = plog_ipc_schema::http::headers::UploadHeaders {
        vtype: plog_ipc_schema::VolumeType::parse("members").expect("type"),
        key_epoch: meta.headers.key_epoch,
        owner_tag: plog_ipc_schema::encoding::Bytes32::new([0; 32]),
        owner_key: plog_ipc_schema::encoding::B64Bytes::new(vec![
            0;
            plog_crypto::volume::WRAPPED_KEY_LEN
        ]),
        grantee_tags: tags,
        precondition: plog_ipc_schema::http::headers::Precondition::Replace {
            revision: meta.headers.revision,
        },
    };
    // The relay stores what it is given; here it takes the forgery through the owner's session.
    let length = Some(forged.len() as u64);
    raw_client(&owner, &relay)
        .put_volume(
            volume_id,
            &upload,
            plog_daemon::relay_client::VolumeBody::Reader {
                reader: Box::new(std::io::Cursor::new(forged)),
                length,
            },
        )
        .await
        .expect("the relay accepts the forgery");
    let refused = eve.plog(&["view", "crew", "members", "--raw"]);
    assert!(!refused.status.success(), "eve must refuse the forgery");
    assert!(
        !contains(&refused.stdout, &forged_text),
        "nothing of the forgery is shown"
    );
    let sync = owner.plog(&["sync"]);
    assert!(
        !sync.status.success(),
        "the owner's device must refuse a revision without its tag"
    );
    let got = owner.plog(&["volume", "get", "members"]);
    assert_eq!(
        expect_success(&got, "volume get").into_bytes(),
        members,
        "the owner keeps its own content"
    );

    // Both sides asking each other ends in one friendship, not two.
    owner.ok(&["friend", "handle-requests", "on"]);
    let _: FriendEntry = mallory.json(&["friend", "request", "--handle", "crew"]);
    let asked: FriendEntry = owner.json(&["friend", "request", "--handle", "mallory"]);
    assert_eq!(asked.state, FriendState::Pending);
    let requests: Vec<FriendRequest> = owner.json(&["friend", "requests"]);
    let from_mallory = requests
        .iter()
        .find(|r| r.user_id == mallory.user_id)
        .expect("mallory's request is listed");
    let linked: FriendEntry = owner.json(&["friend", "approve", &from_mallory.id.to_string()]);
    assert_eq!(linked.state, FriendState::Linked);
    assert_eq!(
        linked.id, asked.id,
        "the pending entry became the friendship"
    );
    let owners: Vec<FriendEntry> = owner.json(&["friend", "list"]);
    assert_eq!(
        owners
            .iter()
            .filter(|f| f.user_id == mallory.user_id)
            .count(),
        1,
        "{owners:?}"
    );
    let mallorys: Vec<FriendEntry> = mallory.json(&["friend", "list"]);
    assert_eq!(mallorys.len(), 1, "{mallorys:?}");
    assert_eq!(mallorys[0].state, FriendState::Linked);
}

/// The header part of a sealed volume.
fn header_slice(sealed: &[u8]) -> &[u8] {
    let name_len = usize::from(sealed[8 + 1 + 16]);
    &sealed[..8 + 1 + 16 + 1 + name_len + 8 + 8 + 24]
}
