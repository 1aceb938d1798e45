//! PADMÉ padding of volume plaintexts.
//!
//! A volume's padded plaintext is `u64 length (big-endian) || plaintext || zero bytes`, and its
//! total size is `max(4096, padme(8 + length))`. PADMÉ (Nikitin et al., "Reducing Metadata
//! Leakage from Encrypted Files and Communication with PURBs", 2019) rounds a size `L` up so that
//! at most `O(log log L)` bits of it remain, leaking at most about 12% overhead.

/// Bytes of the big-endian length prefix in front of the plaintext.
pub const LENGTH_PREFIX_LEN: u64 = 8;

/// The smallest padded plaintext: every volume is at least this large.
pub const MIN_PADDED_LEN: u64 = 4096;

/// The PADMÉ size for `len` bytes: the smallest size at least `len` whose binary form ends in
/// `E - S` zero bits, where `E = floor(log2 len)` and `S = floor(log2 E) + 1`.
pub fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::from(len.leading_zeros()); // floor(log2 len)
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1u64 << last_bits) - 1;
    // len < 2^64 - 2^58, so this never overflows for any length a u64 file size can take
    // minus the prefix; saturate to be safe for absurd inputs.
    len.saturating_add(mask) & !mask
}

/// Size of the padded plaintext (length prefix included) for a plaintext of `plaintext_len`.
/// `None` if the size does not fit in a u64.
pub fn padded_len(plaintext_len: u64) -> Option<u64> {
    let with_prefix = plaintext_len.checked_add(LENGTH_PREFIX_LEN)?;
    let padded = padme(with_prefix).max(MIN_PADDED_LEN);
    (padded >= with_prefix).then_some(padded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_sizes() {
        // E.g. 4097: E = 12, S = 4, so the low 8 bits are rounded up to zero -> 4352.
        for (len, want) in [
            (0, 0),
            (1, 1),
            (2, 2),
            (7, 7),
            (9, 10),
            (1000, 1024),
            (4097, 4352),
            (65_537, 67_584),
            (1 << 20, 1 << 20),
            ((1 << 20) + 1, (1 << 20) + (1 << 15)),
        ] {
            assert_eq!(padme(len), want, "padme({len})");
        }
    }

    #[test]
    fn minimum_bucket_and_prefix() {
        assert_eq!(padded_len(0), Some(4096));
        assert_eq!(padded_len(4088), Some(4096));
        assert_eq!(padded_len(4089), Some(4352));
        assert_eq!(padded_len(u64::MAX), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn padding_never_shrinks_and_overhead_is_bounded(len in 0u64..(1u64 << 40)) {
            let padded = padded_len(len).unwrap();
            prop_assert!(padded >= len + LENGTH_PREFIX_LEN);
            prop_assert!(padded >= MIN_PADDED_LEN);
            if len + LENGTH_PREFIX_LEN > MIN_PADDED_LEN {
                // PADMÉ's overhead is below 12% for sizes of this range.
                prop_assert!((padded - len - LENGTH_PREFIX_LEN) * 100 <= (len + LENGTH_PREFIX_LEN) * 12);
            }
            prop_assert_eq!(padme(padded), padded, "padded sizes are fixed points");
        }
    }
}
