//! Unpadded base64url (RFC 4648 §5), the text form of grantee tags in `volumes.grantee_tags`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for i in 0..=chunk.len() {
            let index = (bits >> (18 - 6 * i)) & 0x3f;
            text.push(char::from(ALPHABET[index as usize]));
        }
    }
    text
}

/// Decodes unpadded base64url; `None` for anything else (padding, other alphabets, a
/// dangling character, non-zero trailing bits).
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut bits = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let value = ALPHABET.iter().position(|&a| a == c)?;
            bits |= (value as u32) << (18 - 6 * i);
        }
        let group = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        let len = chunk.len() - 1;
        // Bits beyond the last whole byte must be zero: one spelling per value.
        if group[len..].iter().any(|&b| b != 0) {
            return None;
        }
        bytes.extend_from_slice(&group[..len]);
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn url_alphabet_and_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        let coded = encode(&all);
        assert!(!coded.contains(['+', '/', '=']));
        assert_eq!(decode(&coded), Some(all));
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["Z", "Zg==", "Zh", "Zm9v+", "Zm9v/w", "Zm 9"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
