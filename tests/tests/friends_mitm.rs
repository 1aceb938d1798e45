//! A relay that swaps keys at lookup is detected (DESIGN §2, §5).
//!
//! The relay here is honest, but every client reaches it through a proxy that presents the
//! relay's own certificate and key — what a misbehaving operator controls — and can replace
//! the public key in handle and invite lookup answers with an attacker's. The daemons pinned
//! that certificate and cannot tell the proxy from the relay. What must save them is the
//! cryptography: an invite code carries the owner's key fingerprint, and a friend found by
//! handle stays unverified until both compare safety numbers, which differ under a swap.

use plog_crypto::identity::{IdentityKeyPair, IdentityPublicKey, normalize_origin};
use plog_crypto::master::MasterSecret;
use plog_crypto::safety::{display, safety_number};
use plog_ipc_schema::dbus::friends::{
    FriendEntry, FriendRequest, FriendState, RequestVia, SafetyNumber,
};
use plog_ipc_schema::dbus::sharing::ShareEntry;
use plog_tests::installation::expect_success;
use plog_tests::mitm::MitmProxy;
use plog_tests::nats::NatsServer;
use plog_tests::people::Person;
use plog_tests::relay_process::RelayProcess;
use tempfile::TempDir;
use uuid::Uuid;

/// A relay process on its own `nats-server`, reachable only through the proxy.
struct Setup {
    proxy: MitmProxy,
    _relay: RelayProcess,
    _nats: NatsServer,
    _dir: TempDir,
    /// The proxy's origin, which is also the relay's public origin.
    origin: String,
    pin: String,
}

impl Setup {
    async fn start_or_skip() -> Option<Self> {
        let nats = NatsServer::start_or_skip().await?;
        let dir = tempfile::Builder::new()
            .prefix("plog-mitm-relay-")
            .tempdir()
            .expect("relay directory");
        let data_dir = dir.path().join("data");
        // Logins are bound to the origin the client connects to: the relay must call the
        // proxy's origin its own, so the proxy's port is taken before the relay starts.
        let bound = MitmProxy::bind();
        let origin = bound.origin();
        let relay = RelayProcess::start(
            &data_dir,
            &[
                ("PLOG_RELAY_NATS__URL", nats.url()),
                ("PLOG_RELAY_PUBLIC_ORIGIN", origin.clone()),
                (
                    "PLOG_RELAY_ADMIN_LISTEN",
                    format!("127.0.0.1:{}", free_port()),
                ),
            ],
        )
        .await;
        assert_eq!(
            relay.public_origin, origin,
            "the relay took the proxy's origin"
        );
        let proxy = bound.serve(&data_dir, &relay.base_url).await;
        Some(Self {
            proxy,
            pin: relay.pin.clone(),
            _relay: relay,
            _nats: nats,
            _dir: dir,
            origin,
        })
    }

    async fn join(&self, kind: &str, handle: &str) -> Option<Person> {
        Person::join(&self.origin, &self.pin, kind, handle).await
    }

    /// `person`'s real public key at this relay, derived from its recovery phrase.
    fn real_key(&self, person: &Person) -> IdentityPublicKey {
        let origin = normalize_origin(&self.origin).expect("origin");
        MasterSecret::from_recovery_phrase(&person.phrase)
            .expect("phrase")
            .relay_identity(&origin, 0)
            .expect("identity")
            .public_key()
    }

    /// The safety number `a` and `b` should see, from their real keys, as displayed.
    fn real_safety_number(&self, a: &Person, b: &Person) -> String {
        safety_number_of(
            (&self.real_key(a), a.user_id),
            (&self.real_key(b), b.user_id),
        )
    }
}

fn safety_number_of(a: (&IdentityPublicKey, Uuid), b: (&IdentityPublicKey, Uuid)) -> String {
    display(&safety_number((a.0, a.1.as_bytes()), (b.0, b.1.as_bytes())).expect("safety number"))
}

/// A port free right now, for the relay's admin listener.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

fn attacker_key() -> IdentityPublicKey {
    IdentityKeyPair::generate()
        .expect("attacker key")
        .public_key()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_swapped_at_invite_lookup_is_refused() {
    let Some(setup) = Setup::start_or_skip().await else {
        return;
    };
    let Some(owner) = setup.join("--system", "crew").await else {
        return;
    };
    let Some(kit) = setup.join("--friend", "kit").await else {
        return;
    };

    let invite: serde_json::Value = owner.json(&["friend", "invite", "--uses", "1"]);
    let code = invite["code"].as_str().expect("code").to_owned();

    // Swapped: the code's fingerprint does not match the key the "relay" presents.
    let attacker = attacker_key();
    setup.proxy.swap_keys(&attacker);
    let out = kit.plog_stdin(&["friend", "request", "-"], code.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a request under a swapped key must fail; stderr {stderr}"
    );
    assert!(
        stderr.contains("does not match the invite code"),
        "the error must name the mismatch: {stderr}"
    );
    assert_eq!(setup.proxy.swapped(), 1, "the lookup went through the swap");
    assert!(
        owner
            .json::<Vec<FriendRequest>>(&["friend", "requests"])
            .is_empty(),
        "nothing reached the owner"
    );
    assert!(
        kit.json::<Vec<FriendEntry>>(&["friend", "list"]).is_empty(),
        "the friend recorded nobody"
    );

    // Honest again: the same code (one use, not spent by the refused attempt) works.
    setup.proxy.stop_swapping();
    let pending: FriendEntry = kit.json_stdin(&["friend", "request", "-"], code.as_bytes());
    assert_eq!(pending.state, FriendState::Pending);
    assert!(pending.verified, "an invite code verifies the owner's key");
    assert_eq!(pending.user_id, owner.user_id);
    assert_eq!(setup.proxy.swapped(), 1);
    let requests: Vec<FriendRequest> = owner.json(&["friend", "requests"]);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].via, RequestVia::Invite);
    assert!(requests[0].verified);
    assert_eq!(requests[0].user_id, kit.user_id);

    // Both sides show the number the real keys give: the reference the handle test uses.
    let _: FriendEntry = owner.json(&["friend", "approve", &requests[0].id.to_string()]);
    let expected = setup.real_safety_number(&owner, &kit);
    let theirs: SafetyNumber = kit.json(&["friend", "verify", "crew", "--show"]);
    let mine: SafetyNumber = owner.json(&["friend", "verify", "kit", "--show"]);
    assert_eq!(theirs.safety_number, expected);
    assert_eq!(mine.safety_number, expected);

    // Everything else passes through untouched: the event stream stays open, and a volume
    // goes up and comes down byte for byte.
    kit.wait_live(1).await;
    let members = format!("PLOG-MITM-MEMBERS-{}", Uuid::new_v4()).into_bytes();
    owner.put("members", &members);
    owner.ok(&["sync"]);
    let _: ShareEntry = owner.json(&["share", "grant", "kit", "members"]);
    let viewed = kit.plog(&["view", "crew", "members", "--raw"]);
    assert_eq!(
        expect_success(&viewed, "view crew members").into_bytes(),
        members
    );
    assert_eq!(setup.proxy.swapped(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_swapped_at_handle_lookup_shows_in_the_safety_number() {
    let Some(setup) = Setup::start_or_skip().await else {
        return;
    };
    let Some(owner) = setup.join("--system", "crew").await else {
        return;
    };
    let Some(ash) = setup.join("--friend", "ash").await else {
        return;
    };

    // The friend cannot tell: its request goes out, sealed to the attacker's key.
    let attacker = attacker_key();
    setup.proxy.swap_keys(&attacker);
    let sent: FriendEntry = ash.json(&["friend", "request", "--handle", "crew"]);
    setup.proxy.stop_swapping();
    assert_eq!(setup.proxy.swapped(), 1, "the lookup went through the swap");
    assert_eq!(sent.state, FriendState::Pending);
    assert!(!sent.verified, "a key found by handle is unverified");
    assert_eq!(sent.user_id, owner.user_id);

    // The owner cannot open it, so there is nothing to approve.
    assert!(
        owner
            .json::<Vec<FriendRequest>>(&["friend", "requests"])
            .is_empty(),
        "a request sealed to another key must not reach the owner"
    );

    // Comparing safety numbers exposes the swap: the friend's is the attacker's, not the
    // one the owner would compute from the real keys.
    let shown: SafetyNumber = ash.json(&["friend", "verify", "crew", "--show"]);
    assert!(!shown.verified);
    let real = setup.real_safety_number(&owner, &ash);
    assert_ne!(
        shown.safety_number, real,
        "the swap must show in the safety number"
    );
    let swapped = safety_number_of(
        (&attacker, owner.user_id),
        (&setup.real_key(&ash), ash.user_id),
    );
    assert_eq!(
        shown.safety_number, swapped,
        "the friend's number is the one of the attacker's key"
    );
}
