//! Headers of volume uploads and downloads (`PUT|GET|HEAD /v1/volumes/{id}`).
//!
//! Names are given in lower case, the form `http::HeaderName::from_static` requires; HTTP
//! header names are case-insensitive, so `X-Plog-Volume-Type` on the wire is the same header.
//!
//! Upload (`PUT`, body = the volume ciphertext, `application/octet-stream`):
//! - `X-Plog-Volume-Type: <type>` ([`crate::vtype::VolumeType`]).
//! - `X-Plog-Key-Epoch: <decimal u64>`.
//! - `X-Plog-Owner-Tag: <base64url, 32 bytes>`: the owner's MAC over header and ciphertext hash.
//! - `X-Plog-Grantee-Tags: <user_id>=<base64url tag>, <user_id>=<base64url tag>, …`: one entry
//!   per grantee of the new revision, as an HTTP list (RFC 9110 §5.6.1). The header may be
//!   repeated or omitted (no grantees); lines are joined as one list. Neither UUIDs nor unpadded
//!   base64url contain `,` or `=`, so the split is unambiguous. A user id may appear once.
//! - Exactly one precondition: `If-None-Match: *` to create (new revision 1), or
//!   `If-Match: "<revision>"` to replace (new revision = that + 1, which must equal the revision
//!   inside the volume header).
//!
//! Download (`GET`/`HEAD` response):
//! - `ETag: "<revision>"`, `X-Plog-Volume-Type`, `X-Plog-Key-Epoch`, `X-Plog-Owner-Id`.
//! - To the owner: `X-Plog-Owner-Tag`. To a grantee: its own `X-Plog-Grantee-Tag` and its
//!   `X-Plog-Key-Block` (base64url) for the current epoch. Nobody gets another reader's tag.
//!
//! Entity tags are the decimal revision in double quotes (RFC 9110 §8.8.3); digits without
//! quotes are refused so that one spelling exists.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::encoding::{B64Bytes, Bytes32, DecodeError};
use crate::vtype::{VolumeType, VolumeTypeError};

/// `X-Plog-Volume-Type`.
pub const VOLUME_TYPE: &str = "x-plog-volume-type";
/// `X-Plog-Key-Epoch`.
pub const KEY_EPOCH: &str = "x-plog-key-epoch";
/// `X-Plog-Owner-Tag`.
pub const OWNER_TAG: &str = "x-plog-owner-tag";
/// `X-Plog-Owner-Key` (upload, and download by the owner: the owner's wrapped volume key).
pub const OWNER_KEY: &str = "x-plog-owner-key";
/// `X-Plog-Grantee-Tags` (upload: every grantee's tag).
pub const GRANTEE_TAGS: &str = "x-plog-grantee-tags";
/// `X-Plog-Grantee-Tag` (download: the reading grantee's own tag).
pub const GRANTEE_TAG: &str = "x-plog-grantee-tag";
/// `X-Plog-Key-Block` (download: the reading grantee's key block).
pub const KEY_BLOCK: &str = "x-plog-key-block";
/// `X-Plog-Owner-Id` (download: the volume owner's user id).
pub const OWNER_ID: &str = "x-plog-owner-id";
/// `ETag`.
pub const ETAG: &str = "etag";
/// `If-Match`.
pub const IF_MATCH: &str = "if-match";
/// `If-None-Match`.
pub const IF_NONE_MATCH: &str = "if-none-match";
/// `Retry-After` (seconds), sent with every `429`.
pub const RETRY_AFTER: &str = "retry-after";
/// The `If-None-Match` value that means "create, must not exist".
pub const ANY: &str = "*";
/// Content type of volume bodies.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// Content type of `GET /v1/events`.
pub const EVENT_STREAM: &str = "text/event-stream";

/// Why a header value was refused (relay error code `bad_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A required header is absent.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// A single-valued header appears more than once.
    #[error("header {0} given more than once")]
    Repeated(&'static str),
    /// Both or neither of `If-Match` and `If-None-Match`.
    #[error("give exactly one of If-None-Match: * (create) and If-Match: \"REVISION\" (replace)")]
    Precondition,
    /// A number that is not plain decimal digits (no sign, no leading zeros, fits u64).
    #[error("header {0} must be a plain decimal number")]
    Number(&'static str),
    /// A value that is not a hyphenated UUID.
    #[error("header {0} must be a UUID")]
    Id(&'static str),
    /// A revision 0 or one that cannot be followed by another.
    #[error("revision out of range")]
    RevisionRange,
    /// A bad base64url value.
    #[error("header {header}: {source}")]
    Bytes {
        /// The header that held it.
        header: &'static str,
        /// What is wrong.
        source: DecodeError,
    },
    /// A bad volume type.
    #[error("header x-plog-volume-type: {0}")]
    VolumeType(#[from] VolumeTypeError),
    /// A malformed entry of `X-Plog-Grantee-Tags`.
    #[error("x-plog-grantee-tags entries are USER_ID=TAG")]
    GranteeEntry,
    /// A grantee named twice in `X-Plog-Grantee-Tags`.
    #[error("x-plog-grantee-tags names user {0} twice")]
    DuplicateGrantee(Uuid),
}

/// Parses a plain decimal `u64`: ASCII digits only, no sign, no leading zero unless `0`.
///
/// # Errors
/// [`HeaderError::Number`] naming `header`.
pub fn parse_decimal(header: &'static str, text: &str) -> Result<u64, HeaderError> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !plain {
        return Err(HeaderError::Number(header));
    }
    text.parse().map_err(|_| HeaderError::Number(header))
}

/// The entity tag of a revision: `"7"`.
#[must_use]
pub fn etag(revision: u64) -> String {
    format!("\"{revision}\"")
}

/// Parses an entity tag written by [`etag`].
///
/// # Errors
/// [`HeaderError::Number`] for anything but a quoted plain decimal.
pub fn parse_etag(header: &'static str, text: &str) -> Result<u64, HeaderError> {
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or(HeaderError::Number(header))?;
    parse_decimal(header, inner)
}

/// The precondition of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// `If-None-Match: *`: the volume must not exist; the upload is revision 1.
    Create,
    /// `If-Match: "<revision>"`: the volume must be at this revision; the upload is the next.
    Replace {
        /// The revision being replaced.
        revision: u64,
    },
}

impl Precondition {
    /// The revision the upload will have, which must equal the one in the volume header.
    ///
    /// # Errors
    /// [`HeaderError::RevisionRange`] when replacing revision 0 or `u64::MAX`.
    pub fn new_revision(self) -> Result<u64, HeaderError> {
        match self {
            Self::Create => Ok(1),
            Self::Replace { revision: 0 } => Err(HeaderError::RevisionRange),
            Self::Replace { revision } => revision.checked_add(1).ok_or(HeaderError::RevisionRange),
        }
    }

    /// The header to send: `(name, value)`.
    #[must_use]
    pub fn header(self) -> (&'static str, String) {
        match self {
            Self::Create => (IF_NONE_MATCH, ANY.to_owned()),
            Self::Replace { revision } => (IF_MATCH, etag(revision)),
        }
    }

    /// Reads the precondition from the `If-Match` and `If-None-Match` values present.
    ///
    /// # Errors
    /// [`HeaderError::Precondition`] unless exactly one of them is given, once, with a valid
    /// value (`If-None-Match` only as `*`).
    pub fn parse(if_match: &[&str], if_none_match: &[&str]) -> Result<Self, HeaderError> {
        match (if_match, if_none_match) {
            ([value], []) => {
                let revision =
                    parse_etag(IF_MATCH, value.trim()).map_err(|_| HeaderError::Precondition)?;
                let precondition = Self::Replace { revision };
                precondition.new_revision()?;
                Ok(precondition)
            }
            ([], [value]) if value.trim() == ANY => Ok(Self::Create),
            _ => Err(HeaderError::Precondition),
        }
    }
}

/// The grantee tags of one upload: grantee user id → MAC tag, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GranteeTags(BTreeMap<Uuid, Bytes32>);

impl GranteeTags {
    /// No grantees.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a grantee's tag; returns the previous tag for that grantee, if any.
    pub fn insert(&mut self, grantee_id: Uuid, tag: Bytes32) -> Option<Bytes32> {
        self.0.insert(grantee_id, tag)
    }

    /// The tag of one grantee.
    #[must_use]
    pub fn get(&self, grantee_id: &Uuid) -> Option<&Bytes32> {
        self.0.get(grantee_id)
    }

    /// Number of grantees.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no grantees (then the header is omitted).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The grantees and their tags, ordered by user id.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &Bytes32)> {
        self.0.iter()
    }

    /// The header value: `<user_id>=<tag>, <user_id>=<tag>` (empty string for no grantees).
    #[must_use]
    pub fn to_header_value(&self) -> String {
        self.0
            .iter()
            .map(|(id, tag)| format!("{id}={tag}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parses every line of the header (none means no grantees).
    ///
    /// # Errors
    /// [`HeaderError::GranteeEntry`], [`HeaderError::Bytes`] or
    /// [`HeaderError::DuplicateGrantee`].
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, HeaderError> {
        let mut tags = Self::new();
        for line in lines {
            for entry in line.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (id, tag) = entry.split_once('=').ok_or(HeaderError::GranteeEntry)?;
                let id = Uuid::try_parse(id).map_err(|_| HeaderError::GranteeEntry)?;
                let tag = Bytes32::from_b64(tag).map_err(|source| HeaderError::Bytes {
                    header: GRANTEE_TAGS,
                    source,
                })?;
                if tags.insert(id, tag).is_some() {
                    return Err(HeaderError::DuplicateGrantee(id));
                }
            }
        }
        Ok(tags)
    }
}

impl FromIterator<(Uuid, Bytes32)> for GranteeTags {
    fn from_iter<T: IntoIterator<Item = (Uuid, Bytes32)>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

fn single<'a>(name: &'static str, values: &[&'a str]) -> Result<Option<&'a str>, HeaderError> {
    match values {
        [] => Ok(None),
        [value] => Ok(Some(value.trim())),
        _ => Err(HeaderError::Repeated(name)),
    }
}

fn required<'a>(name: &'static str, values: &[&'a str]) -> Result<&'a str, HeaderError> {
    single(name, values)?.ok_or(HeaderError::Missing(name))
}

fn bytes32(name: &'static str, text: &str) -> Result<Bytes32, HeaderError> {
    Bytes32::from_b64(text).map_err(|source| HeaderError::Bytes {
        header: name,
        source,
    })
}

/// Everything an upload says in its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadHeaders {
    /// The volume type.
    pub vtype: VolumeType,
    /// The key epoch the content is encrypted under.
    pub key_epoch: u64,
    /// The owner's tag.
    pub owner_tag: Bytes32,
    /// The owner's copy of the volume key, wrapped under its master secret (73 bytes).
    pub owner_key: B64Bytes,
    /// One tag per grantee.
    pub grantee_tags: GranteeTags,
    /// Create or replace.
    pub precondition: Precondition,
}

impl UploadHeaders {
    /// The headers to send, as `(lower-case name, value)` pairs. `X-Plog-Grantee-Tags` is
    /// left out when there are no grantees.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (VOLUME_TYPE, self.vtype.to_string()),
            (KEY_EPOCH, self.key_epoch.to_string()),
            (OWNER_TAG, self.owner_tag.to_b64()),
            (OWNER_KEY, self.owner_key.to_b64()),
        ];
        if !self.grantee_tags.is_empty() {
            pairs.push((GRANTEE_TAGS, self.grantee_tags.to_header_value()));
        }
        pairs.push(self.precondition.header());
        pairs
    }

    /// Reads the headers through `get_all`, which returns every value of the named header
    /// (empty when absent).
    ///
    /// # Errors
    /// [`HeaderError`] for the first header that is missing, repeated or malformed.
    pub fn parse<'a, F>(mut get_all: F) -> Result<Self, HeaderError>
    where
        F: FnMut(&'static str) -> Vec<&'a str>,
    {
        let vtype = VolumeType::parse(required(VOLUME_TYPE, &get_all(VOLUME_TYPE))?)?;
        let key_epoch = parse_decimal(KEY_EPOCH, required(KEY_EPOCH, &get_all(KEY_EPOCH))?)?;
        let owner_tag = bytes32(OWNER_TAG, required(OWNER_TAG, &get_all(OWNER_TAG))?)?;
        let owner_key =
            B64Bytes::from_b64(required(OWNER_KEY, &get_all(OWNER_KEY))?).map_err(|source| {
                HeaderError::Bytes {
                    header: OWNER_KEY,
                    source,
                }
            })?;
        let grantee_tags = GranteeTags::parse(get_all(GRANTEE_TAGS))?;
        let precondition = Precondition::parse(&get_all(IF_MATCH), &get_all(IF_NONE_MATCH))?;
        Ok(Self {
            vtype,
            key_epoch,
            owner_tag,
            owner_key,
            grantee_tags,
            precondition,
        })
    }
}

/// Which tag a reader gets with a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderMaterial {
    /// The owner: the owner tag and its wrapped volume key.
    Owner {
        /// `X-Plog-Owner-Tag`.
        owner_tag: Bytes32,
        /// `X-Plog-Owner-Key`.
        owner_key: B64Bytes,
    },
    /// A grantee: its own tag and its key block for the current epoch.
    Grantee {
        /// `X-Plog-Grantee-Tag`.
        grantee_tag: Bytes32,
        /// `X-Plog-Key-Block`.
        key_block: B64Bytes,
    },
}

/// Everything a download says in its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadHeaders {
    /// The revision (`ETag`).
    pub revision: u64,
    /// The volume type.
    pub vtype: VolumeType,
    /// The key epoch.
    pub key_epoch: u64,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The reader's own tag and, for a grantee, its key block.
    pub reader: ReaderMaterial,
}

impl DownloadHeaders {
    /// The headers to send, as `(lower-case name, value)` pairs.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (ETAG, etag(self.revision)),
            (VOLUME_TYPE, self.vtype.to_string()),
            (KEY_EPOCH, self.key_epoch.to_string()),
            (OWNER_ID, self.owner_id.to_string()),
        ];
        match &self.reader {
            ReaderMaterial::Owner {
                owner_tag,
                owner_key,
            } => {
                pairs.push((OWNER_TAG, owner_tag.to_b64()));
                pairs.push((OWNER_KEY, owner_key.to_b64()));
            }
            ReaderMaterial::Grantee {
                grantee_tag,
                key_block,
            } => {
                pairs.push((GRANTEE_TAG, grantee_tag.to_b64()));
                pairs.push((KEY_BLOCK, key_block.to_b64()));
            }
        }
        pairs
    }

    /// Reads the headers through `get_all`, as [`UploadHeaders::parse`] does.
    ///
    /// # Errors
    /// [`HeaderError`] for the first header that is missing, repeated or malformed; a response
    /// must carry either the owner tag or the grantee tag with a key block.
    pub fn parse<'a, F>(mut get_all: F) -> Result<Self, HeaderError>
    where
        F: FnMut(&'static str) -> Vec<&'a str>,
    {
        let revision = parse_etag(ETAG, required(ETAG, &get_all(ETAG))?)?;
        let vtype = VolumeType::parse(required(VOLUME_TYPE, &get_all(VOLUME_TYPE))?)?;
        let key_epoch = parse_decimal(KEY_EPOCH, required(KEY_EPOCH, &get_all(KEY_EPOCH))?)?;
        let owner_id = Uuid::try_parse(required(OWNER_ID, &get_all(OWNER_ID))?)
            .map_err(|_| HeaderError::Id(OWNER_ID))?;
        let reader = match single(OWNER_TAG, &get_all(OWNER_TAG))? {
            Some(tag) => ReaderMaterial::Owner {
                owner_tag: bytes32(OWNER_TAG, tag)?,
                owner_key: B64Bytes::from_b64(required(OWNER_KEY, &get_all(OWNER_KEY))?).map_err(
                    |source| HeaderError::Bytes {
                        header: OWNER_KEY,
                        source,
                    },
                )?,
            },
            None => {
                let tag = required(GRANTEE_TAG, &get_all(GRANTEE_TAG))?;
                let block = required(KEY_BLOCK, &get_all(KEY_BLOCK))?;
                ReaderMaterial::Grantee {
                    grantee_tag: bytes32(GRANTEE_TAG, tag)?,
                    key_block: B64Bytes::from_b64(block).map_err(|source| HeaderError::Bytes {
                        header: KEY_BLOCK,
                        source,
                    })?,
                }
            }
        };
        Ok(Self {
            revision,
            vtype,
            key_epoch,
            owner_id,
            reader,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'static str, String)]) -> impl FnMut(&'static str) -> Vec<&'a str> {
        move |name| {
            pairs
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        }
    }

    #[test]
    fn names_are_lower_case_and_prefixed() {
        for name in [
            VOLUME_TYPE,
            KEY_EPOCH,
            OWNER_TAG,
            OWNER_KEY,
            GRANTEE_TAGS,
            GRANTEE_TAG,
            KEY_BLOCK,
            OWNER_ID,
        ] {
            assert_eq!(name, name.to_ascii_lowercase());
            assert!(name.starts_with("x-plog-"));
        }
        assert!(VOLUME_TYPE.eq_ignore_ascii_case("X-Plog-Volume-Type"));
        assert!(KEY_EPOCH.eq_ignore_ascii_case("X-Plog-Key-Epoch"));
        assert!(OWNER_TAG.eq_ignore_ascii_case("X-Plog-Owner-Tag"));
        assert!(GRANTEE_TAGS.eq_ignore_ascii_case("X-Plog-Grantee-Tags"));
    }

    #[test]
    fn grantee_tags_wire_form() {
        let a = Uuid::from_u128(2);
        let b = Uuid::from_u128(1);
        let tags: GranteeTags = [(a, Bytes32::new([0; 32])), (b, Bytes32::new([0xff; 32]))]
            .into_iter()
            .collect();
        assert_eq!(
            tags.to_header_value(),
            "00000000-0000-0000-0000-000000000001=__________________________________________8, \
             00000000-0000-0000-0000-000000000002=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        let value = tags.to_header_value();
        assert_eq!(GranteeTags::parse([value.as_str()]), Ok(tags.clone()));
        // Split over two header lines, with extra whitespace and empty list elements.
        let (first, second) = value.split_once(", ").expect("two entries");
        let first = format!(" {first} ,");
        assert_eq!(GranteeTags::parse([first.as_str(), second]), Ok(tags));
        assert_eq!(GranteeTags::parse([]), Ok(GranteeTags::new()));
    }

    #[test]
    fn grantee_tags_rejections() {
        let id = Uuid::from_u128(7);
        let tag = Bytes32::new([3; 32]);
        let entry = format!("{id}={tag}");
        assert_eq!(
            GranteeTags::parse([format!("{entry},{entry}").as_str()]),
            Err(HeaderError::DuplicateGrantee(id))
        );
        assert_eq!(
            GranteeTags::parse([tag.to_b64().as_str()]),
            Err(HeaderError::GranteeEntry)
        );
        assert_eq!(
            GranteeTags::parse([format!("alice={tag}").as_str()]),
            Err(HeaderError::GranteeEntry)
        );
        assert!(matches!(
            GranteeTags::parse([format!("{id}=AAAA").as_str()]),
            Err(HeaderError::Bytes {
                header: GRANTEE_TAGS,
                ..
            })
        ));
    }

    #[test]
    fn etags_and_numbers_are_strict() {
        assert_eq!(etag(7), "\"7\"");
        assert_eq!(parse_etag(ETAG, "\"7\""), Ok(7));
        assert!(parse_etag(ETAG, "7").is_err());
        assert!(parse_etag(ETAG, "W/\"7\"").is_err());
        assert!(parse_etag(ETAG, "\"07\"").is_err());
        assert_eq!(parse_decimal(KEY_EPOCH, "0"), Ok(0));
        assert!(parse_decimal(KEY_EPOCH, "").is_err());
        assert!(parse_decimal(KEY_EPOCH, "+1").is_err());
        assert!(parse_decimal(KEY_EPOCH, "18446744073709551616").is_err());
    }

    #[test]
    fn preconditions() {
        assert_eq!(Precondition::parse(&[], &["*"]), Ok(Precondition::Create));
        assert_eq!(
            Precondition::parse(&["\"4\""], &[]),
            Ok(Precondition::Replace { revision: 4 })
        );
        assert_eq!(
            Precondition::parse(&[], &[]),
            Err(HeaderError::Precondition)
        );
        assert_eq!(
            Precondition::parse(&["\"4\""], &["*"]),
            Err(HeaderError::Precondition)
        );
        assert_eq!(
            Precondition::parse(&[], &["\"4\""]),
            Err(HeaderError::Precondition)
        );
        assert_eq!(
            Precondition::parse(&["\"0\""], &[]),
            Err(HeaderError::RevisionRange)
        );
        assert_eq!(Precondition::Create.new_revision(), Ok(1));
        assert_eq!(Precondition::Replace { revision: 4 }.new_revision(), Ok(5));
        assert_eq!(
            Precondition::Replace { revision: u64::MAX }.new_revision(),
            Err(HeaderError::RevisionRange)
        );
    }

    #[test]
    fn upload_headers_round_trip() {
        let headers = UploadHeaders {
            vtype: VolumeType::parse("journals").expect("vtype"),
            key_epoch: 3,
            owner_tag: Bytes32::new([1; 32]),
            owner_key: B64Bytes::new(vec![4; 73]),
            grantee_tags: [(Uuid::from_u128(9), Bytes32::new([2; 32]))]
                .into_iter()
                .collect(),
            precondition: Precondition::Replace { revision: 11 },
        };
        let pairs = headers.to_pairs();
        assert!(pairs.contains(&(IF_MATCH, "\"11\"".to_owned())));
        assert!(pairs.contains(&(KEY_EPOCH, "3".to_owned())));
        assert_eq!(UploadHeaders::parse(lookup(&pairs)), Ok(headers.clone()));

        let create = UploadHeaders {
            grantee_tags: GranteeTags::new(),
            precondition: Precondition::Create,
            ..headers
        };
        let pairs = create.to_pairs();
        assert!(pairs.iter().all(|(name, _)| *name != GRANTEE_TAGS));
        assert_eq!(UploadHeaders::parse(lookup(&pairs)), Ok(create));
    }

    #[test]
    fn upload_headers_rejections() {
        let base = UploadHeaders {
            vtype: VolumeType::parse("front").expect("vtype"),
            key_epoch: 1,
            owner_tag: Bytes32::new([1; 32]),
            owner_key: B64Bytes::new(vec![4; 73]),
            grantee_tags: GranteeTags::new(),
            precondition: Precondition::Create,
        }
        .to_pairs();

        for header in [OWNER_TAG, OWNER_KEY] {
            let without: Vec<_> = base.iter().filter(|(n, _)| *n != header).cloned().collect();
            assert_eq!(
                UploadHeaders::parse(lookup(&without)),
                Err(HeaderError::Missing(header))
            );
        }

        let mut repeated = base.clone();
        repeated.push((KEY_EPOCH, "2".to_owned()));
        assert_eq!(
            UploadHeaders::parse(lookup(&repeated)),
            Err(HeaderError::Repeated(KEY_EPOCH))
        );

        let bad_type: Vec<_> = base
            .iter()
            .map(|(n, v)| {
                (
                    *n,
                    if *n == VOLUME_TYPE {
                        "../x".to_owned()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        assert!(matches!(
            UploadHeaders::parse(lookup(&bad_type)),
            Err(HeaderError::VolumeType(_))
        ));

        let short_tag: Vec<_> = base
            .iter()
            .map(|(n, v)| {
                (
                    *n,
                    if *n == OWNER_TAG {
                        "AAAA".to_owned()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        assert!(matches!(
            UploadHeaders::parse(lookup(&short_tag)),
            Err(HeaderError::Bytes {
                header: OWNER_TAG,
                ..
            })
        ));
    }

    #[test]
    fn download_headers_round_trip() {
        for reader in [
            ReaderMaterial::Owner {
                owner_tag: Bytes32::new([5; 32]),
                owner_key: B64Bytes::new(vec![8; 73]),
            },
            ReaderMaterial::Grantee {
                grantee_tag: Bytes32::new([6; 32]),
                key_block: B64Bytes::new(vec![7; 90]),
            },
        ] {
            let headers = DownloadHeaders {
                revision: 12,
                vtype: VolumeType::parse("members").expect("vtype"),
                key_epoch: 2,
                owner_id: Uuid::from_u128(77),
                reader,
            };
            let pairs = headers.to_pairs();
            assert_eq!(DownloadHeaders::parse(lookup(&pairs)), Ok(headers));
        }
    }
}
