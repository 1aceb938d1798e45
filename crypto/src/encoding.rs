//! Length-prefixed encoding of the inputs to key derivations, HPKE `info`/`aad` and MACs, and a
//! bounds-checked reader for the binary formats.
//!
//! A field is written as its length in bytes, a 32-bit big-endian integer, followed by the bytes.
//! A sequence of fields is the concatenation of its encoded fields. Two different sequences of
//! fields therefore never encode to the same bytes, so a label can never be confused with data.

use thiserror::Error;

/// Builds a byte string of length-prefixed fields.
#[derive(Debug, Default, Clone)]
pub struct FieldWriter {
    bytes: Vec<u8>,
}

impl FieldWriter {
    /// An empty sequence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one field: its length as u32 big-endian, then its bytes.
    ///
    /// # Panics
    /// Never for the inputs of this crate; fields longer than 4 GiB are a programming error.
    pub fn field(mut self, data: &[u8]) -> Self {
        let len = u32::try_from(data.len()).expect("a length-prefixed field is below 4 GiB");
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(data);
        self
    }

    /// Appends a field holding a u64 in big-endian order.
    pub fn u64_field(self, value: u64) -> Self {
        self.field(&value.to_be_bytes())
    }

    /// Appends a field holding a u32 in big-endian order.
    pub fn u32_field(self, value: u32) -> Self {
        self.field(&value.to_be_bytes())
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Encodes a list of fields in one call.
pub fn fields(parts: &[&[u8]]) -> Vec<u8> {
    parts
        .iter()
        .fold(FieldWriter::new(), |w, part| w.field(part))
        .finish()
}

/// The input ended before a fixed-size or length-prefixed item was complete, or an item was
/// longer than allowed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes remained than the item needs.
    #[error("input ends early: needed {needed} more bytes")]
    Truncated {
        /// How many bytes were missing.
        needed: usize,
    },
    /// A length prefix exceeded the limit for that item.
    #[error("a length prefix of {len} exceeds the limit of {max}")]
    TooLong {
        /// The length that was announced.
        len: usize,
        /// The largest length accepted there.
        max: usize,
    },
    /// Bytes remained after the last item.
    #[error("{0} unexpected bytes after the end")]
    Trailing(usize),
}

/// Reads fixed-size and length-prefixed items from a byte slice, never past its end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Takes one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Takes a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Takes a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Takes a big-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Takes a field with a one-byte length prefix of at most `max` bytes.
    pub fn short_field(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(DecodeError::TooLong { len, max });
        }
        self.take(len)
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Succeeds only if every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn field_layout_is_u32_be_length_then_bytes() {
        assert_eq!(
            fields(&[b"ab", b""]),
            vec![0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0]
        );
    }

    #[test]
    fn moving_a_byte_between_fields_changes_the_encoding() {
        assert_ne!(fields(&[b"ab", b"c"]), fields(&[b"a", b"bc"]));
    }

    #[test]
    fn reader_refuses_to_read_past_the_end() {
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.take(3), Err(DecodeError::Truncated { needed: 1 }));
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn reader_reports_trailing_bytes() {
        let mut r = Reader::new(&[1, 2, 3]);
        r.u8().unwrap();
        assert_eq!(r.finish(), Err(DecodeError::Trailing(2)));
    }

    #[test]
    fn short_field_enforces_its_limit() {
        let mut r = Reader::new(&[3, b'a', b'b', b'c']);
        assert_eq!(
            r.clone().short_field(2),
            Err(DecodeError::TooLong { len: 3, max: 2 })
        );
        assert_eq!(r.short_field(3), Ok(&b"abc"[..]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn fields_decode_back(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..6)) {
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let encoded = fields(&refs);
            let mut r = Reader::new(&encoded);
            for part in &parts {
                let len = r.u32().unwrap() as usize;
                prop_assert_eq!(r.take(len).unwrap(), part.as_slice());
            }
            prop_assert!(r.finish().is_ok());
        }
    }
}
