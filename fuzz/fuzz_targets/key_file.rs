//! The key-file parser: `keyfile::params` and `keyfile::open` must never panic, and must agree.
//!
//! A random input almost never carries a valid BLAKE2b checksum, so the parser would stop at the
//! checksum every time. Each input is therefore tried twice: as it is, and with a correct
//! checksum appended, which lets the fuzzer reach the field parsing and the KDF parameter checks.
//!
//! Argon2 only runs once the checksum matches, but such a file may ask for up to 4 GiB of memory
//! and 64 passes. To keep every execution fast, `open` is skipped for files whose parameters ask
//! for more than 1 MiB or more than 2 passes (the limits themselves are the parser's business and
//! are still exercised through `params`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use orion::hazardous::hash::blake2::blake2b::Blake2b;
use plog_crypto::keyfile::{self, KeyFileError};

const PASSPHRASE: &[u8] = b"pw";
const MAX_MEMORY_KIB: u32 = 1024;
const MAX_TIME_COST: u32 = 2;

fn blake2b_256(data: &[u8]) -> Vec<u8> {
    let mut state = Blake2b::new(32).expect("32 is a valid BLAKE2b output size");
    state.update(data).expect("BLAKE2b accepts the input");
    state.finalize().expect("finalize once").as_ref().to_vec()
}

fn check(file: &[u8]) {
    match keyfile::params(file) {
        Ok(params) => {
            if params.memory_kib > MAX_MEMORY_KIB || params.time_cost > MAX_TIME_COST {
                return;
            }
            // Without the passphrase it was sealed under, a parsed file can only fail to open
            // (wrong passphrase or parameters refused); it must never open as something else.
            match keyfile::open(file, PASSPHRASE) {
                Ok(_) | Err(KeyFileError::WrongPassphrase | KeyFileError::UnsupportedParameters) => {}
                Err(other) => panic!("params() accepted the file but open() said {other:?}"),
            }
        }
        // `open` parses exactly like `params` before doing any work, so it must refuse the file
        // for the same reason (and cheaply: no Argon2 runs when parsing fails).
        Err(err) => assert_eq!(keyfile::open(file, PASSPHRASE).err(), Some(err)),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);

    let mut with_checksum = data.to_vec();
    with_checksum.extend_from_slice(&blake2b_256(data));
    check(&with_checksum);
});
