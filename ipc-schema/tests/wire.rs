//! Wire-shape tests through the public API: the exact JSON of key messages, the NATS names
//! and property tests of the encodings, so the contract cannot drift silently.

use plog_ipc_schema::http::auth::{ChallengeRequest, ChallengeResponse};
use plog_ipc_schema::http::events::{Event, NewMail, VolumeUpdated};
use plog_ipc_schema::http::headers::{GranteeTags, UploadHeaders};
use plog_ipc_schema::http::mailbox::MailPostRequest;
use plog_ipc_schema::nats::{AuditEvent, KvBucket, Names};
use plog_ipc_schema::{Bytes32, ErrorBody, ErrorCode, Handle, PublicKeyB64, VolumeType};
use proptest::prelude::*;
use uuid::Uuid;

const USER: Uuid = Uuid::from_u128(0x5e5e_5e5e_0000_4000_8000_0000_0000_0001);

#[test]
fn error_body_is_code_and_message() {
    let body = ErrorBody::new(
        ErrorCode::EpochFenced,
        "upload under epoch 2, volume is at 3",
    );
    assert_eq!(
        serde_json::to_value(&body).expect("serialize"),
        serde_json::json!({"code": "epoch_fenced", "message": "upload under epoch 2, volume is at 3"})
    );
    assert_eq!(body.http_status(), 409);
    let parsed: ErrorBody =
        serde_json::from_str(r#"{"code":"not_activated","message":"answer a challenge first"}"#)
            .expect("parse");
    assert_eq!(parsed.code, ErrorCode::NotActivated);
    assert_eq!(parsed.http_status(), 403);
    assert!(
        serde_json::from_str::<ErrorBody>(r#"{"code":"NOT_FOUND","message":""}"#).is_err(),
        "codes are snake_case only"
    );
}

#[test]
fn challenge_round_is_exact() {
    let request: ChallengeRequest =
        serde_json::from_str(r#"{"public_key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}"#)
            .expect("parse");
    assert_eq!(
        request,
        ChallengeRequest::PublicKey(PublicKeyB64::new([1; 32]))
    );

    let response = ChallengeResponse {
        challenge_id: USER,
        user_id: USER,
        enc: Bytes32::new([1; 32]),
        expires_at: 60,
    };
    assert_eq!(
        serde_json::to_value(response).expect("serialize"),
        serde_json::json!({
            "challenge_id": "5e5e5e5e-0000-4000-8000-000000000001",
            "user_id": "5e5e5e5e-0000-4000-8000-000000000001",
            "enc": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
            "expires_at": 60
        })
    );
    // Forward compatible: a relay may add fields to responses.
    let extended = r#"{"challenge_id":"5e5e5e5e-0000-4000-8000-000000000001","user_id":"5e5e5e5e-0000-4000-8000-000000000001","enc":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","expires_at":60,"hint":1}"#;
    assert_eq!(
        serde_json::from_str::<ChallengeResponse>(extended).expect("parse"),
        response
    );
    // But `enc` must be exactly 32 bytes.
    let short = extended.replace("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", "AQEB");
    assert!(serde_json::from_str::<ChallengeResponse>(&short).is_err());
}

#[test]
fn mail_route_refuses_extra_keys() {
    let extra = r#"{"envelope":"AQID","route":{"via":"handle","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#;
    assert!(serde_json::from_str::<MailPostRequest>(extra).is_err());
    let extra = r#"{"envelope":"AQID","route":{"via":"link","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","x":1}}"#;
    assert!(serde_json::from_str::<MailPostRequest>(extra).is_err());
    let plain = r#"{"envelope":"AQID","route":{"via":"handle"}}"#;
    assert!(serde_json::from_str::<MailPostRequest>(plain).is_ok());
}

#[test]
fn nats_names_are_the_documented_ones() {
    let names = Names::new("").expect("no prefix");
    assert_eq!(names.volumes_bucket(), "plog-volumes");
    assert_eq!(
        Names::volume_object(USER, 3),
        "5e5e5e5e-0000-4000-8000-000000000001/3"
    );
    assert_eq!(names.kv_bucket(KvBucket::Challenges), "plog-challenges");
    assert_eq!(names.kv_bucket(KvBucket::Sessions), "plog-sessions");
    assert_eq!(names.mailbox_stream(), "PLOG_MAILBOX");
    assert_eq!(
        names.mailbox_subject(USER),
        "plog.mailbox.5e5e5e5e-0000-4000-8000-000000000001"
    );
    assert_eq!(
        names.events_subject(USER),
        "plog.events.5e5e5e5e-0000-4000-8000-000000000001"
    );
    assert_eq!(names.audit_stream(), "PLOG_AUDIT");
    assert_eq!(
        names.audit_subject(AuditEvent::RateLimited),
        "plog.audit.rate_limited"
    );
    assert!(Names::new("Prod").is_err());
    assert!(Names::new("prod.eu").is_err());
}

#[test]
fn events_have_one_form_on_nats_and_sse() {
    let event = Event::VolumeUpdated(VolumeUpdated {
        volume_id: USER,
        owner_id: USER,
        revision: 2,
        key_epoch: 1,
    });
    let nats_body = serde_json::to_value(event).expect("serialize");
    assert_eq!(nats_body["kind"], "volume_updated");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&event.sse_data().expect("data")).expect("json"),
        nats_body["data"]
    );
    assert_eq!(
        Event::from_sse("new_mail", r#"{"seq":1}"#).expect("parse"),
        Event::NewMail(NewMail { seq: 1 })
    );
}

fn uuid_strategy() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn grantee_tags_round_trip(
        entries in proptest::collection::vec(
            (uuid_strategy(), proptest::array::uniform32(any::<u8>())),
            0..8,
        )
    ) {
        let tags: GranteeTags = entries
            .into_iter()
            .map(|(id, tag)| (id, Bytes32::new(tag)))
            .collect();
        let value = tags.to_header_value();
        prop_assert_eq!(GranteeTags::parse([value.as_str()]).expect("parse"), tags);
    }

    #[test]
    fn valid_handles_and_types_round_trip(text in "[a-z][a-z0-9_-]{2,31}") {
        let handle = Handle::parse(&text).expect("valid handle");
        let json = serde_json::to_string(&handle).expect("serialize");
        prop_assert_eq!(serde_json::from_str::<Handle>(&json).expect("deserialize"), handle);
        let vtype = VolumeType::parse(&text).expect("valid type");
        prop_assert_eq!(vtype.as_str(), text.as_str());
    }

    #[test]
    fn upload_header_parsing_never_panics(
        vtype in ".{0,40}",
        epoch in ".{0,24}",
        tag in ".{0,50}",
        grantees in ".{0,120}",
        if_match in ".{0,12}",
    ) {
        let pairs = [
            ("x-plog-volume-type", vtype),
            ("x-plog-key-epoch", epoch),
            ("x-plog-owner-tag", tag),
            ("x-plog-grantee-tags", grantees),
            ("if-match", if_match),
        ];
        let _ = UploadHeaders::parse(|name| {
            pairs
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        });
    }
}
