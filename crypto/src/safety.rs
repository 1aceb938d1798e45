//! Safety numbers: 60 digits two people compare to verify each other's keys.
//!
//! For each side, `h = SHA-512(fields(SAFETY_NUMBER, public key, account id))`, then 5,199 more
//! rounds of `h = SHA-512(h || public key)` (5,200 hashes in total, to make grinding a look-alike
//! key costly). The first 30 bytes of `h` give six 5-digit groups: each 5-byte big-endian chunk
//! modulo 100,000, zero-padded. The two 30-digit halves are sorted and concatenated, so both
//! sides see the same 60 digits; the display groups them in twelve blocks of five.

use crate::encoding::fields;
use crate::identity::IdentityPublicKey;
use crate::{CryptoError, labels};
use orion::hazardous::hash::sha2::sha512::Sha512;

const ITERATIONS: usize = 5200;

fn half(key: &IdentityPublicKey, account_id: &[u8; 16]) -> Result<String, CryptoError> {
    let fail = |_| CryptoError::Primitive("sha-512");
    let mut h = Sha512::digest(&fields(&[
        labels::SAFETY_NUMBER.as_bytes(),
        key.as_bytes(),
        account_id,
    ]))
    .map_err(fail)?;
    for _ in 1..ITERATIONS {
        let mut state = Sha512::new();
        state.update(h.as_ref()).map_err(fail)?;
        state.update(key.as_bytes()).map_err(fail)?;
        h = state.finalize().map_err(fail)?;
    }
    let bytes = h.as_ref();
    let mut out = String::with_capacity(30);
    for chunk in bytes[..30].chunks_exact(5) {
        let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        out.push_str(&format!("{:05}", value % 100_000));
    }
    Ok(out)
}

/// The 60-digit safety number of two parties (key and account id each); the same whichever
/// side computes it.
pub fn safety_number(
    a: (&IdentityPublicKey, &[u8; 16]),
    b: (&IdentityPublicKey, &[u8; 16]),
) -> Result<String, CryptoError> {
    let (x, y) = (half(a.0, a.1)?, half(b.0, b.1)?);
    Ok(if x <= y { x + &y } else { y + &x })
}

/// Groups 60 digits as twelve blocks of five separated by spaces.
pub fn display(number: &str) -> String {
    number
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKeyPair;

    #[test]
    fn both_sides_see_the_same_digits() {
        let a = IdentityKeyPair::generate().unwrap().public_key();
        let b = IdentityKeyPair::generate().unwrap().public_key();
        let n1 = safety_number((&a, &[1; 16]), (&b, &[2; 16])).unwrap();
        let n2 = safety_number((&b, &[2; 16]), (&a, &[1; 16])).unwrap();
        assert_eq!(n1, n2);
        assert_eq!(n1.len(), 60);
        assert!(n1.bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(display(&n1).split(' ').count(), 12);
    }

    #[test]
    fn any_other_key_or_id_changes_the_number() {
        let a = IdentityKeyPair::generate().unwrap().public_key();
        let b = IdentityKeyPair::generate().unwrap().public_key();
        let m = IdentityKeyPair::generate().unwrap().public_key();
        let base = safety_number((&a, &[1; 16]), (&b, &[2; 16])).unwrap();
        assert_ne!(base, safety_number((&a, &[1; 16]), (&m, &[2; 16])).unwrap());
        assert_ne!(base, safety_number((&m, &[1; 16]), (&b, &[2; 16])).unwrap());
        assert_ne!(base, safety_number((&a, &[1; 16]), (&b, &[3; 16])).unwrap());
    }
}
