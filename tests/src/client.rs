//! A minimal relay client for tests: registration, challenge login and volume uploads built
//! with the real cryptography, speaking the wire types of `plog-ipc-schema`; and requests to a
//! [`TestRelay`] with a bearer token, for the calls a test makes once or twice.

use plog_crypto::challenge::{self, ChallengeContext};
use plog_crypto::identity::IdentityKeyPair;
use plog_crypto::master::MasterSecret;
use plog_crypto::volume::{
    GranteeTagKey, OwnerKeys, VolumeHeader, VolumeKey, VolumeType, grantee_tag, owner_tag,
    seal_to_vec,
};
use plog_ipc_schema::encoding::{B64Bytes, Bytes32, PublicKeyB64};
use plog_ipc_schema::error::{ErrorBody, ErrorCode};
use plog_ipc_schema::http::accounts::{AccountKind, RegisterRequest, RegisterResponse};
use plog_ipc_schema::http::auth::{
    ChallengeRequest, ChallengeResponse, ProofRequest, SessionResponse,
};
use plog_ipc_schema::http::headers::{GranteeTags, Precondition, UploadHeaders};
use plog_ipc_schema::vtype;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::relay::TestRelay;

/// One identity at one relay.
pub struct TestUser {
    /// The master secret (for owner keys).
    pub master: MasterSecret,
    /// The identity key for this relay.
    pub identity: IdentityKeyPair,
    /// The account id, once registered.
    pub user_id: Uuid,
    /// The session token text, once logged in.
    pub token: String,
}

impl std::fmt::Debug for TestUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestUser")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The error body of a failed response, with its status.
pub async fn error_of(response: reqwest::Response) -> (u16, ErrorBody) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("error body");
    let body: ErrorBody = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not {{code, message}}: {e}: {text}"));
    (status, body)
}

/// Seconds since the Unix epoch: the clock of invite expiries and other relay times.
///
/// # Panics
/// If the system clock is set before 1970.
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// The status and error code of a refusal (see [`error_of`]).
pub async fn refusal(response: reqwest::Response) -> (u16, ErrorCode) {
    let (status, ErrorBody { code, .. }) = error_of(response).await;
    (status, code)
}

/// `relay`'s HTTPS client, base URL and public origin: the first arguments of the calls here
/// that take them one by one.
#[must_use]
pub fn endpoint(relay: &TestRelay) -> (&reqwest::Client, &str, &str) {
    (
        &relay.client,
        relay.base_url.as_str(),
        relay.started.public_origin.as_str(),
    )
}

/// Registers a fresh identity of `kind` at `relay` and logs it in (see
/// [`register_and_login`]).
pub async fn register(relay: &TestRelay, kind: AccountKind) -> TestUser {
    let (http, base, origin) = endpoint(relay);
    register_and_login(http, base, origin, kind).await
}

/// Sends `request`; the response as received.
///
/// # Panics
/// If the request cannot be sent or gets no response.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("the request gets a response")
}

/// `GET path` at `relay` with `token` as its bearer token; the response as received.
pub async fn get_as(relay: &TestRelay, token: &str, path: &str) -> reqwest::Response {
    send(relay.client.get(relay.url(path)).bearer_auth(token)).await
}

/// `DELETE path` at `relay` with `token` as its bearer token; the response as received.
pub async fn delete_as(relay: &TestRelay, token: &str, path: &str) -> reqwest::Response {
    send(relay.client.delete(relay.url(path)).bearer_auth(token)).await
}

/// `method path` at `relay` with `token` as its bearer token and `body` as JSON; the
/// response as received.
pub async fn json_as(
    relay: &TestRelay,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: &impl Serialize,
) -> reqwest::Response {
    send(
        relay
            .client
            .request(method, relay.url(path))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

/// The body of `response` read as JSON; its status is not looked at.
///
/// # Panics
/// If the body cannot be read or is not a `T`.
pub async fn json_of<T: DeserializeOwned>(response: reqwest::Response) -> T {
    response
        .json()
        .await
        .expect("a JSON body of the expected shape")
}

/// `GET path` at `relay` with `token` as its bearer token, its body read as JSON (see
/// [`json_of`]).
pub async fn get_json_as<T: DeserializeOwned>(relay: &TestRelay, token: &str, path: &str) -> T {
    json_of(get_as(relay, token, path).await).await
}

/// `GET path` at `relay` with `token` as its bearer token, which must answer 200; its body
/// read as JSON.
///
/// # Panics
/// If the status is not 200, or as [`json_of`] does.
pub async fn read_as<T: DeserializeOwned>(relay: &TestRelay, token: &str, path: &str) -> T {
    let response = get_as(relay, token, path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    json_of(response).await
}

/// `GET path` at `relay` without a token, its body read as JSON (see [`json_of`]).
pub async fn get_json<T: DeserializeOwned>(relay: &TestRelay, path: &str) -> T {
    json_of(send(relay.client.get(relay.url(path))).await).await
}

/// Registers a fresh identity of `kind` and logs it in.
pub async fn register_and_login(
    client: &reqwest::Client,
    base: &str,
    origin: &str,
    kind: AccountKind,
) -> TestUser {
    let master = MasterSecret::generate().expect("master secret");
    let identity = master.relay_identity(origin, 0).expect("identity");
    let response = client
        .post(format!("{base}/v1/accounts"))
        .json(&RegisterRequest {
            kind,
            public_key: PublicKeyB64::new(*identity.public_key().as_bytes()),
            handle: None,
        })
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201, "registration");
    let RegisterResponse { user_id } = response.json().await.expect("register response");
    let mut user = TestUser {
        master,
        identity,
        user_id,
        token: String::new(),
    };
    user.token = login(
        client,
        base,
        origin,
        &user.identity,
        ChallengeRequest::UserId(user_id),
    )
    .await
    .expect("first login");
    user
}

/// Asks for a challenge.
pub async fn challenge(
    client: &reqwest::Client,
    base: &str,
    request: ChallengeRequest,
) -> ChallengeResponse {
    let response = client
        .post(format!("{base}/v1/auth/challenge"))
        .json(&request)
        .send()
        .await
        .expect("challenge request");
    assert_eq!(response.status(), 200, "challenge");
    response.json().await.expect("challenge response")
}

/// The proof for a challenge, computed as a client does (origin from its own view).
pub fn prove(identity: &IdentityKeyPair, origin: &str, c: &ChallengeResponse) -> Bytes32 {
    let ctx = ChallengeContext {
        relay_origin: origin,
        user_id: *c.user_id.as_bytes(),
        challenge_id: *c.challenge_id.as_bytes(),
    };
    let proof = challenge::prove(identity, c.enc.as_bytes(), &ctx).expect("proof");
    Bytes32::new(*proof.expose())
}

/// Sends a proof; the response as received.
pub async fn answer(
    client: &reqwest::Client,
    base: &str,
    challenge_id: Uuid,
    proof: Bytes32,
) -> reqwest::Response {
    client
        .post(format!("{base}/v1/auth/response"))
        .json(&ProofRequest {
            challenge_id,
            proof,
            device_label: Some("test".into()),
        })
        .send()
        .await
        .expect("proof request")
}

/// A full login; the session token, or the error status and body.
pub async fn login(
    client: &reqwest::Client,
    base: &str,
    origin: &str,
    identity: &IdentityKeyPair,
    request: ChallengeRequest,
) -> Result<String, (u16, ErrorBody)> {
    let c = challenge(client, base, request).await;
    let response = answer(client, base, c.challenge_id, prove(identity, origin, &c)).await;
    if response.status() != 200 {
        return Err(error_of(response).await);
    }
    let session: SessionResponse = response.json().await.expect("session response");
    Ok(session.session_token.to_b64().to_string())
}

/// A sealed volume ready to upload, with its headers.
#[derive(Debug)]
pub struct SealedVolume {
    /// The volume bytes.
    pub bytes: Vec<u8>,
    /// The request headers (type, epoch, tags, wrapped key, precondition).
    pub headers: UploadHeaders,
}

/// Seals `plaintext` as revision `revision` of `volume_id` for `owner`, under a fresh volume
/// key and without grantee tags.
pub fn seal_volume(
    owner: &TestUser,
    volume_id: Uuid,
    vtype_name: &str,
    revision: u64,
    epoch: u64,
    plaintext: &[u8],
) -> SealedVolume {
    let vek = VolumeKey::generate().expect("volume key");
    seal_volume_with(
        owner,
        volume_id,
        vtype_name,
        (revision, epoch),
        &vek,
        plaintext,
        &[],
    )
    .0
}

/// Seals `plaintext` as `(revision, epoch)` of `volume_id` under `vek`, tagged for `owner`
/// and for each grantee whose id and tag key are given; the volume and its digest (which a
/// grantee tag signs with the header).
pub fn seal_volume_with(
    owner: &TestUser,
    volume_id: Uuid,
    vtype_name: &str,
    (revision, epoch): (u64, u64),
    vek: &VolumeKey,
    plaintext: &[u8],
    grantees: &[(Uuid, &GranteeTagKey)],
) -> (SealedVolume, [u8; 32]) {
    let header = VolumeHeader {
        volume_id: *volume_id.as_bytes(),
        vtype: VolumeType::new(vtype_name).expect("type"),
        revision,
        key_epoch: epoch,
    };
    let (bytes, digest) = seal_to_vec(vek, &header, plaintext).expect("seal");
    let header_bytes = &bytes[..volume_header_len(vtype_name)];
    let keys = OwnerKeys::derive(&owner.master).expect("owner keys");
    let tag = owner_tag(keys.tag_key(), header_bytes, &digest).expect("owner tag");
    let wrapped = keys.wrap(volume_id.as_bytes(), epoch, vek).expect("wrap");
    let grantee_tags: GranteeTags = grantees
        .iter()
        .map(|(id, key)| {
            let tag = grantee_tag(key, header_bytes, &digest).expect("grantee tag");
            (*id, Bytes32::new(tag))
        })
        .collect();
    let sealed = SealedVolume {
        headers: UploadHeaders {
            vtype: vtype::VolumeType::parse(vtype_name).expect("type"),
            key_epoch: epoch,
            owner_tag: Bytes32::new(tag),
            owner_key: B64Bytes::new(wrapped.to_vec()),
            grantee_tags,
            precondition: if revision == 1 {
                Precondition::Create
            } else {
                Precondition::Replace {
                    revision: revision - 1,
                }
            },
        },
        bytes,
    };
    (sealed, digest)
}

/// The length of a sealed volume's header for a type named `vtype_name`: the bytes that
/// owner and grantee tags sign along with the digest.
#[must_use]
pub fn volume_header_len(vtype_name: &str) -> usize {
    // magic 8, version 1, id 16, type length byte, type, revision 8, epoch 8, nonce 24
    8 + 1 + 16 + 1 + vtype_name.len() + 8 + 8 + 24
}

/// Uploads a sealed volume; the response as received.
pub async fn put_volume(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    volume_id: Uuid,
    volume: &SealedVolume,
) -> reqwest::Response {
    let mut request = client
        .put(format!("{base}/v1/volumes/{volume_id}"))
        .bearer_auth(token)
        .body(volume.bytes.clone());
    for (name, value) in volume.headers.to_pairs() {
        request = request.header(name, value);
    }
    request.send().await.expect("upload")
}
