//! The relay's NATS JetStream names (DESIGN §4.2), all under one configurable prefix.
//!
//! Clients never talk to NATS; these names are shared by every relay instance of a deployment
//! (and by operators' tooling). Subjects are built only from parsed [`Uuid`]s and the closed
//! [`AuditEvent`] enum, never from request text, so no token such as `*`, `>` or `.` can be
//! injected.
//!
//! With the empty prefix the names are exactly DESIGN's:
//!
//! | what | name |
//! |---|---|
//! | volume ciphertext | object store bucket `plog-volumes`, object `<volume_id>/<revision>` |
//! | challenges | KV bucket `plog-challenges`, key `<challenge_id>` |
//! | sessions | KV bucket `plog-sessions`, key `<base64url token hash>` |
//! | mailbox | stream `PLOG_MAILBOX`, subjects `plog.mailbox.<user_id>` |
//! | live events | core subject `plog.events.<user_id>` |
//! | audit | stream `PLOG_AUDIT`, subjects `plog.audit.<event>` |
//!
//! A prefix `p` (lower-case letters, digits, `-`) becomes `p-` before bucket names, `P_`
//! (upper-cased) before stream names and `p.` before subjects: `acme` gives bucket
//! `acme-plog-volumes`, stream `ACME_PLOG_MAILBOX`, subject `acme.plog.mailbox.<user_id>`.
//! Because the prefix cannot contain `_` or `.`, two different prefixes never produce the
//! same name.

use std::fmt;

use uuid::Uuid;

use crate::encoding::Bytes32;

/// Longest accepted prefix, in characters.
pub const MAX_PREFIX_LEN: usize = 32;

/// Why a prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// Longer than [`MAX_PREFIX_LEN`].
    #[error("a NATS name prefix has at most {MAX_PREFIX_LEN} characters")]
    TooLong,
    /// Holds a character other than `a-z`, `0-9`, `-`.
    #[error("a NATS name prefix may contain only a-z, 0-9 and '-'")]
    Character,
    /// Starts or ends with `-`.
    #[error("a NATS name prefix cannot start or end with '-'")]
    Hyphen,
}

/// The events written to the audit stream, one subject token each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditEvent {
    /// A challenge was issued.
    Challenge,
    /// A challenge answer failed.
    AuthFailure,
    /// A session was issued.
    AuthSuccess,
    /// An account was registered.
    Registration,
    /// A request was refused by a rate limit.
    RateLimited,
    /// A handle was looked up.
    HandleLookup,
    /// An invite was looked up.
    InviteLookup,
    /// An invite was redeemed.
    InviteRedeemed,
    /// A volume revision was stored (storage growth).
    Upload,
    /// An account was deleted (by its user or the operator).
    AccountDeleted,
    /// Sessions were invalidated in bulk.
    SessionsInvalidated,
}

impl AuditEvent {
    /// Every audit event.
    pub const ALL: [Self; 11] = [
        Self::Challenge,
        Self::AuthFailure,
        Self::AuthSuccess,
        Self::Registration,
        Self::RateLimited,
        Self::HandleLookup,
        Self::InviteLookup,
        Self::InviteRedeemed,
        Self::Upload,
        Self::AccountDeleted,
        Self::SessionsInvalidated,
    ];

    /// The subject token, e.g. `auth_failure`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Challenge => "challenge",
            Self::AuthFailure => "auth_failure",
            Self::AuthSuccess => "auth_success",
            Self::Registration => "registration",
            Self::RateLimited => "rate_limited",
            Self::HandleLookup => "handle_lookup",
            Self::InviteLookup => "invite_lookup",
            Self::InviteRedeemed => "invite_redeemed",
            Self::Upload => "upload",
            Self::AccountDeleted => "account_deleted",
            Self::SessionsInvalidated => "sessions_invalidated",
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two KV buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvBucket {
    /// `plog-challenges`: challenge id → stored proof hash; TTL = challenge lifetime.
    Challenges,
    /// `plog-sessions`: token hash → session; TTL = session lifetime.
    Sessions,
}

impl KvBucket {
    const fn base(self) -> &'static str {
        match self {
            Self::Challenges => "plog-challenges",
            Self::Sessions => "plog-sessions",
        }
    }
}

/// All JetStream names of one deployment, built from its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    bucket_prefix: String,
    stream_prefix: String,
    subject_prefix: String,
}

impl Default for Names {
    /// The names with no prefix.
    fn default() -> Self {
        Self {
            bucket_prefix: String::new(),
            stream_prefix: String::new(),
            subject_prefix: String::new(),
        }
    }
}

impl Names {
    /// Builds the names under `prefix`; the empty string means no prefix.
    ///
    /// # Errors
    /// [`PrefixError`] unless the prefix is empty or 1 to [`MAX_PREFIX_LEN`] characters of
    /// `a-z`, `0-9`, `-`, neither starting nor ending with `-`.
    pub fn new(prefix: &str) -> Result<Self, PrefixError> {
        if prefix.is_empty() {
            return Ok(Self::default());
        }
        if prefix.len() > MAX_PREFIX_LEN {
            return Err(PrefixError::TooLong);
        }
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(PrefixError::Character);
        }
        if prefix.starts_with('-') || prefix.ends_with('-') {
            return Err(PrefixError::Hyphen);
        }
        Ok(Self {
            bucket_prefix: format!("{prefix}-"),
            stream_prefix: format!("{}_", prefix.to_ascii_uppercase()),
            subject_prefix: format!("{prefix}."),
        })
    }

    /// Object store bucket of volume ciphertext: `plog-volumes`.
    #[must_use]
    pub fn volumes_bucket(&self) -> String {
        format!("{}plog-volumes", self.bucket_prefix)
    }

    /// Object name of one revision: `<volume_id>/<revision>` (not prefixed: it lives inside
    /// the prefixed bucket).
    #[must_use]
    pub fn volume_object(volume_id: Uuid, revision: u64) -> String {
        format!("{volume_id}/{revision}")
    }

    /// A KV bucket's name: `plog-challenges` or `plog-sessions`.
    #[must_use]
    pub fn kv_bucket(&self, bucket: KvBucket) -> String {
        format!("{}{}", self.bucket_prefix, bucket.base())
    }

    /// The stream behind a KV bucket, `KV_<bucket>`, for servers (NATS 2.9) where the relay
    /// must create it itself.
    #[must_use]
    pub fn kv_stream(&self, bucket: KvBucket) -> String {
        format!("KV_{}", self.kv_bucket(bucket))
    }

    /// The subjects of that stream: `$KV.<bucket>.>`.
    #[must_use]
    pub fn kv_stream_subjects(&self, bucket: KvBucket) -> String {
        format!("$KV.{}.>", self.kv_bucket(bucket))
    }

    /// Key of a challenge in `plog-challenges`: the challenge id.
    #[must_use]
    pub fn challenge_key(challenge_id: Uuid) -> String {
        challenge_id.to_string()
    }

    /// Key of a session in `plog-sessions`: the token hash in base64url (KV keys allow
    /// `A-Z a-z 0-9 - _`).
    #[must_use]
    pub fn session_key(token_hash: &Bytes32) -> String {
        token_hash.to_b64()
    }

    /// Mailbox stream: `PLOG_MAILBOX`.
    #[must_use]
    pub fn mailbox_stream(&self) -> String {
        format!("{}PLOG_MAILBOX", self.stream_prefix)
    }

    /// Subject filter of the mailbox stream: `plog.mailbox.*`.
    #[must_use]
    pub fn mailbox_subjects(&self) -> String {
        format!("{}plog.mailbox.*", self.subject_prefix)
    }

    /// One user's mailbox subject: `plog.mailbox.<user_id>`.
    #[must_use]
    pub fn mailbox_subject(&self, user_id: Uuid) -> String {
        format!("{}plog.mailbox.{user_id}", self.subject_prefix)
    }

    /// One user's live event subject (core NATS): `plog.events.<user_id>`.
    #[must_use]
    pub fn events_subject(&self, user_id: Uuid) -> String {
        format!("{}plog.events.{user_id}", self.subject_prefix)
    }

    /// Audit stream: `PLOG_AUDIT`.
    #[must_use]
    pub fn audit_stream(&self) -> String {
        format!("{}PLOG_AUDIT", self.stream_prefix)
    }

    /// Subject filter of the audit stream: `plog.audit.*`.
    #[must_use]
    pub fn audit_subjects(&self) -> String {
        format!("{}plog.audit.*", self.subject_prefix)
    }

    /// One audit event's subject: `plog.audit.<event>`.
    #[must_use]
    pub fn audit_subject(&self, event: AuditEvent) -> String {
        format!("{}plog.audit.{event}", self.subject_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);

    #[test]
    fn default_names_are_the_documented_ones() {
        let names = Names::new("").expect("empty prefix");
        assert_eq!(names, Names::default());
        assert_eq!(names.volumes_bucket(), "plog-volumes");
        assert_eq!(
            Names::volume_object(USER, 7),
            "01234567-89ab-cdef-fedc-ba9876543210/7"
        );
        assert_eq!(names.kv_bucket(KvBucket::Challenges), "plog-challenges");
        assert_eq!(names.kv_bucket(KvBucket::Sessions), "plog-sessions");
        assert_eq!(names.kv_stream(KvBucket::Sessions), "KV_plog-sessions");
        assert_eq!(
            names.kv_stream_subjects(KvBucket::Challenges),
            "$KV.plog-challenges.>"
        );
        assert_eq!(
            Names::challenge_key(USER),
            "01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(
            Names::session_key(&Bytes32::new([0xff; 32])),
            "__________________________________________8"
        );
        assert_eq!(names.mailbox_stream(), "PLOG_MAILBOX");
        assert_eq!(names.mailbox_subjects(), "plog.mailbox.*");
        assert_eq!(
            names.mailbox_subject(USER),
            "plog.mailbox.01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(
            names.events_subject(USER),
            "plog.events.01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(names.audit_stream(), "PLOG_AUDIT");
        assert_eq!(names.audit_subjects(), "plog.audit.*");
        assert_eq!(
            names.audit_subject(AuditEvent::AuthFailure),
            "plog.audit.auth_failure"
        );
    }

    #[test]
    fn prefixed_names() {
        let names = Names::new("acme-2").expect("prefix");
        assert_eq!(names.volumes_bucket(), "acme-2-plog-volumes");
        assert_eq!(
            names.kv_bucket(KvBucket::Challenges),
            "acme-2-plog-challenges"
        );
        assert_eq!(
            names.kv_stream(KvBucket::Challenges),
            "KV_acme-2-plog-challenges"
        );
        assert_eq!(names.mailbox_stream(), "ACME-2_PLOG_MAILBOX");
        assert_eq!(names.audit_stream(), "ACME-2_PLOG_AUDIT");
        assert_eq!(
            names.mailbox_subject(USER),
            "acme-2.plog.mailbox.01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(names.mailbox_subjects(), "acme-2.plog.mailbox.*");
        assert_eq!(
            names.events_subject(USER),
            "acme-2.plog.events.01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(
            names.audit_subject(AuditEvent::Upload),
            "acme-2.plog.audit.upload"
        );
        assert_eq!(names.audit_subjects(), "acme-2.plog.audit.*");
    }

    #[test]
    fn audit_subject_tokens_are_single_plain_tokens() {
        let names = Names::default();
        for event in AuditEvent::ALL {
            let token = event.as_str();
            assert!(
                token.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{token}"
            );
            assert_eq!(names.audit_subject(event), format!("plog.audit.{token}"));
        }
    }

    #[test]
    fn rejects_invalid_prefixes() {
        assert_eq!(Names::new("Acme"), Err(PrefixError::Character));
        assert_eq!(Names::new("a.b"), Err(PrefixError::Character));
        assert_eq!(Names::new("a_b"), Err(PrefixError::Character));
        assert_eq!(Names::new("a*"), Err(PrefixError::Character));
        assert_eq!(Names::new("a>"), Err(PrefixError::Character));
        assert_eq!(Names::new("a b"), Err(PrefixError::Character));
        assert_eq!(Names::new("-a"), Err(PrefixError::Hyphen));
        assert_eq!(Names::new("a-"), Err(PrefixError::Hyphen));
        assert_eq!(Names::new(&"a".repeat(33)), Err(PrefixError::TooLong));
        assert!(Names::new(&"a".repeat(32)).is_ok());
    }
}
