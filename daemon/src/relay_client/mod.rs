//! The daemon's HTTPS client for one relay: certificate pinning, challenge login and the
//! account, handle and volume calls of the relay API (`docs/PROTOCOL.md` §11), the sharing
//! calls (invites, mailbox, link tokens, mail settings, grants) and the live event stream
//! ([`RelayClient::events`], an [`EventStream`]).
//!
//! # Trusting a relay
//!
//! A relay is pinned by the SHA-256 of its certificate's DER SubjectPublicKeyInfo
//! ([`CertPin`], `sha256:` + hex). Every connection of a [`RelayClient`] checks, in this order:
//!
//! 1. the end-entity certificate's pin equals the stored pin, or the relay's announced next
//!    pin when the caller passed one; anything else is refused with
//!    [`RelayError::PinMismatch`], naming the expected and the presented pin (there is no
//!    click-through);
//! 2. a **self-signed** certificate (issuer = subject, and the self-signature verifies) is then
//!    accepted on its pin alone, without a hostname check: home relays are reached by IP;
//! 3. any other certificate must **also** verify against the system roots with the usual
//!    hostname check, else [`RelayError::Certificate`].
//!
//! Handshake signatures are always verified, so the pin proves the relay holds the key.
//! [`probe`] is the one exception to the pin: it connects without trusting, to show a person
//! the pin to approve on first contact.
//!
//! # Logging in
//!
//! [`RelayClient::login`] answers the challenge of DESIGN §5 with an HPKE export whose `info`
//! the client builds from the origin it connected to, never from the relay's message. The
//! session token lives in zeroizing memory and prints as `***`. With an
//! [`IdentitySource`] the client logs in again by itself, once per
//! call, when a session has expired or the relay answers `401 unauthorized`.
//!
//! # Errors and retries
//!
//! Every failure is a [`RelayError`]: transport failures, timeouts and `5xx` are
//! [`RelayError::Network`]; `409`/`412` [`RelayError::Conflict`]; `404`
//! [`RelayError::NotFound`]; `401` [`RelayError::Unauthorized`]; `413`
//! [`RelayError::TooLarge`]; `429` [`RelayError::RateLimited`]; other `4xx`
//! [`RelayError::Rejected`] with the relay's `{code, message}`; a malformed answer
//! [`RelayError::Protocol`]. [`RelayError::is_retryable`] is true only for `Network` and
//! `RateLimited`, and [`RelayError::retry_after`] carries the relay's `Retry-After` when it
//! sent one. Connections have a connect timeout (TLS included) and an idle timeout
//! ([`Timeouts`]) that bounds every wait for progress (the next upload or download chunk, the
//! answer after a request), but no overall deadline: volumes can be hundreds of MiB and are
//! streamed in both directions with bounded memory. The event stream, being long-lived, has
//! only the connect timeout unless its reader sets an idle timeout.

mod account;
mod auth;
mod client;
mod error;
mod events;
mod pin;
mod probe;
mod session;
mod social;
mod transport;
mod verifier;
mod volumes;

pub use client::{RelayClient, RelayClientBuilder};
pub use error::RelayError;
pub use events::{EventItem, EventStream};
pub use pin::{CertificateError, pin_of_certificate};
pub use plog_ipc_schema::pin::CertPin;
pub use probe::{ProbeReport, probe, probe_with};
pub use session::{IdentitySource, Session};
pub use social::MAIL_PAGES_PER_CALL;
pub use transport::Timeouts;
pub use volumes::{VolumeBody, VolumeMeta};
