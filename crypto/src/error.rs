use thiserror::Error;

/// A failure of a primitive that has no more specific meaning for the caller: the operating
/// system's random source failed, or a primitive refused its input (a bug in this crate if it
/// ever happens with well-formed input).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A primitive rejected its input or failed internally.
    #[error("cryptographic primitive failed: {0}")]
    Primitive(&'static str),
}
