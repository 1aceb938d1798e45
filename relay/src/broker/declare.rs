//! Every JetStream object the relay uses, declared in one place (DESIGN §4.2).
//!
//! The relay creates the streams behind its buckets itself instead of calling
//! `create_key_value` / `create_object_store`: async-nats 0.51's `create_key_value` asks for
//! account information that NATS 2.9 (Debian's `nats-server` 2.9.10) answers in a shape the
//! client cannot parse. A stream created here has exactly the layout those helpers would create
//! (`KV_<bucket>` with subjects `$KV.<bucket>.>`; `OBJ_<bucket>` with `$O.<bucket>.C.>` and
//! `$O.<bucket>.M.>`), so the buckets are opened with the ordinary `get_key_value` /
//! `get_object_store` and stay readable by any NATS tool, on 2.9 and on 2.10+ alike.
//!
//! Creating is idempotent and safe when several relay instances start at once: an existing
//! stream is opened; if its TTL or history differ from the configured ones they are updated
//! (the TTL is the relay's configuration, not the stream's); a stream of the same name with
//! other subjects is refused rather than changed.

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use async_nats::jetstream::{self, kv, object_store};
use plog_ipc_schema::nats::{KvBucket, Names};

use super::error::BrokerError;
use super::mailbox::{HEADER_ALLOWANCE, MailboxLimits};

/// What [`declare`] needs besides the names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lifetimes {
    pub(super) challenge_ttl: Duration,
    pub(super) session_ttl: Duration,
    pub(super) replicas: usize,
    pub(super) mailbox: MailboxLimits,
}

/// The opened buckets.
pub(super) struct Declared {
    pub(super) volumes: object_store::ObjectStore,
    /// The stream behind `volumes` (the object store handle does not expose its own).
    pub(super) volumes_stream: stream::Stream,
    pub(super) challenges: kv::Store,
    pub(super) sessions: kv::Store,
    pub(super) mailbox: stream::Stream,
}

/// Name of the stream behind an object store bucket.
pub(super) fn object_stream_name(bucket: &str) -> String {
    format!("OBJ_{bucket}")
}

/// The stream behind the volume object store.
pub(super) fn volumes_stream_config(names: &Names, replicas: usize) -> stream::Config {
    let bucket = names.volumes_bucket();
    stream::Config {
        name: object_stream_name(&bucket),
        description: Some("PluralLog volume ciphertext (object store)".to_owned()),
        subjects: vec![format!("$O.{bucket}.C.>"), format!("$O.{bucket}.M.>")],
        storage: StorageType::File,
        num_replicas: replicas.max(1),
        discard: DiscardPolicy::New,
        allow_rollup: true,
        allow_direct: true,
        ..Default::default()
    }
}

/// The stream behind a KV bucket: one value per key (history 1), entries expire after `ttl`.
pub(super) fn kv_stream_config(
    names: &Names,
    bucket: KvBucket,
    ttl: Duration,
    replicas: usize,
) -> stream::Config {
    let description = match bucket {
        KvBucket::Challenges => "PluralLog login challenges (single use)",
        KvBucket::Sessions => "PluralLog sessions (token hash -> session)",
    };
    stream::Config {
        name: names.kv_stream(bucket),
        description: Some(description.to_owned()),
        subjects: vec![names.kv_stream_subjects(bucket)],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: StorageType::File,
        num_replicas: replicas.max(1),
        discard: DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        ..Default::default()
    }
}

/// The mailbox stream: one subject per recipient, limited per subject; a full subject refuses
/// new messages rather than dropping old ones.
pub(super) fn mailbox_stream_config(
    names: &Names,
    limits: &MailboxLimits,
    replicas: usize,
) -> stream::Config {
    let max_message_size = limits
        .max_envelope_bytes
        .saturating_add(HEADER_ALLOWANCE)
        .try_into()
        .unwrap_or(i32::MAX);
    stream::Config {
        name: names.mailbox_stream(),
        description: Some("PluralLog mailboxes (sealed envelopes per recipient)".to_owned()),
        subjects: vec![names.mailbox_subjects()],
        max_age: limits.retention,
        max_messages_per_subject: i64::from(limits.max_per_recipient),
        max_message_size,
        storage: StorageType::File,
        num_replicas: replicas.max(1),
        discard: DiscardPolicy::New,
        discard_new_per_subject: true,
        deny_delete: false,
        deny_purge: false,
        ..Default::default()
    }
}

/// Creates (or opens) every bucket the relay uses.
pub(super) async fn declare(
    js: &jetstream::Context,
    names: &Names,
    lifetimes: Lifetimes,
) -> Result<Declared, BrokerError> {
    for (what, ttl) in [
        ("challenge", lifetimes.challenge_ttl),
        ("session", lifetimes.session_ttl),
    ] {
        if ttl < Duration::from_secs(1) {
            return Err(BrokerError::Config(format!(
                "the {what} lifetime must be at least one second"
            )));
        }
    }
    if lifetimes.mailbox.retention < Duration::from_secs(1) {
        return Err(BrokerError::Config(
            "the mailbox retention must be at least one second".to_owned(),
        ));
    }
    if lifetimes.mailbox.max_per_recipient == 0 {
        return Err(BrokerError::Config(
            "a mailbox must hold at least one message".to_owned(),
        ));
    }

    let volumes_stream =
        ensure_stream(js, volumes_stream_config(names, lifetimes.replicas)).await?;
    for (bucket, ttl) in [
        (KvBucket::Challenges, lifetimes.challenge_ttl),
        (KvBucket::Sessions, lifetimes.session_ttl),
    ] {
        ensure_stream(js, kv_stream_config(names, bucket, ttl, lifetimes.replicas)).await?;
    }
    let mailbox = ensure_stream(
        js,
        mailbox_stream_config(names, &lifetimes.mailbox, lifetimes.replicas),
    )
    .await?;

    let volumes = js
        .get_object_store(names.volumes_bucket())
        .await
        .map_err(|err| open_error("object store", &names.volumes_bucket(), err))?;
    let challenges = open_kv(js, names, KvBucket::Challenges).await?;
    let sessions = open_kv(js, names, KvBucket::Sessions).await?;
    Ok(Declared {
        volumes,
        volumes_stream,
        challenges,
        sessions,
        mailbox,
    })
}

async fn open_kv(
    js: &jetstream::Context,
    names: &Names,
    bucket: KvBucket,
) -> Result<kv::Store, BrokerError> {
    let name = names.kv_bucket(bucket);
    js.get_key_value(name.as_str())
        .await
        .map_err(|err| open_error("key-value bucket", &name, err))
}

fn open_error(what: &str, name: &str, err: impl std::error::Error) -> BrokerError {
    BrokerError::unavailable(format!("opening {what} {name}: {}", chain(&err)))
}

/// Opens the stream `wanted.name`, creating it if missing and bringing its TTL and history
/// in line with `wanted` if they differ.
async fn ensure_stream(
    js: &jetstream::Context,
    wanted: stream::Config,
) -> Result<stream::Stream, BrokerError> {
    let existing = match js.get_stream(&wanted.name).await {
        Ok(existing) => existing,
        Err(err) => match err.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                return create_stream(js, wanted).await;
            }
            GetStreamErrorKind::JetStream(js_err) => {
                return Err(BrokerError::Config(format!(
                    "JetStream refused to describe stream {}: {js_err}; is JetStream enabled \
                     on the server (nats-server -js)?",
                    wanted.name
                )));
            }
            _ => {
                return Err(BrokerError::unavailable(format!(
                    "looking up stream {}: {}",
                    wanted.name,
                    chain(&err)
                )));
            }
        },
    };
    reconcile(js, existing, wanted).await
}

async fn create_stream(
    js: &jetstream::Context,
    wanted: stream::Config,
) -> Result<stream::Stream, BrokerError> {
    let name = wanted.name.clone();
    match js.create_stream(wanted.clone()).await {
        Ok(created) => {
            tracing::info!(stream = %name, "created JetStream stream");
            Ok(created)
        }
        Err(err) => match err.kind() {
            // Another relay instance created it in the meantime.
            CreateStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NAME_EXIST =>
            {
                let existing = js.get_stream(&name).await.map_err(|err| {
                    BrokerError::unavailable(format!("opening stream {name}: {}", chain(&err)))
                })?;
                reconcile(js, existing, wanted).await
            }
            CreateStreamErrorKind::JetStream(js_err) => Err(BrokerError::Config(format!(
                "JetStream refused to create stream {name}: {js_err}"
            ))),
            CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => Err(
                BrokerError::unavailable(format!("creating stream {name}: {}", chain(&err))),
            ),
            _ => Err(BrokerError::unavailable(format!(
                "creating stream {name}: {}",
                chain(&err)
            ))),
        },
    }
}

/// Checks an existing stream against the declaration; updates TTL, history, message size and
/// the per-subject discard rule if they differ.
async fn reconcile(
    js: &jetstream::Context,
    existing: stream::Stream,
    wanted: stream::Config,
) -> Result<stream::Stream, BrokerError> {
    let have = &existing.cached_info().config;
    let mut have_subjects = have.subjects.clone();
    let mut want_subjects = wanted.subjects.clone();
    have_subjects.sort();
    want_subjects.sort();
    if have_subjects != want_subjects {
        return Err(BrokerError::Config(format!(
            "stream {} exists with subjects {:?}, expected {:?}; it belongs to something else \
             (choose another prefix) or must be removed",
            wanted.name, have.subjects, wanted.subjects
        )));
    }
    if have.num_replicas != wanted.num_replicas {
        tracing::info!(
            stream = %wanted.name,
            existing = have.num_replicas,
            configured = wanted.num_replicas,
            "keeping the existing replica count of a JetStream stream"
        );
    }
    // The server reports an unset limit as -1; the declaration leaves it at 0.
    if have.max_age == wanted.max_age
        && limit(have.max_messages_per_subject) == limit(wanted.max_messages_per_subject)
        && limit(have.max_message_size.into()) == limit(wanted.max_message_size.into())
        && have.discard_new_per_subject == wanted.discard_new_per_subject
    {
        return Ok(existing);
    }

    let mut updated = have.clone();
    updated.max_age = wanted.max_age;
    updated.max_messages_per_subject = wanted.max_messages_per_subject;
    updated.max_message_size = wanted.max_message_size;
    updated.discard_new_per_subject = wanted.discard_new_per_subject;
    // The server refuses a duplicate window longer than the maximum age.
    if !wanted.max_age.is_zero() && updated.duplicate_window > wanted.max_age {
        updated.duplicate_window = wanted.max_age;
    }
    let name = wanted.name.clone();
    js.update_stream(updated).await.map_err(|err| {
        BrokerError::Config(format!(
            "updating TTL/history of stream {name}: {}",
            chain(&err)
        ))
    })?;
    tracing::info!(
        stream = %name,
        max_age = ?wanted.max_age,
        "updated JetStream stream to the configured lifetime"
    );
    js.get_stream(&name)
        .await
        .map_err(|err| BrokerError::unavailable(format!("opening stream {name}: {}", chain(&err))))
}

/// A stream limit with "unlimited" spelled one way.
fn limit(value: i64) -> i64 {
    if value <= 0 { -1 } else { value }
}

/// `err` and its sources, joined by `: `.
pub(super) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
