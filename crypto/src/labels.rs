//! Every domain-separation label of the protocol, in one place.
//!
//! Labels are ASCII, start with `plog/v1/` and are always written as the first length-prefixed
//! field of a derivation, HPKE `info`, HPKE `aad`, exporter context or MAC input. A label names
//! one construction; where a construction has several inputs (an HPKE `info` and `aad`, a key
//! derivation and the associated data under that key) they share its label, and the table in
//! `docs/PROTOCOL.md` lists every use.

/// HKDF info label of the per-relay identity key.
pub const RELAY_IDENTITY: &str = "plog/v1/relay-identity";
/// HKDF info label of the key that wraps the owner's copy of each volume key.
pub const OWNER_VEK_WRAP: &str = "plog/v1/owner-vek-wrap";
/// HKDF info label of the owner's MAC key for revision tags.
pub const OWNER_TAG_KEY: &str = "plog/v1/owner-tag-key";
/// MAC input label of an owner tag.
pub const OWNER_TAG: &str = "plog/v1/owner-tag";
/// MAC input label of a grantee tag, and exporter context of the grantee tag key.
pub const GRANTEE_TAG: &str = "plog/v1/grantee-tag";
/// Associated-data label of the key file.
pub const KEY_FILE: &str = "plog/v1/key-file";
/// HPKE `info` label of envelopes (the purpose follows as its own field).
pub const ENVELOPE: &str = "plog/v1/envelope";
/// HPKE `info` and `aad` label of key blocks.
pub const KEY_BLOCK: &str = "plog/v1/key-block";
/// HPKE `info` label of the login challenge.
pub const AUTH: &str = "plog/v1/auth";
/// HPKE exporter context of the login proof.
pub const AUTH_PROOF: &str = "plog/v1/auth-proof";
/// Hash label of the stored login proof.
pub const AUTH_PROOF_HASH: &str = "plog/v1/auth-proof-hash";
/// HKDF info label of the pseudo-key a relay answers unknown accounts with.
pub const AUTH_PSEUDO_KEY: &str = "plog/v1/auth-pseudo-key";
/// HKDF info label of the pseudo user id for unknown public keys.
pub const AUTH_PSEUDO_USER: &str = "plog/v1/auth-pseudo-user";
/// Hash label of an invite locator as stored by the relay.
pub const INVITE_LOCATOR: &str = "plog/v1/invite-locator";
/// HKDF info label of an invite's HPKE pre-shared key.
pub const INVITE_PSK: &str = "plog/v1/invite-psk";
/// Hash label of a public-key fingerprint.
pub const KEY_FINGERPRINT: &str = "plog/v1/key-fingerprint";
/// Associated-data label of the first chunk of a volume.
pub const VOLUME: &str = "plog/v1/volume";
/// Hash label of a safety-number half.
pub const SAFETY_NUMBER: &str = "plog/v1/safety-number";
/// Hash of a link token, as the relay stores it.
pub const LINK_TOKEN: &str = "plog/v1/link-token";
