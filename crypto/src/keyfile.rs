//! The key file: the master secret sealed under a passphrase.
//!
//! Layout (all integers big-endian), 143 bytes for the 16-byte salt this crate writes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `PLOGKEY\0` |
//! | 8 | 1 | format version, `1` |
//! | 9 | 1 | KDF id, `1` = Argon2id (version 0x13) |
//! | 10 | 4 | memory cost in KiB |
//! | 14 | 4 | time cost (passes) |
//! | 18 | 4 | parallelism |
//! | 22 | 1 | salt length `s` (16..=64) |
//! | 23 | s | salt |
//! | 23+s | 24 | XChaCha20-Poly1305 nonce |
//! | 47+s | 48 | sealed master secret (32) + tag (16) |
//! | 95+s | 32 | BLAKE2b-256 checksum of every byte before it |
//!
//! The header (magic through nonce) is the AEAD's associated data, wrapped as
//! `fields(KEY_FILE, header)`. The unkeyed checksum lets a reader tell a damaged file
//! ([`KeyFileError::Corrupt`]) from a wrong passphrase ([`KeyFileError::WrongPassphrase`]):
//! a file whose checksum matches but which does not open was sealed under another passphrase.

use crate::encoding::{DecodeError, Reader, fields};
use crate::master::{MASTER_SECRET_LEN, MasterSecret};
use crate::primitives::{blake2b_256, ct_eq, random_array};
use crate::secret::SecretBytes;
use crate::{CryptoError, labels};
use orion::hazardous::aead::xchacha20poly1305 as xchacha;
use orion::hazardous::kdf::argon2::{Argon2, CostParams, ID, Sequential};
use thiserror::Error;
use zeroize::Zeroizing;

/// The magic bytes that open every key file.
pub const MAGIC: &[u8; 8] = b"PLOGKEY\0";
/// The format version this crate writes and reads.
pub const VERSION: u8 = 1;
/// KDF identifier of Argon2id, version 0x13.
pub const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const SEALED_LEN: usize = MASTER_SECRET_LEN + 16;
const CHECKSUM_LEN: usize = 32;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub time_cost: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The production defaults: 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: Self = Self {
        memory_kib: 64 * 1024,
        time_cost: 3,
        parallelism: 1,
    };

    /// Minimal costs for tests only: a key file with these is cheap to brute-force.
    pub const INSECURE_FOR_TESTS: Self = Self {
        memory_kib: 64,
        time_cost: 1,
        parallelism: 1,
    };

    /// Upper bounds a reader accepts, so a hostile file cannot make unlocking take minutes or
    /// exhaust memory: 1 GiB, 16 passes, 4 lanes (16 times the defaults' memory).
    pub const MAX: Self = Self {
        memory_kib: 1024 * 1024,
        time_cost: 16,
        parallelism: 4,
    };

    fn validate(&self) -> Result<CostParams, KeyFileError> {
        let within = self.memory_kib <= Self::MAX.memory_kib
            && (1..=Self::MAX.time_cost).contains(&self.time_cost)
            && (1..=Self::MAX.parallelism).contains(&self.parallelism);
        if !within {
            return Err(KeyFileError::UnsupportedParameters);
        }
        CostParams::new(self.time_cost, self.memory_kib, self.parallelism)
            .map_err(|_| KeyFileError::UnsupportedParameters)
    }
}

/// Why a key file could not be written or opened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The passphrase is empty.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The file does not start with the key-file magic.
    #[error("this is not a PluralLog key file")]
    NotAKeyFile,
    /// The file was written by a newer version of PluralLog.
    #[error("key file format version {0} is not supported by this version of PluralLog")]
    UnsupportedVersion(u8),
    /// The file names a KDF or cost parameters this version does not accept.
    #[error("key file uses unsupported key-derivation parameters")]
    UnsupportedParameters,
    /// The file is truncated, extended or damaged (its checksum does not match).
    #[error(
        "the key file is damaged (checksum mismatch or wrong length); restore it from a backup or use the recovery phrase"
    )]
    Corrupt,
    /// The file is intact but the passphrase does not open it.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// A primitive failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<DecodeError> for KeyFileError {
    fn from(_: DecodeError) -> Self {
        KeyFileError::Corrupt
    }
}

/// Seals `master` under `passphrase` with a fresh salt and nonce.
pub fn seal(
    master: &MasterSecret,
    passphrase: &[u8],
    params: KdfParams,
) -> Result<Vec<u8>, KeyFileError> {
    if passphrase.is_empty() {
        return Err(KeyFileError::EmptyPassphrase);
    }
    let salt: [u8; SALT_LEN] = random_array()?;
    let nonce: [u8; NONCE_LEN] = random_array()?;
    seal_deterministic(master, passphrase, params, &salt, &nonce)
}

/// Seals with a given salt and nonce; only for known-answer tests and vectors.
#[cfg(any(test, feature = "test-vectors"))]
pub fn seal_with(
    master: &MasterSecret,
    passphrase: &[u8],
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, KeyFileError> {
    seal_deterministic(master, passphrase, params, salt, nonce)
}

fn seal_deterministic(
    master: &MasterSecret,
    passphrase: &[u8],
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, KeyFileError> {
    if passphrase.is_empty() {
        return Err(KeyFileError::EmptyPassphrase);
    }
    let cost = params.validate()?;
    let mut file = Vec::with_capacity(23 + SALT_LEN + NONCE_LEN + SEALED_LEN + CHECKSUM_LEN);
    file.extend_from_slice(MAGIC);
    file.push(VERSION);
    file.push(KDF_ARGON2ID);
    file.extend_from_slice(&params.memory_kib.to_be_bytes());
    file.extend_from_slice(&params.time_cost.to_be_bytes());
    file.extend_from_slice(&params.parallelism.to_be_bytes());
    file.push(SALT_LEN as u8);
    file.extend_from_slice(salt);
    file.extend_from_slice(nonce);
    let aad = fields(&[labels::KEY_FILE.as_bytes(), &file]);

    let key = derive_key(passphrase, salt, &cost)?;
    let mut sealed = [0u8; SEALED_LEN];
    xchacha::XChaCha20Poly1305::seal(
        &xchacha::SecretKey::try_from(&key.expose()[..])
            .map_err(|_| CryptoError::Primitive("key"))?,
        &xchacha::Nonce::from(*nonce),
        master.expose(),
        Some(&aad),
        &mut sealed,
    )
    .map_err(|_| CryptoError::Primitive("xchacha20-poly1305 seal"))?;
    file.extend_from_slice(&sealed);
    let checksum = blake2b_256(&file);
    file.extend_from_slice(&checksum);
    Ok(file)
}

/// The parameters a key file was sealed with, read without the passphrase. They are not
/// authenticated until [`open`] succeeds.
pub fn params(file: &[u8]) -> Result<KdfParams, KeyFileError> {
    Ok(parse(file)?.params)
}

/// Opens a key file.
pub fn open(file: &[u8], passphrase: &[u8]) -> Result<MasterSecret, KeyFileError> {
    if passphrase.is_empty() {
        return Err(KeyFileError::EmptyPassphrase);
    }
    let parsed = parse(file)?;
    let cost = parsed.params.validate()?;
    let key = derive_key(passphrase, parsed.salt, &cost)?;
    let aad = fields(&[labels::KEY_FILE.as_bytes(), parsed.header]);
    let mut master = Zeroizing::new([0u8; MASTER_SECRET_LEN]);
    xchacha::XChaCha20Poly1305::open(
        &xchacha::SecretKey::try_from(&key.expose()[..])
            .map_err(|_| CryptoError::Primitive("key"))?,
        &xchacha::Nonce::from(parsed.nonce),
        parsed.sealed,
        Some(&aad),
        master.as_mut_slice(),
    )
    .map_err(|_| KeyFileError::WrongPassphrase)?;
    Ok(MasterSecret::from_bytes(*master))
}

struct Parsed<'a> {
    params: KdfParams,
    salt: &'a [u8],
    nonce: [u8; NONCE_LEN],
    header: &'a [u8],
    sealed: &'a [u8],
}

fn parse(file: &[u8]) -> Result<Parsed<'_>, KeyFileError> {
    if file.len() < MAGIC.len() || &file[..MAGIC.len()] != MAGIC {
        return Err(KeyFileError::NotAKeyFile);
    }
    let mut r = Reader::new(file);
    r.take(MAGIC.len())?;
    let version = r.u8()?;
    if version != VERSION {
        return Err(KeyFileError::UnsupportedVersion(version));
    }
    if file.len() < CHECKSUM_LEN {
        return Err(KeyFileError::Corrupt);
    }
    let (body, checksum) = file.split_at(file.len() - CHECKSUM_LEN);
    if !ct_eq(&blake2b_256(body), checksum) {
        return Err(KeyFileError::Corrupt);
    }
    let kdf = r.u8()?;
    let params = KdfParams {
        memory_kib: r.u32()?,
        time_cost: r.u32()?,
        parallelism: r.u32()?,
    };
    if kdf != KDF_ARGON2ID {
        return Err(KeyFileError::UnsupportedParameters);
    }
    let salt = r.short_field(64)?;
    if salt.len() < SALT_LEN {
        return Err(KeyFileError::UnsupportedParameters);
    }
    let nonce = r.array::<NONCE_LEN>()?;
    let header_len = file.len() - r.remaining().len();
    let sealed = r.take(SEALED_LEN)?;
    r.take(CHECKSUM_LEN)?;
    r.finish()?;
    Ok(Parsed {
        params,
        salt,
        nonce,
        header: &file[..header_len],
        sealed,
    })
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    cost: &CostParams,
) -> Result<SecretBytes<32>, CryptoError> {
    let mut key = [0u8; 32];
    Argon2::<ID, Sequential>::derive_key(passphrase, salt, cost, None, None, &mut key)
        .map_err(|_| CryptoError::Primitive("argon2id"))?;
    Ok(SecretBytes::from_array(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: KdfParams = KdfParams::INSECURE_FOR_TESTS;

    fn master() -> MasterSecret {
        MasterSecret::from_bytes([0x42; 32])
    }

    #[test]
    fn round_trip() {
        let file = seal(&master(), b"correct horse", TEST).unwrap();
        assert_eq!(file.len(), 23 + 16 + 24 + 48 + 32);
        assert_eq!(open(&file, b"correct horse").unwrap(), master());
        assert_eq!(params(&file).unwrap(), TEST);
    }

    #[test]
    fn wrong_passphrase_is_its_own_error() {
        let file = seal(&master(), b"correct horse", TEST).unwrap();
        assert_eq!(
            open(&file, b"battery staple"),
            Err(KeyFileError::WrongPassphrase)
        );
        assert_eq!(open(&file, b""), Err(KeyFileError::EmptyPassphrase));
    }

    #[test]
    fn every_flipped_bit_is_corruption_not_a_wrong_passphrase() {
        let file = seal(&master(), b"pw", TEST).unwrap();
        for byte in 0..file.len() {
            let mut bad = file.clone();
            bad[byte] ^= 0x01;
            let err = open(&bad, b"pw").unwrap_err();
            let expected = match byte {
                0..=7 => KeyFileError::NotAKeyFile,
                8 => KeyFileError::UnsupportedVersion(VERSION ^ 1),
                _ => KeyFileError::Corrupt,
            };
            assert_eq!(err, expected, "byte {byte}");
        }
    }

    #[test]
    fn truncated_and_extended_files_are_corrupt() {
        let file = seal(&master(), b"pw", TEST).unwrap();
        for len in [9, 40, file.len() - 1] {
            assert_eq!(
                open(&file[..len], b"pw"),
                Err(KeyFileError::Corrupt),
                "len {len}"
            );
        }
        let mut longer = file.clone();
        longer.push(0);
        assert_eq!(open(&longer, b"pw"), Err(KeyFileError::Corrupt));
        assert_eq!(open(b"PLOG", b"pw"), Err(KeyFileError::NotAKeyFile));
    }

    #[test]
    fn header_is_authenticated_even_with_a_recomputed_checksum() {
        // Whoever recomputes the checksum still cannot alter the parameters: the header is
        // associated data, so the file no longer opens.
        let file = seal(&master(), b"pw", TEST).unwrap();
        let mut bad = file[..file.len() - CHECKSUM_LEN].to_vec();
        bad[13] ^= 0x01; // memory 64 KiB -> 65 KiB
        let sum = blake2b_256(&bad);
        bad.extend_from_slice(&sum);
        assert_eq!(open(&bad, b"pw"), Err(KeyFileError::WrongPassphrase));
    }

    #[test]
    fn hostile_parameters_are_refused_before_any_work() {
        let mut file = seal(&master(), b"pw", TEST).unwrap();
        file.truncate(file.len() - CHECKSUM_LEN);
        file[14..18].copy_from_slice(&17u32.to_be_bytes()); // 17 passes
        let sum = blake2b_256(&file);
        file.extend_from_slice(&sum);
        assert_eq!(open(&file, b"pw"), Err(KeyFileError::UnsupportedParameters));
        let mut file = seal(&master(), b"pw", TEST).unwrap();
        file.truncate(file.len() - CHECKSUM_LEN);
        file[10..14].copy_from_slice(&(2 * 1024 * 1024u32).to_be_bytes()); // 2 GiB
        let sum = blake2b_256(&file);
        file.extend_from_slice(&sum);
        assert_eq!(open(&file, b"pw"), Err(KeyFileError::UnsupportedParameters));
        assert_eq!(
            seal(
                &master(),
                b"pw",
                KdfParams {
                    time_cost: 17,
                    ..TEST
                }
            ),
            Err(KeyFileError::UnsupportedParameters)
        );
    }

    #[test]
    fn layout_of_the_header() {
        let file = seal_with(&master(), b"passphrase", TEST, &[1; 16], &[2; 24]).unwrap();
        let expected_header = format!(
            "504c4f474b455900{}{}{}{}{}{}{}{}",
            "01",       // version
            "01",       // Argon2id
            "00000040", // 64 KiB
            "00000001", // 1 pass
            "00000001", // 1 lane
            "10",       // salt length
            "01".repeat(16),
            "02".repeat(24)
        );
        assert_eq!(hex::encode(&file[..63]), expected_header);
        assert_eq!(open(&file, b"passphrase").unwrap(), master());
    }

    /// A sealed file with `edit` applied before the checksum is recomputed, as anyone who
    /// knows the format can do.
    fn rewritten(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut file = seal(&master(), b"pw", TEST).unwrap();
        file.truncate(file.len() - CHECKSUM_LEN);
        edit(&mut file);
        let sum = blake2b_256(&file);
        file.extend_from_slice(&sum);
        file
    }

    #[test]
    fn too_many_lanes_are_refused() {
        // 64 KiB is enough memory for 5 and 8 lanes, so only the lane bound refuses these.
        for lanes in [5u32, 8] {
            let file = rewritten(|f| f[18..22].copy_from_slice(&lanes.to_be_bytes()));
            assert_eq!(
                open(&file, b"pw"),
                Err(KeyFileError::UnsupportedParameters),
                "{lanes} lanes"
            );
            assert_eq!(
                seal(
                    &master(),
                    b"pw",
                    KdfParams {
                        parallelism: lanes,
                        ..TEST
                    }
                ),
                Err(KeyFileError::UnsupportedParameters),
                "seal with {lanes} lanes"
            );
        }
    }

    #[test]
    fn unknown_kdf_ids_are_refused() {
        for kdf in [0u8, 2, 0xff] {
            let file = rewritten(|f| f[9] = kdf);
            assert_eq!(
                open(&file, b"pw"),
                Err(KeyFileError::UnsupportedParameters),
                "kdf {kdf}"
            );
        }
    }

    #[test]
    fn a_well_sealed_file_with_a_short_salt_is_refused() {
        // Built like `seal_deterministic` but with an 8-byte salt (the least Argon2 accepts),
        // so that nothing but the salt-length check stands in the way.
        let salt = [7u8; 8];
        let nonce = [8u8; NONCE_LEN];
        let mut file = Vec::new();
        file.extend_from_slice(MAGIC);
        file.push(VERSION);
        file.push(KDF_ARGON2ID);
        file.extend_from_slice(&TEST.memory_kib.to_be_bytes());
        file.extend_from_slice(&TEST.time_cost.to_be_bytes());
        file.extend_from_slice(&TEST.parallelism.to_be_bytes());
        file.push(salt.len() as u8);
        file.extend_from_slice(&salt);
        file.extend_from_slice(&nonce);
        let aad = fields(&[labels::KEY_FILE.as_bytes(), &file]);
        let key = derive_key(b"pw", &salt, &TEST.validate().unwrap()).unwrap();
        let mut sealed = [0u8; SEALED_LEN];
        xchacha::XChaCha20Poly1305::seal(
            &xchacha::SecretKey::try_from(&key.expose()[..]).unwrap(),
            &xchacha::Nonce::from(nonce),
            master().expose(),
            Some(&aad),
            &mut sealed,
        )
        .unwrap();
        file.extend_from_slice(&sealed);
        let sum = blake2b_256(&file);
        file.extend_from_slice(&sum);
        assert_eq!(open(&file, b"pw"), Err(KeyFileError::UnsupportedParameters));
        // A 15-byte salt cut out of a real file is refused the same way.
        let short = rewritten(|f| {
            f[22] = 15;
            f.remove(23);
        });
        assert_eq!(
            open(&short, b"pw"),
            Err(KeyFileError::UnsupportedParameters)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        #[test]
        fn seal_open_round_trip(secret in proptest::prelude::any::<[u8; 32]>(), passphrase in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64)) {
            let master = MasterSecret::from_bytes(secret);
            let file = seal(&master, &passphrase, TEST).unwrap();
            proptest::prop_assert_eq!(open(&file, &passphrase).unwrap(), master);
        }

        #[test]
        fn open_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = open(&data, b"pw");
        }
    }
}
