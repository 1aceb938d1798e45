//! Volumes: `GET /v1/volumes`, `PUT|GET|HEAD|DELETE /v1/volumes/{id}`.
//!
//! Upload commit rule: the body streams into a new object under a fresh key → its header and
//! size are checked on the way (the object store records its SHA-256) → one SQL transaction moves the revision (compare-and-swap
//! on `If-Match`, epoch fencing, quota) and queues the replaced object for deletion. A crash at
//! any point leaves at most an orphan object, never a row that points at missing data.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use plog_crypto::volume::{VolumeHeader, VolumeType, WRAPPED_KEY_LEN};
use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::http::headers::{
    self, DownloadHeaders, HeaderError, Precondition, ReaderMaterial, UploadHeaders,
};
use plog_ipc_schema::http::volumes::{RevisionResponse, VolumeEntry, VolumeListing, VolumeRole};
use tokio_util::io::StreamReader;
use uuid::Uuid;

use super::error::ApiError;
use super::session::Session;
use super::upload::CheckedUpload;
use crate::db::{VolumeAccess, VolumeCommit, VolumeRow};
use crate::state::{SharedState, now_secs};

/// Every value of one request header, refusing values that are not visible ASCII.
fn header_values<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Vec<&'a str>, ApiError> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request(format!("header {name} is not ASCII")))
        })
        .collect()
}

fn parse_upload_headers(headers: &HeaderMap) -> Result<UploadHeaders, ApiError> {
    let mut bad = None;
    let parsed = UploadHeaders::parse(|name| match header_values(headers, name) {
        Ok(values) => values,
        Err(error) => {
            bad = Some(error);
            Vec::new()
        }
    });
    if let Some(error) = bad {
        return Err(error);
    }
    parsed.map_err(header_error)
}

fn header_error(error: HeaderError) -> ApiError {
    ApiError::bad_request(error.to_string())
}

pub(crate) async fn list(
    State(state): State<SharedState>,
    session: Session,
) -> Result<Json<VolumeListing>, ApiError> {
    let rows = state.db.volumes_for(session.account.user_id).await?;
    let volumes = rows
        .into_iter()
        .map(|(row, access)| entry(row, &access))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(VolumeListing { volumes }))
}

fn entry(row: VolumeRow, access: &VolumeAccess) -> Result<VolumeEntry, ApiError> {
    let (role, own_tag, has_key_block) = match access {
        VolumeAccess::Owner => (VolumeRole::Owner, tag32(&row.owner_tag)?, false),
        VolumeAccess::Grantee { tag, .. } => (
            VolumeRole::Grantee,
            tag.as_deref().map(tag32).transpose()?.flatten(),
            true,
        ),
    };
    Ok(VolumeEntry {
        volume_id: row.volume_id,
        owner_id: row.owner_id,
        vtype: plog_ipc_schema::vtype::VolumeType::parse(&row.vtype)
            .map_err(|e| ApiError::internal("listing volumes", &e))?,
        revision: row.revision,
        key_epoch: row.key_epoch,
        padded_size: row.size,
        updated_at: u64::try_from(row.updated_at).unwrap_or(0),
        role,
        own_tag,
        has_key_block,
    })
}

fn tag32(bytes: &[u8]) -> Result<Option<Bytes32>, ApiError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ApiError::internal("reading a stored tag", &"wrong length"))?;
    Ok(Some(Bytes32::new(array)))
}

pub(crate) async fn put(
    State(state): State<SharedState>,
    session: Session,
    Path(volume_id): Path<Uuid>,
    request_headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let upload = parse_upload_headers(&request_headers)?;
    let revision = upload.precondition.new_revision().map_err(header_error)?;
    if upload.owner_key.len() != WRAPPED_KEY_LEN {
        return Err(ApiError::bad_request(format!(
            "{} must hold the {WRAPPED_KEY_LEN}-byte wrapped volume key",
            headers::OWNER_KEY
        )));
    }
    if !upload.vtype.is_grantable() && !upload.grantee_tags.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{} volumes are never shared and take no grantee tags",
            upload.vtype
        )));
    }
    let max = state.config.limits.max_volume_bytes;
    let length = content_length(&request_headers)?;
    if let Some(length) = length
        && length > max
    {
        return Err(ApiError::new(
            plog_ipc_schema::error::ErrorCode::TooLarge,
            format!("volume is larger than this relay's limit of {max} bytes"),
        ));
    }
    let owner = session.account.user_id;
    // Refusals that need no bytes are checked before any byte is stored, so that a large
    // upload that cannot commit is refused at once. For a small body, storing and discarding
    // it costs less than this extra read costs every upload: it is checked only when the
    // upload fails, and the client gets the same answer either way.
    let checked_early = length.is_none_or(|length| length > SMALL_BODY);
    if checked_early
        && let Some(refused) = refuse_early(
            &state,
            volume_id,
            owner,
            upload.precondition,
            upload.key_epoch,
        )
        .await?
    {
        return Err(refused);
    }
    // The answer for an upload that failed with `error`, as if the early checks had run (if
    // they cannot run now, `error` it is).
    let refusal = async |error: ApiError| -> ApiError {
        if checked_early {
            return error;
        }
        match refuse_early(
            &state,
            volume_id,
            owner,
            upload.precondition,
            upload.key_epoch,
        )
        .await
        {
            Ok(Some(refused)) => refused,
            Ok(None) | Err(_) => error,
        }
    };

    let expected = VolumeHeader {
        volume_id: *volume_id.as_bytes(),
        vtype: VolumeType::new(upload.vtype.as_str())
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        revision,
        key_epoch: upload.key_epoch,
    };
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let mut reader = CheckedUpload::new(StreamReader::new(stream), expected, max);
    let object_key = format!("{volume_id}/{revision}/{}", Uuid::new_v4().simple());
    let stored = state
        .broker
        .put_fresh_object(&object_key, &mut reader)
        .await;
    if let Some(refused) = reader.take_failure() {
        discard(&state, &object_key).await;
        return Err(refusal(refused).await);
    }
    let stored = match stored {
        Ok(stored) => stored,
        Err(error) => {
            discard(&state, &object_key).await;
            return Err(refusal(error.into()).await);
        }
    };
    let received = reader.received();
    if stored.size != received {
        discard(&state, &object_key).await;
        return Err(refusal(ApiError::internal(
            "storing a volume",
            &"object size differs from the body",
        ))
        .await);
    }
    let commit = VolumeCommit {
        volume_id,
        owner_id: owner,
        vtype: upload.vtype.as_str().to_owned(),
        new_revision: revision,
        expected: upload.precondition,
        key_epoch: upload.key_epoch,
        size: received,
        object_key: object_key.clone(),
        digest: stored.sha256,
        owner_tag: upload.owner_tag.as_bytes().to_vec(),
        owner_key: upload.owner_key.as_bytes().to_vec(),
        grantee_tags: upload
            .grantee_tags
            .iter()
            .map(|(id, tag)| (*id, tag.as_bytes().to_vec()))
            .collect(),
        quota_bytes: state.config.limits.quota_bytes,
        now: now_secs() as i64,
    };
    if let Err(error) = state.db.commit_volume(&commit).await {
        discard(&state, &object_key).await;
        return Err(refusal(error.into()).await);
    }
    state.purge.notify_one();
    tracing::info!(%volume_id, revision, size = received, "volume stored");
    super::grants::announce(
        &state,
        plog_ipc_schema::http::events::VolumeUpdated {
            volume_id,
            owner_id: owner,
            revision,
            key_epoch: upload.key_epoch,
        },
        None,
    );
    let status = match upload.precondition {
        Precondition::Create => StatusCode::CREATED,
        Precondition::Replace { .. } => StatusCode::OK,
    };
    let mut response = (
        status,
        Json(RevisionResponse {
            volume_id,
            revision,
        }),
    )
        .into_response();
    insert(&mut response, headers::ETAG, &headers::etag(revision))?;
    Ok(response)
}

/// Bodies up to this size (by `Content-Length`) skip the early refusal checks of an upload.
const SMALL_BODY: u64 = 64 * 1024;

/// The checks of an upload that need no bytes: the volume belongs to someone else (404), the
/// precondition is stale (409), or the key epoch is older than the stored one (409). `Ok(None)`
/// if none refuses; `Err` if the volume row could not be read.
async fn refuse_early(
    state: &SharedState,
    volume_id: Uuid,
    owner: Uuid,
    precondition: Precondition,
    key_epoch: u64,
) -> Result<Option<ApiError>, ApiError> {
    let Some(current) = state.db.volume(volume_id).await? else {
        return Ok(match precondition {
            Precondition::Create => None,
            Precondition::Replace { .. } => {
                Some(crate::db::DbError::RevisionConflict { current: None }.into())
            }
        });
    };
    if current.owner_id != owner {
        return Ok(Some(ApiError::not_found()));
    }
    let stale = match precondition {
        Precondition::Create => true,
        Precondition::Replace { revision } => revision != current.revision,
    };
    if stale {
        return Ok(Some(
            crate::db::DbError::RevisionConflict {
                current: Some(current.revision),
            }
            .into(),
        ));
    }
    if key_epoch < current.key_epoch {
        return Ok(Some(
            crate::db::DbError::EpochFenced {
                current: current.key_epoch,
            }
            .into(),
        ));
    }
    Ok(None)
}

/// Best-effort removal of an object no row points at; cleanup finds it if this fails.
async fn discard(state: &SharedState, object_key: &str) {
    if let Err(error) = state.broker.delete_fresh_object(object_key).await {
        tracing::warn!(%error, "could not remove an uncommitted upload; cleanup will");
    }
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("invalid Content-Length"))
        })
        .transpose()
}

fn insert(response: &mut Response, name: &'static str, value: &str) -> Result<(), ApiError> {
    let value =
        HeaderValue::from_str(value).map_err(|e| ApiError::internal("building a response", &e))?;
    response
        .headers_mut()
        .insert(HeaderName::from_static(name), value);
    Ok(())
}

/// The volume and what the caller may read of it; 404 for anyone else.
async fn readable(
    state: &SharedState,
    session: &Session,
    volume_id: Uuid,
) -> Result<(VolumeRow, ReaderMaterial), ApiError> {
    let (row, access) = state
        .db
        .volume_access(volume_id, session.account.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let material = match access {
        VolumeAccess::Owner => ReaderMaterial::Owner {
            owner_tag: tag32(&row.owner_tag)?.ok_or_else(ApiError::not_found)?,
            owner_key: B64Bytes::new(row.owner_key.clone()),
        },
        VolumeAccess::Grantee {
            key_block,
            key_epoch,
            tag,
        } => {
            // A grantee without a tag on this revision or a key block for its epoch cannot
            // verify or open it: as far as it is concerned the volume is not there.
            let Some(tag) = tag.filter(|_| key_epoch == row.key_epoch) else {
                return Err(ApiError::not_found());
            };
            ReaderMaterial::Grantee {
                grantee_tag: tag32(&tag)?.ok_or_else(ApiError::not_found)?,
                key_block: B64Bytes::new(key_block),
            }
        }
    };
    Ok((row, material))
}

fn download_headers(
    row: &VolumeRow,
    reader: ReaderMaterial,
    response: &mut Response,
) -> Result<(), ApiError> {
    let headers = DownloadHeaders {
        revision: row.revision,
        vtype: plog_ipc_schema::vtype::VolumeType::parse(&row.vtype)
            .map_err(|e| ApiError::internal("reading a volume", &e))?,
        key_epoch: row.key_epoch,
        owner_id: row.owner_id,
        reader,
    };
    for (name, value) in headers.to_pairs() {
        insert(response, name, &value)?;
    }
    insert(response, "content-type", headers::OCTET_STREAM)?;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(row.size));
    Ok(())
}

pub(crate) async fn get(
    State(state): State<SharedState>,
    session: Session,
    Path(volume_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let (row, material) = readable(&state, &session, volume_id).await?;
    let object = state
        .broker
        .get_object(&row.object_key)
        .await?
        .ok_or_else(|| ApiError::internal("reading a volume", &"committed object is missing"))?;
    // Each stored chunk goes to the body as it came from the broker, without a copy.
    let mut response = Body::from_stream(object).into_response();
    download_headers(&row, material, &mut response)?;
    Ok(response)
}

pub(crate) async fn head(
    State(state): State<SharedState>,
    session: Session,
    Path(volume_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let (row, material) = readable(&state, &session, volume_id).await?;
    let mut response = StatusCode::OK.into_response();
    download_headers(&row, material, &mut response)?;
    Ok(response)
}

pub(crate) async fn delete(
    State(state): State<SharedState>,
    session: Session,
    Path(volume_id): Path<Uuid>,
    request_headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = match header_values(&request_headers, headers::IF_MATCH)?.as_slice() {
        [] => None,
        [value] => {
            Some(headers::parse_etag(headers::IF_MATCH, value.trim()).map_err(header_error)?)
        }
        _ => return Err(ApiError::bad_request("If-Match given more than once")),
    };
    // Read first: the deletion takes the grants, and with them whom to tell, along.
    let readers =
        super::grants::readers_before_delete(&state, volume_id, session.account.user_id).await;
    state
        .db
        .delete_volume(
            volume_id,
            session.account.user_id,
            expected,
            now_secs() as i64,
        )
        .await?;
    state.purge.notify_one();
    tracing::info!(%volume_id, "volume deleted");
    super::grants::announce_deleted(&state, readers);
    Ok(StatusCode::NO_CONTENT)
}
