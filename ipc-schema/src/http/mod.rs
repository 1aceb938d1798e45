//! Request and response types of the relay's HTTPS API (DESIGN §4.1), one module per resource.
//!
//! Wire conventions, shared by every module here:
//! - Bodies are JSON unless noted (volume content is `application/octet-stream`, events are
//!   `text/event-stream`).
//! - Binary fields are base64url without padding ([`crate::encoding`]); fixed sizes are checked
//!   on decode.
//! - Ids (`user_id`, `volume_id`, `challenge_id`, `invite_id`) are UUIDs in their hyphenated
//!   lower-case form.
//! - Times (`expires_at`, `updated_at`, …) are integer **unix seconds** (UTC), never strings.
//! - Revisions, key epochs, sizes and mailbox sequence numbers are unsigned 64-bit integers.
//! - Optional fields are omitted when absent (`null` is accepted on input).
//! - Request bodies (client → relay) reject unknown fields, so a typo is an error rather than a
//!   silently ignored option; response bodies (relay → client) ignore unknown fields, so a relay
//!   may add fields without breaking older clients.
//! - Failures use the one shape of [`crate::error::ErrorBody`].

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod events;
pub mod grants;
pub mod handles;
pub mod headers;
pub mod info;
pub mod invites;
pub mod links;
pub mod mailbox;
pub mod paths;
pub mod volumes;
