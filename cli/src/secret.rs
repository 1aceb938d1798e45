//! Secrets the person hands to the daemon: passphrases and recovery phrases, from private
//! files or typed without echo.
//!
//! A secret file must not be readable by group or others (DESIGN §5); it is checked on the
//! opened file, so what is checked is what is read. Secrets live in zeroized buffers that never
//! grow (a reallocation would leave a copy behind) and are never printed.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::console::Prompter;
use crate::error::Error;

/// Secret bytes, wiped when dropped.
pub(crate) type Secret = Zeroizing<Vec<u8>>;

/// Largest passphrase or recovery phrase file accepted; a bigger one is the wrong file.
pub(crate) const MAX_SECRET_LEN: usize = 4096;

/// Permission bits that let group or others read a file.
const READABLE_BY_OTHERS: u32 = 0o044;

/// Whether a passphrase is wanted to open the existing identity or to protect a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PassphraseUse {
    /// The current passphrase (unlock, export, import): asked once.
    Current,
    /// A new passphrase (init, restore): asked twice on a terminal.
    New,
}

/// The passphrase from `file` (the value of `--passphrase-file`) or typed at the terminal.
///
/// # Errors
///
/// As [`read_secret_file`]; [`Error::Usage`] naming `--passphrase-file` when there is no file
/// and no terminal, or when the two new passphrases differ or are empty.
pub(crate) fn passphrase(
    file: Option<&Path>,
    purpose: PassphraseUse,
    prompter: &mut dyn Prompter,
) -> Result<Secret, Error> {
    if let Some(path) = file {
        return read_secret_file(path, "passphrase");
    }
    if !prompter.interactive() {
        return Err(Error::Usage(
            "a passphrase is needed and stdin is not a terminal: pass --passphrase-file FILE \
             (a file readable only by you)"
                .to_owned(),
        ));
    }
    let first_prompt = match purpose {
        PassphraseUse::Current => "Passphrase: ",
        PassphraseUse::New => "New passphrase: ",
    };
    let first = ask(prompter, first_prompt)?;
    if purpose == PassphraseUse::New {
        let again = ask(prompter, "Repeat the new passphrase: ")?;
        // Both were typed by the person at this terminal; nothing secret is learned from how
        // long a mismatch takes to find.
        if first.as_slice() != again.as_slice() {
            return Err(Error::Usage(
                "the two passphrases differ; nothing was changed".to_owned(),
            ));
        }
    }
    Ok(first)
}

fn ask(prompter: &mut dyn Prompter, prompt: &str) -> Result<Secret, Error> {
    let typed = prompter
        .secret(prompt)
        .map_err(|err| Error::io("reading the passphrase", err))?;
    if typed.is_empty() {
        return Err(Error::Usage("the passphrase is empty".to_owned()));
    }
    Ok(Zeroizing::new(typed.as_bytes().to_vec()))
}

/// Reads the secret file `path` (`what` names it in errors: "passphrase", "recovery phrase").
///
/// # Errors
///
/// [`Error::Usage`] if the file cannot be opened, is readable by group or others, is empty
/// (a lone line break counts as empty) or is larger than [`MAX_SECRET_LEN`];
/// [`Error::Io`] if reading it fails.
pub(crate) fn read_secret_file(path: &Path, what: &str) -> Result<Secret, Error> {
    let shown = path.display();
    let mut file = File::open(path)
        .map_err(|err| Error::Usage(format!("cannot open the {what} file {shown}: {err}")))?;
    let metadata = file
        .metadata()
        .map_err(|err| Error::io(format!("inspecting the {what} file {shown}"), err))?;
    if metadata.is_dir() {
        return Err(Error::Usage(format!(
            "the {what} file {shown} is a directory"
        )));
    }
    let mode = metadata.permissions().mode();
    if !is_private(mode) {
        return Err(Error::Usage(format!(
            "the {what} file {shown} is readable by group or others (mode {:04o}); it holds a \
             secret: run `chmod 600 {shown}` first",
            mode & 0o7777
        )));
    }
    let secret = read_bounded(&mut file, MAX_SECRET_LEN)
        .map_err(|err| Error::io(format!("reading the {what} file {shown}"), err))?
        .ok_or_else(|| {
            Error::Usage(format!(
                "the {what} file {shown} is larger than {MAX_SECRET_LEN} bytes; is it the \
                 right file?"
            ))
        })?;
    if without_line_break(&secret).is_empty() {
        return Err(Error::Usage(format!("the {what} file {shown} is empty")));
    }
    Ok(secret)
}

/// Whether a file with permission bits `mode` is readable by its owner only.
pub(crate) fn is_private(mode: u32) -> bool {
    mode & READABLE_BY_OTHERS == 0
}

/// Reads all of `reader` into a zeroized buffer of at most `max` bytes; `None` if there is
/// more. The buffer is allocated once, so no copy of the secret is left in freed memory.
pub(crate) fn read_bounded(reader: &mut impl Read, max: usize) -> io::Result<Option<Secret>> {
    let mut buffer = Zeroizing::new(vec![0_u8; max + 1]);
    let mut len = 0;
    while len <= max {
        let Some(free) = buffer.get_mut(len..) else {
            break;
        };
        match reader.read(free) {
            Ok(0) => {
                buffer.truncate(len);
                return Ok(Some(buffer));
            }
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

/// The text without one trailing `\n` or `\r\n` (the daemon ignores it the same way).
pub(crate) fn without_line_break(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write as _;

    use super::*;
    use crate::console::scripted::Scripted;

    fn secret_file(dir: &tempfile::TempDir, contents: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.path().join("secret");
        let mut file = File::create(&path).expect("create");
        file.write_all(contents).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn usage_text(result: Result<Secret, Error>) -> String {
        match result {
            Err(err @ Error::Usage(_)) => err.to_string(),
            Err(other) => panic!("expected a usage error, got {other:?}"),
            Ok(_) => panic!("expected a usage error, got a secret"),
        }
    }

    #[test]
    fn private_files_are_read_as_they_are() {
        let dir = tempfile::tempdir().expect("temp dir");
        for mode in [0o600, 0o400, 0o700, 0o620, 0o602] {
            let path = secret_file(&dir, b"correct horse\n", mode);
            let secret = read_secret_file(&path, "passphrase").expect("private file");
            assert_eq!(secret.as_slice(), b"correct horse\n", "mode {mode:o}");
        }
    }

    #[test]
    fn files_others_can_read_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for mode in [0o644, 0o640, 0o604, 0o660] {
            let path = secret_file(&dir, b"correct horse", mode);
            let text = usage_text(read_secret_file(&path, "passphrase"));
            assert!(text.contains("readable by group or others"), "{text}");
            assert!(text.contains(&format!("mode {mode:04o}")), "{text}");
            assert!(text.contains("chmod 600"), "{text}");
            assert!(!text.contains("correct horse"), "{text}");
        }
    }

    #[test]
    fn empty_missing_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for contents in [&b""[..], b"\n", b"\r\n"] {
            let path = secret_file(&dir, contents, 0o600);
            assert!(usage_text(read_secret_file(&path, "passphrase")).contains("is empty"));
        }
        let path = secret_file(&dir, &[b'x'; MAX_SECRET_LEN + 1], 0o600);
        assert!(usage_text(read_secret_file(&path, "recovery phrase")).contains("larger than"));
        let path = secret_file(&dir, &[b'x'; MAX_SECRET_LEN], 0o600);
        assert_eq!(
            read_secret_file(&path, "passphrase")
                .expect("at the limit")
                .len(),
            MAX_SECRET_LEN
        );
        let missing = dir.path().join("missing");
        let text = usage_text(read_secret_file(&missing, "recovery phrase"));
        assert!(
            text.starts_with("cannot open the recovery phrase file"),
            "{text}"
        );
        assert!(usage_text(read_secret_file(dir.path(), "passphrase")).contains("directory"));
    }

    #[test]
    fn bounded_reads_stop_past_the_limit() {
        let read = |data: &[u8], max| read_bounded(&mut &data[..], max).expect("read");
        assert_eq!(
            read(b"abc", 3).as_deref().map(Vec::as_slice),
            Some(&b"abc"[..])
        );
        assert!(read(b"abcd", 3).is_none());
        assert_eq!(read(b"", 3).as_deref().map(Vec::len), Some(0));
    }

    #[test]
    fn without_a_file_or_terminal_the_flag_is_named() {
        let mut prompter = Scripted::no_terminal();
        let text = usage_text(passphrase(None, PassphraseUse::Current, &mut prompter));
        assert!(text.contains("--passphrase-file"), "{text}");
    }

    #[test]
    fn a_file_wins_over_the_terminal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = secret_file(&dir, b"from file", 0o600);
        let mut prompter = Scripted::answering(&["typed"]);
        let secret = passphrase(Some(&path), PassphraseUse::New, &mut prompter).expect("file");
        assert_eq!(secret.as_slice(), b"from file");
        assert!(prompter.prompts.is_empty());
    }

    #[test]
    fn new_passphrases_are_asked_twice() {
        let mut prompter = Scripted::answering(&["hunter22", "hunter22"]);
        let secret = passphrase(None, PassphraseUse::New, &mut prompter).expect("matching");
        assert_eq!(secret.as_slice(), b"hunter22");
        assert_eq!(
            prompter.prompts,
            ["New passphrase: ", "Repeat the new passphrase: "]
        );

        let mut prompter = Scripted::answering(&["hunter22", "hunter23"]);
        let text = usage_text(passphrase(None, PassphraseUse::New, &mut prompter));
        assert!(text.contains("differ"), "{text}");
        assert!(!text.contains("hunter"), "{text}");

        let mut prompter = Scripted::answering(&["only once"]);
        let secret = passphrase(None, PassphraseUse::Current, &mut prompter).expect("current");
        assert_eq!(secret.as_slice(), b"only once");
        assert_eq!(prompter.prompts, ["Passphrase: "]);

        let mut prompter = Scripted::answering(&[""]);
        assert!(
            usage_text(passphrase(None, PassphraseUse::Current, &mut prompter)).contains("empty")
        );
    }
}
