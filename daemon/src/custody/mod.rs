//! Key custody: the master secret and the keys derived from it live only in this process's
//! memory, and only while the daemon is unlocked.
//!
//! On disk there is only the key file (`plog_crypto::keyfile`: the master secret sealed under
//! the passphrase with Argon2id), written atomically with mode 0600. [`Custody`] creates it
//! (`init`, `restore`, `import`), opens it (`unlock`), hands out the unlocked keys to callers
//! that need them, and forgets them on `lock`. The keys are reference-counted: a call that is
//! running when the daemon locks finishes with the keys it holds, and the memory is wiped when
//! the last holder drops them (`MasterSecret` and `OwnerKeys` zeroize on drop).
//!
//! Every transition is announced on a broadcast channel ([`Custody::subscribe`]), which the
//! D-Bus service turns into `LockStateChanged` signals.

pub mod idle;
pub mod logind;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use plog_crypto::keyfile::{self, KdfParams, KeyFileError};
use plog_crypto::master::{MasterSecret, PhraseError};
use plog_crypto::volume::OwnerKeys;
use tokio::sync::broadcast;
use zeroize::Zeroizing;

use crate::fdio::MAX_KEY_FILE;

/// Why a custody operation failed. Messages never contain secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// There is no key file yet.
    #[error("no identity yet; run `plog init` or `plog identity restore`")]
    NotInitialized,
    /// The keys are not in memory.
    #[error("the daemon is locked; run `plog unlock`")]
    Locked,
    /// A key file exists already.
    #[error(
        "an identity exists already ({path}); nothing was changed",
        path = path.display()
    )]
    AlreadyInitialized {
        /// The key file.
        path: PathBuf,
    },
    /// The passphrase does not open the key file.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The passphrase is empty.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The recovery phrase is not valid.
    #[error("invalid recovery phrase: {0}")]
    Phrase(#[from] PhraseError),
    /// The key file is damaged, not a key file, or of an unsupported kind.
    #[error("cannot use key file {path}: {reason}", path = path.display())]
    KeyFile {
        /// The file (or `<input>` for an imported one).
        path: PathBuf,
        /// The reason, from the key-file reader.
        reason: KeyFileError,
    },
    /// The configured KDF costs are refused by the key-file writer.
    #[error("cannot seal the key file with the configured [kdf] costs: {0}")]
    Kdf(KeyFileError),
    /// Reading or writing the key file failed.
    #[error("cannot {action} key file {path}: {source}", path = path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A primitive failed (the random source, typically).
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] plog_crypto::CryptoError),
    /// A worker task died.
    #[error("internal failure: {0}")]
    Internal(String),
}

/// Why the daemon locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockReason {
    /// `plog lock`.
    Requested,
    /// No call for the configured idle time.
    Idle,
    /// The machine is going to sleep.
    Suspend,
    /// The user's session was locked.
    ScreenLock,
    /// The daemon is stopping.
    Shutdown,
}

/// A lock-state transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEvent {
    /// The keys are in memory now.
    Unlocked,
    /// The keys were dropped.
    Locked(LockReason),
}

impl LockEvent {
    /// Whether the daemon is locked after this event.
    #[must_use]
    pub fn is_locked(self) -> bool {
        matches!(self, Self::Locked(_))
    }
}

/// The keys of an unlocked identity. Wiped from memory when dropped.
#[derive(Debug)]
pub struct UnlockedKeys {
    master: MasterSecret,
    owner: OwnerKeys,
}

impl UnlockedKeys {
    /// Derives the owner keys from `master`.
    ///
    /// # Errors
    /// [`CustodyError::Crypto`] if derivation fails.
    pub fn new(master: MasterSecret) -> Result<Self, CustodyError> {
        let owner = OwnerKeys::derive(&master)?;
        Ok(Self { master, owner })
    }

    /// The master secret (relay identities are derived from it).
    #[must_use]
    pub fn master(&self) -> &MasterSecret {
        &self.master
    }

    /// The owner keys: volume-key wrapping and the owner tag key.
    #[must_use]
    pub fn owner(&self) -> &OwnerKeys {
        &self.owner
    }
}

/// What becomes of an existing key file when a new one is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse with [`CustodyError::AlreadyInitialized`].
    Refuse,
    /// Replace it (the caller checked it is the same identity).
    Replace,
}

/// The custody of one identity's keys.
#[derive(Debug)]
pub struct Custody {
    key_file: PathBuf,
    keys: Mutex<Option<Arc<UnlockedKeys>>>,
    events: broadcast::Sender<LockEvent>,
    /// Serialises operations that create or replace the key file.
    writer: tokio::sync::Mutex<()>,
}

impl Custody {
    /// Custody of the key file at `key_file`, locked.
    #[must_use]
    pub fn new(key_file: PathBuf) -> Self {
        let (events, _) = broadcast::channel(64);
        Self {
            key_file,
            keys: Mutex::new(None),
            events,
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// The key file's path.
    #[must_use]
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// Lock-state transitions from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<LockEvent> {
        self.events.subscribe()
    }

    /// Whether a key file exists.
    #[must_use]
    pub fn is_initialized(&self) -> bool {
        self.key_file.exists()
    }

    /// Whether the keys are out of memory.
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.slot().is_none()
    }

    /// The unlocked keys.
    ///
    /// # Errors
    /// [`CustodyError::Locked`], or [`CustodyError::NotInitialized`] when there is no
    /// identity at all.
    pub fn keys(&self) -> Result<Arc<UnlockedKeys>, CustodyError> {
        if let Some(keys) = self.slot().as_ref() {
            return Ok(Arc::clone(keys));
        }
        if self.is_initialized() {
            Err(CustodyError::Locked)
        } else {
            Err(CustodyError::NotInitialized)
        }
    }

    /// Whether the unlocked identity is the one `master` describes (constant time).
    #[must_use]
    pub fn unlocked_master_is(&self, master: &MasterSecret) -> bool {
        self.slot()
            .as_ref()
            .is_some_and(|keys| keys.master() == master)
    }

    /// Drops the keys. Returns whether the daemon was unlocked.
    pub fn lock(&self, reason: LockReason) -> bool {
        let was = self.slot().take();
        let changed = was.is_some();
        drop(was);
        if changed {
            tracing::info!(?reason, "locked");
            let _ = self.events.send(LockEvent::Locked(reason));
        }
        changed
    }

    /// Creates a new identity sealed under `passphrase` with `kdf` costs, unlocks, and
    /// returns the recovery phrase.
    ///
    /// # Errors
    /// [`CustodyError::AlreadyInitialized`] if a key file exists; key-file and I/O errors.
    pub async fn init(
        &self,
        passphrase: Zeroizing<Vec<u8>>,
        kdf: KdfParams,
    ) -> Result<Zeroizing<String>, CustodyError> {
        let master = MasterSecret::generate()?;
        let phrase = master.recovery_phrase();
        self.install(master, passphrase, kdf, Existing::Refuse)
            .await?;
        Ok(phrase)
    }

    /// Writes a key file for the identity of `master` sealed under `passphrase` and unlocks.
    /// With [`Existing::Replace`] an existing key file is replaced atomically.
    ///
    /// # Errors
    /// [`CustodyError::AlreadyInitialized`] with [`Existing::Refuse`] if a key file exists;
    /// key-file and I/O errors.
    pub async fn restore(
        &self,
        master: MasterSecret,
        passphrase: Zeroizing<Vec<u8>>,
        kdf: KdfParams,
        existing: Existing,
    ) -> Result<(), CustodyError> {
        self.install(master, passphrase, kdf, existing).await
    }

    /// Installs a key file received from elsewhere, after checking `passphrase` opens it, and
    /// unlocks.
    ///
    /// # Errors
    /// [`CustodyError::AlreadyInitialized`] if a key file exists;
    /// [`CustodyError::WrongPassphrase`]; [`CustodyError::KeyFile`] for a damaged or foreign
    /// file.
    pub async fn import(
        &self,
        file: Vec<u8>,
        passphrase: Zeroizing<Vec<u8>>,
    ) -> Result<(), CustodyError> {
        let _turn = self.writer.lock().await;
        self.refuse_existing()?;
        let (master, file) = blocking(move || {
            let master = open_key_file(&file, &passphrase, Path::new("<input>"))?;
            Ok((master, file))
        })
        .await?;
        let keys = UnlockedKeys::new(master)?;
        let path = self.key_file.clone();
        blocking(move || write_key_file(&path, &file, Existing::Refuse)).await?;
        self.set_unlocked(keys);
        Ok(())
    }

    /// Opens the key file with `passphrase` and unlocks. When already unlocked the passphrase
    /// is still checked.
    ///
    /// # Errors
    /// [`CustodyError::NotInitialized`], [`CustodyError::WrongPassphrase`],
    /// [`CustodyError::KeyFile`] for a damaged file, I/O errors.
    pub async fn unlock(&self, passphrase: Zeroizing<Vec<u8>>) -> Result<(), CustodyError> {
        let master = self.open(passphrase).await?;
        let keys = UnlockedKeys::new(master)?;
        self.set_unlocked(keys);
        Ok(())
    }

    /// The key file's bytes, after checking `passphrase` opens it (asked even when unlocked,
    /// so an unattended unlocked session cannot export the identity).
    ///
    /// # Errors
    /// As [`Custody::unlock`].
    pub async fn export(&self, passphrase: Zeroizing<Vec<u8>>) -> Result<Vec<u8>, CustodyError> {
        let path = self.key_file.clone();
        blocking(move || {
            let file = read_key_file(&path)?;
            let _master = open_key_file(&file, &passphrase, &path)?;
            Ok(file)
        })
        .await
    }

    async fn open(&self, passphrase: Zeroizing<Vec<u8>>) -> Result<MasterSecret, CustodyError> {
        let path = self.key_file.clone();
        blocking(move || {
            let file = read_key_file(&path)?;
            open_key_file(&file, &passphrase, &path)
        })
        .await
    }

    async fn install(
        &self,
        master: MasterSecret,
        passphrase: Zeroizing<Vec<u8>>,
        kdf: KdfParams,
        existing: Existing,
    ) -> Result<(), CustodyError> {
        if passphrase.is_empty() {
            return Err(CustodyError::EmptyPassphrase);
        }
        let _turn = self.writer.lock().await;
        if existing == Existing::Refuse {
            self.refuse_existing()?;
        }
        let path = self.key_file.clone();
        let master = blocking(move || {
            let file = keyfile::seal(&master, &passphrase, kdf).map_err(|e| match e {
                KeyFileError::EmptyPassphrase => CustodyError::EmptyPassphrase,
                other => CustodyError::Kdf(other),
            })?;
            write_key_file(&path, &file, existing)?;
            Ok(master)
        })
        .await?;
        self.set_unlocked(UnlockedKeys::new(master)?);
        Ok(())
    }

    fn refuse_existing(&self) -> Result<(), CustodyError> {
        if self.is_initialized() {
            Err(CustodyError::AlreadyInitialized {
                path: self.key_file.clone(),
            })
        } else {
            Ok(())
        }
    }

    fn set_unlocked(&self, keys: UnlockedKeys) {
        let previous = self.slot().replace(Arc::new(keys));
        if previous.is_none() {
            tracing::info!("unlocked");
            let _ = self.events.send(LockEvent::Unlocked);
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<UnlockedKeys>>> {
        // The slot holds no invariant a panicking holder could break.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CustodyError> + Send + 'static,
) -> Result<T, CustodyError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CustodyError::Internal(e.to_string()))?
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, CustodyError> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CustodyError::NotInitialized);
        }
        Err(source) => {
            return Err(CustodyError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| CustodyError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() > MAX_KEY_FILE {
        return Err(CustodyError::KeyFile {
            path: path.to_path_buf(),
            reason: KeyFileError::Corrupt,
        });
    }
    Ok(bytes)
}

fn open_key_file(
    file: &[u8],
    passphrase: &[u8],
    path: &Path,
) -> Result<MasterSecret, CustodyError> {
    if file.len() > MAX_KEY_FILE {
        return Err(CustodyError::KeyFile {
            path: path.to_path_buf(),
            reason: KeyFileError::Corrupt,
        });
    }
    keyfile::open(file, passphrase).map_err(|reason| match reason {
        KeyFileError::WrongPassphrase => CustodyError::WrongPassphrase,
        KeyFileError::EmptyPassphrase => CustodyError::EmptyPassphrase,
        reason => CustodyError::KeyFile {
            path: path.to_path_buf(),
            reason,
        },
    })
}

/// Writes the key file: a private temporary file in the same directory, fsynced, then moved
/// into place (without replacing an existing file unless asked), then the directory fsynced.
fn write_key_file(path: &Path, bytes: &[u8], existing: Existing) -> Result<(), CustodyError> {
    let io = |action: &'static str| {
        let path = path.to_path_buf();
        move |source| CustodyError::Io {
            action,
            path,
            source,
        }
    };
    let dir = path
        .parent()
        .ok_or_else(|| io("write")(std::io::Error::other("the key file path has no directory")))?;
    // tempfile creates its files with mode 0600.
    let mut temp = tempfile::Builder::new()
        .prefix(".identity.key.")
        .tempfile_in(dir)
        .map_err(io("create"))?;
    temp.write_all(bytes).map_err(io("write"))?;
    temp.as_file().sync_all().map_err(io("write"))?;
    match existing {
        Existing::Refuse => temp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                CustodyError::AlreadyInitialized {
                    path: path.to_path_buf(),
                }
            } else {
                io("write")(e.error)
            }
        })?,
        Existing::Replace => temp.persist(path).map_err(|e| io("write")(e.error))?,
    };
    crate::store::files::sync_dir(dir).map_err(io("write"))?;
    Ok(())
}

#[cfg(test)]
mod tests;
