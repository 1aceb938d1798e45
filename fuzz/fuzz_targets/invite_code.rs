//! Invite codes: `InviteCode::parse` and `invite::parse_locator` must never panic on any text,
//! and a code that parses must round-trip through `to_code`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plog_crypto::invite::{self, InviteCode};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Ok(locator) = invite::parse_locator(&text) {
        let code = InviteCode::from_parts(locator, &[0; 32], &invite_owner());
        assert_eq!(invite::parse_locator(&code.locator_text()), Ok(locator));
    }

    let Ok(code) = InviteCode::parse(&text) else {
        return;
    };
    let canonical = code.to_code();
    let again = InviteCode::parse(&canonical).expect("to_code() output parses");
    assert_eq!(again.locator(), code.locator());
    assert_eq!(again.to_code(), canonical);
    assert_eq!(again.locator_hash(), code.locator_hash());
    assert_eq!(
        invite::parse_locator(&code.locator_text()).as_ref(),
        Ok(code.locator())
    );
    // Base32 decoding is strict (no trailing bits, no padding), so the only text that parses to
    // a code is its canonical form, give or take case and surrounding whitespace.
    assert_eq!(*canonical, text.trim().to_ascii_lowercase());
});

fn invite_owner() -> plog_crypto::identity::IdentityPublicKey {
    plog_crypto::identity::IdentityPublicKey::from_bytes([8; 32])
}
