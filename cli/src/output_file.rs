//! Files `plog` writes (`-o FILE`, man pages): written atomically, so a failed or interrupted
//! command leaves the old file, or none, never a partial one.
//!
//! The content goes to a temporary file in the target's directory, is flushed to disk, and is
//! renamed over the target only when complete; the directory is synced after the rename. A
//! target that exists and is not a regular file (a FIFO, `/dev/stdout`) cannot be replaced and
//! is written in place.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::Error;

/// A file being written; becomes visible under its name on [`OutputFile::commit`].
#[derive(Debug)]
pub(crate) struct OutputFile {
    target: PathBuf,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Atomic(NamedTempFile),
    InPlace(File),
}

impl OutputFile {
    /// Starts writing `target` with permission bits `mode` (0o600 for anything private).
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] if the directory does not exist or cannot be written to.
    pub(crate) fn create(target: &Path, mode: u32) -> Result<Self, Error> {
        let shown = target.display();
        let special = fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            let file = OpenOptions::new()
                .write(true)
                .open(target)
                .map_err(|err| Error::Usage(format!("cannot write to {shown}: {err}")))?;
            return Ok(Self {
                target: target.to_owned(),
                kind: Kind::InPlace(file),
            });
        }
        if target.is_dir() {
            return Err(Error::Usage(format!("{shown} is a directory")));
        }
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".plog-")
            .suffix(".partial")
            .permissions(Permissions::from_mode(mode))
            .tempfile_in(dir)
            .map_err(|err| Error::Usage(format!("cannot write to {shown}: {err}")))?;
        // The umask may have narrowed the requested bits; the file gets exactly `mode`.
        temp.as_file()
            .set_permissions(Permissions::from_mode(mode))
            .map_err(|err| Error::io(format!("setting the permissions of {shown}"), err))?;
        Ok(Self {
            target: target.to_owned(),
            kind: Kind::Atomic(temp),
        })
    }

    /// Flushes the content to disk and puts it in place.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if syncing or renaming fails; the target is then unchanged.
    pub(crate) fn commit(self) -> Result<PathBuf, Error> {
        let shown = self.target.display().to_string();
        match self.kind {
            Kind::InPlace(mut file) => {
                file.flush()
                    .map_err(|err| Error::io(format!("writing {shown}"), err))?;
            }
            Kind::Atomic(mut temp) => {
                temp.flush()
                    .and_then(|()| temp.as_file().sync_all())
                    .map_err(|err| Error::io(format!("writing {shown}"), err))?;
                temp.persist(&self.target)
                    .map_err(|err| Error::io(format!("replacing {shown}"), err.error))?;
                let dir = match self.target.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent,
                    _ => Path::new("."),
                };
                File::open(dir)
                    .and_then(|dir| dir.sync_all())
                    .map_err(|err| Error::io(format!("syncing the directory of {shown}"), err))?;
            }
        }
        Ok(self.target)
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.kind {
            Kind::Atomic(temp) => temp.write(buf),
            Kind::InPlace(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.kind {
            Kind::Atomic(temp) => temp.flush(),
            Kind::InPlace(file) => file.flush(),
        }
    }
}

/// Writes `bytes` to `target` atomically with permission bits `mode`.
pub(crate) fn write_file(target: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, Error> {
    let mut file = OutputFile::create(target, mode)?;
    file.write_all(bytes)
        .map_err(|err| Error::io(format!("writing {}", target.display()), err))?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_appears_only_on_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("out.bin");
        fs::write(&target, b"old").expect("old content");
        let mut file = OutputFile::create(&target, 0o600).expect("create");
        file.write_all(b"new content").expect("write");
        assert_eq!(fs::read(&target).expect("read"), b"old");
        file.commit().expect("commit");
        assert_eq!(fs::read(&target).expect("read"), b"new content");
        let mode = fs::metadata(&target)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn an_abandoned_write_leaves_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("out.bin");
        let mut file = OutputFile::create(&target, 0o644).expect("create");
        file.write_all(b"partial").expect("write");
        drop(file);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn modes_and_bad_targets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("page.1");
        write_file(&target, b"x", 0o644).expect("write");
        let mode = fs::metadata(&target)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        assert!(matches!(
            OutputFile::create(dir.path(), 0o600),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            OutputFile::create(&dir.path().join("missing/out"), 0o600),
            Err(Error::Usage(_))
        ));
    }
}
