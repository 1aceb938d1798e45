//! File descriptors handed over by D-Bus callers: secrets read from them, results written to
//! them (see the fd rules in `plog_ipc_schema::dbus`).
//!
//! Reads and writes block (a descriptor may be a pipe whose other end is slow), so the async
//! wrappers run them on the blocking pool. Secrets are read into one buffer allocated up front
//! and wiped on drop, so no copy is left behind by a growing vector.

use std::fs::File;
use std::io::{self, Read, Write};

use zeroize::Zeroizing;

/// Largest passphrase accepted, in bytes.
pub const MAX_PASSPHRASE: usize = 4096;
/// Largest recovery phrase accepted, in bytes (24 words of at most 8 letters need far less).
pub const MAX_PHRASE: usize = 4096;
/// Largest key file accepted, in bytes (a key file is a few hundred bytes).
pub const MAX_KEY_FILE: usize = 16 * 1024;

/// Why a descriptor could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FdError {
    /// Reading or writing failed.
    #[error("cannot {action} the {what} descriptor: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// Which argument.
        what: &'static str,
        /// What failed.
        source: io::Error,
    },
    /// More bytes than the argument may have.
    #[error("the {what} is longer than {limit} bytes")]
    TooLong {
        /// Which argument.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// Text that is not UTF-8.
    #[error("the {what} is not valid UTF-8 text")]
    NotUtf8 {
        /// Which argument.
        what: &'static str,
    },
}

/// Turns a descriptor received over D-Bus into a file.
#[must_use]
pub fn into_file(fd: zbus::OwnedFd) -> File {
    File::from(std::os::fd::OwnedFd::from(fd))
}

/// Reads `file` to end of file (at most `limit` bytes) and drops one trailing `\n` or `\r\n`.
///
/// # Errors
/// [`FdError::Io`] or [`FdError::TooLong`].
pub fn read_secret(
    file: File,
    limit: usize,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, FdError> {
    let mut buf = read_bounded(file, limit, what)?;
    let mut len = buf.len();
    if buf.ends_with(b"\r\n") {
        len -= 2;
    } else if buf.ends_with(b"\n") {
        len -= 1;
    }
    buf.truncate(len);
    Ok(buf)
}

/// Reads `file` to end of file, at most `limit` bytes, exactly as they are (binary data such
/// as a key file).
///
/// # Errors
/// [`FdError::Io`] or [`FdError::TooLong`].
pub fn read_bounded(
    mut file: File,
    limit: usize,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, FdError> {
    let mut buf = Zeroizing::new(vec![0u8; limit + 1]);
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len > limit {
                    return Err(FdError::TooLong { what, limit });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(FdError::Io {
                    action: "read",
                    what,
                    source,
                });
            }
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// [`read_secret`] for text.
///
/// # Errors
/// As [`read_secret`], and [`FdError::NotUtf8`].
pub fn read_secret_text(
    file: File,
    limit: usize,
    what: &'static str,
) -> Result<Zeroizing<String>, FdError> {
    let bytes = read_secret(file, limit, what)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| FdError::NotUtf8 { what })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Writes all of `bytes` to `file`, then closes it.
///
/// # Errors
/// [`FdError::Io`].
pub fn write_and_close(mut file: File, bytes: &[u8], what: &'static str) -> Result<(), FdError> {
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|source| FdError::Io {
            action: "write",
            what,
            source,
        })
}

/// Runs blocking descriptor work on the blocking pool.
///
/// # Errors
/// The closure's error, or an I/O error if the task could not finish.
pub async fn blocking<T, F>(work: F) -> Result<T, FdError>
where
    F: FnOnce() -> Result<T, FdError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FdError::Io {
            action: "read",
            what: "input",
            source: io::Error::other(e.to_string()),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe_with(bytes: &[u8]) -> File {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut writer = File::from(std::os::fd::OwnedFd::from(writer));
        writer.write_all(bytes).expect("write");
        drop(writer);
        File::from(std::os::fd::OwnedFd::from(reader))
    }

    #[test]
    fn one_trailing_newline_is_dropped() {
        for (input, want) in [
            (&b"secret\n"[..], &b"secret"[..]),
            (b"secret\r\n", b"secret"),
            (b"secret", b"secret"),
            (b"secret\n\n", b"secret\n"),
            (b" spaced \n", b" spaced "),
        ] {
            let got = read_secret(pipe_with(input), 64, "passphrase").expect("read");
            assert_eq!(got.as_slice(), want);
        }
    }

    #[test]
    fn binary_reads_keep_every_byte() {
        let got = read_bounded(pipe_with(b"key\n"), 64, "key file").expect("read");
        assert_eq!(got.as_slice(), b"key\n");
    }

    #[test]
    fn limits_and_encoding_are_enforced() {
        let err = read_secret(pipe_with(&[b'a'; 65]), 64, "passphrase").expect_err("too long");
        assert!(matches!(err, FdError::TooLong { limit: 64, .. }), "{err}");
        assert!(read_secret(pipe_with(&[b'a'; 64]), 64, "passphrase").is_ok());
        let err = read_secret_text(pipe_with(&[0xff, 0xfe]), 64, "phrase").expect_err("utf8");
        assert!(matches!(err, FdError::NotUtf8 { what: "phrase" }), "{err}");
    }

    #[test]
    fn write_reaches_the_reader() {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let writer = File::from(std::os::fd::OwnedFd::from(writer));
        write_and_close(writer, b"words\n", "phrase").expect("write");
        let mut text = String::new();
        File::from(std::os::fd::OwnedFd::from(reader))
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "words\n");
    }
}
