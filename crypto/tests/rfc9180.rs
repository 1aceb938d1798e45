//! Known-answer tests for orion's HPKE against the published test vectors for
//! the suite DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305
//! (kem_id 0x0020, kdf_id 0x0001, aead_id 0x0003).
//!
//! Source of every hex value below: RFC 9180, Appendix A.2 (A.2.1 Base,
//! A.2.2 PSK, A.2.3 Auth, A.2.4 AuthPSK). Values are copied from the RFC text;
//! values the RFC prints over two lines are joined with `concat!` at the same
//! place the RFC breaks them.
//!
//! For every mode the tests check:
//! - the key-pair inputs are consistent (DeriveKeyPair(ikm) and sk give pk);
//! - a sender built with `new_sender_deterministic` and skEm produces `enc`;
//! - sealing successive messages on one context gives the listed ciphertexts
//!   at sequence numbers 0, 1, 2, 4, 255 and 256;
//! - a recipient built from `enc` and skRm opens every listed ciphertext;
//! - `export_secret` on both sides gives the listed exported values;
//! - tampering (ciphertext bit, aad, enc, info, wrong psk / psk_id,
//!   wrong sender public key) makes opening fail.

use orion::KP;
use orion::errors::UnknownCryptoError;
use orion::hazardous::hpke::{
    DHKEM_X25519_SHA256_CHACHA20, ModeAuth, ModeAuthPsk, ModeBase, ModePsk,
};
use orion::hazardous::kem::x25519_hkdf_sha256::{KeyPair, PrivateKey, PublicKey};

type Suite = DHKEM_X25519_SHA256_CHACHA20;

/// Poly1305 tag length (Nt for ChaCha20Poly1305).
const TAG_LEN: usize = 16;

/// The highest sequence number the RFC lists for each mode.
const LAST_SEQ: u64 = 256;

// Inputs shared by all four A.2 vectors (identical in every subsection).
const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
const PSK: &str = "0247fd33b913760fa1fa51e1892d9f307fbe65eb171e8132c2af18555a738b82";
const PSK_ID: &str = "456e6e796e20447572696e206172616e204d6f726961";

#[derive(Debug)]
struct Encryption {
    seq: u64,
    aad: &'static str,
    ct: &'static str,
}

#[derive(Debug)]
struct Export {
    exporter_context: &'static str,
    len: usize,
    exported_value: &'static str,
}

#[derive(Debug)]
struct Sender {
    ikm: &'static str,
    pk: &'static str,
    sk: &'static str,
}

#[derive(Debug)]
struct Vector {
    section: &'static str,
    mode: u8,
    ikm_e: &'static str,
    pk_em: &'static str,
    sk_em: &'static str,
    ikm_r: &'static str,
    pk_rm: &'static str,
    sk_rm: &'static str,
    /// ikmS / pkSm / skSm, only in the Auth and AuthPSK modes.
    sender: Option<Sender>,
    /// Whether psk / psk_id are inputs (PSK and AuthPSK modes).
    uses_psk: bool,
    enc: &'static str,
    encryptions: [Encryption; 6],
    exports: [Export; 3],
}

const fn encryptions(cts: [&'static str; 6]) -> [Encryption; 6] {
    let [ct0, ct1, ct2, ct4, ct255, ct256] = cts;
    [
        Encryption {
            seq: 0,
            aad: "436f756e742d30",
            ct: ct0,
        },
        Encryption {
            seq: 1,
            aad: "436f756e742d31",
            ct: ct1,
        },
        Encryption {
            seq: 2,
            aad: "436f756e742d32",
            ct: ct2,
        },
        Encryption {
            seq: 4,
            aad: "436f756e742d34",
            ct: ct4,
        },
        Encryption {
            seq: 255,
            aad: "436f756e742d323535",
            ct: ct255,
        },
        Encryption {
            seq: 256,
            aad: "436f756e742d323536",
            ct: ct256,
        },
    ]
}

const fn exports(values: [&'static str; 3]) -> [Export; 3] {
    let [empty, zero, test_context] = values;
    [
        Export {
            exporter_context: "",
            len: 32,
            exported_value: empty,
        },
        Export {
            exporter_context: "00",
            len: 32,
            exported_value: zero,
        },
        Export {
            exporter_context: "54657374436f6e74657874",
            len: 32,
            exported_value: test_context,
        },
    ]
}

/// RFC 9180, Appendix A.2.1: Base Setup Information.
const A_2_1_BASE: Vector = Vector {
    section: "A.2.1 Base",
    mode: 0,
    ikm_e: "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b",
    pk_em: "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    sk_em: "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
    ikm_r: "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
    pk_rm: "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
    sk_rm: "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    sender: None,
    uses_psk: false,
    enc: "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    encryptions: encryptions([
        concat!(
            "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db",
            "21993c62ce81883d2dd1b51a28"
        ),
        concat!(
            "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e",
            "85285337cc95ba5f59992dc98c"
        ),
        concat!(
            "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02",
            "b4f10ecac6f48c32f878fae86b"
        ),
        concat!(
            "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122b",
            "b153495ff0b02e9e54a50dbe16"
        ),
        concat!(
            "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b888",
            "0a5f6b3936da9cd6c23ef2a95c"
        ),
        concat!(
            "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076",
            "214c0c40d4c728d6ed9e727a5b"
        ),
    ]),
    exports: exports([
        "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e",
        "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69",
        "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53",
    ]),
};

/// RFC 9180, Appendix A.2.2: PSK Setup Information.
const A_2_2_PSK: Vector = Vector {
    section: "A.2.2 PSK",
    mode: 1,
    ikm_e: "35706a0b09fb26fb45c39c2f5079c709c7cf98e43afa973f14d88ece7e29c2e3",
    pk_em: "2261299c3f40a9afc133b969a97f05e95be2c514e54f3de26cbe5644ac735b04",
    sk_em: "0c35fdf49df7aa01cd330049332c40411ebba36e0c718ebc3edf5845795f6321",
    ikm_r: "26b923eade72941c8a85b09986cdfa3f1296852261adedc52d58d2930269812b",
    pk_rm: "13640af826b722fc04feaa4de2f28fbd5ecc03623b317834e7ff4120dbe73062",
    sk_rm: "77d114e0212be51cb1d76fa99dd41cfd4d0166b08caa09074430a6c59ef17879",
    sender: None,
    uses_psk: true,
    enc: "2261299c3f40a9afc133b969a97f05e95be2c514e54f3de26cbe5644ac735b04",
    encryptions: encryptions([
        concat!(
            "4a177f9c0d6f15cfdf533fb65bf84aecdc6ab16b8b85b4cf65a370e07fc1d78d",
            "28fb073214525276f4a89608ff"
        ),
        concat!(
            "5c3cabae2f0b3e124d8d864c116fd8f20f3f56fda988c3573b40b09997fd6c76",
            "9e77c8eda6cda4f947f5b704a8"
        ),
        concat!(
            "14958900b44bdae9cbe5a528bf933c5c990dbb8e282e6e495adf8205d19da9eb",
            "270e3a6f1e0613ab7e757962a4"
        ),
        concat!(
            "c2a7bc09ddb853cf2effb6e8d058e346f7fe0fb3476528c80db6b698415c5f8c",
            "50b68a9a355609e96d2117f8d3"
        ),
        concat!(
            "2414d0788e4bc39a59a26d7bd5d78e111c317d44c37bd5a4c2a1235f2ddc2085",
            "c487d406490e75210c958724a7"
        ),
        concat!(
            "c567ae1c3f0f75abe1dd9e4532b422600ed4a6e5b9484dafb1e43ab9f5fd662b",
            "28c00e2e81d3cde955dae7e218"
        ),
    ]),
    exports: exports([
        "813c1bfc516c99076ae0f466671f0ba5ff244a41699f7b2417e4c59d46d39f40",
        "2745cf3d5bb65c333658732954ee7af49eb895ce77f8022873a62a13c94cb4e1",
        "ad40e3ae14f21c99bfdebc20ae14ab86f4ca2dc9a4799d200f43a25f99fa78ae",
    ]),
};

/// RFC 9180, Appendix A.2.3: Auth Setup Information.
const A_2_3_AUTH: Vector = Vector {
    section: "A.2.3 Auth",
    mode: 2,
    ikm_e: "938d3daa5a8904540bc24f48ae90eed3f4f7f11839560597b55e7c9598c996c0",
    pk_em: "f7674cc8cd7baa5872d1f33dbaffe3314239f6197ddf5ded1746760bfc847e0e",
    sk_em: "c94619e1af28971c8fa7957192b7e62a71ca2dcdde0a7cc4a8a9e741d600ab13",
    ikm_r: "64835d5ee64aa7aad57c6f2e4f758f7696617f8829e70bc9ac7a5ef95d1c756c",
    pk_rm: "1a478716d63cb2e16786ee93004486dc151e988b34b475043d3e0175bdb01c44",
    sk_rm: "3ca22a6d1cda1bb9480949ec5329d3bf0b080ca4c45879c95eddb55c70b80b82",
    sender: Some(Sender {
        ikm: "9d8f94537d5a3ddef71234c0baedfad4ca6861634d0b94c3007fed557ad17df6",
        pk: "f0f4f9e96c54aeed3f323de8534fffd7e0577e4ce269896716bcb95643c8712b",
        sk: "2def0cb58ffcf83d1062dd085c8aceca7f4c0c3fd05912d847b61f3e54121f05",
    }),
    uses_psk: false,
    enc: "f7674cc8cd7baa5872d1f33dbaffe3314239f6197ddf5ded1746760bfc847e0e",
    encryptions: encryptions([
        concat!(
            "ab1a13c9d4f01a87ec3440dbd756e2677bd2ecf9df0ce7ed73869b98e00c09be",
            "111cb9fdf077347aeb88e61bdf"
        ),
        concat!(
            "3265c7807ffff7fdace21659a2c6ccffee52a26d270c76468ed74202a65478bf",
            "aedfff9c2b7634e24f10b71016"
        ),
        concat!(
            "3aadee86ad2a05081ea860033a9d09dbccb4acac2ded0891da40f51d4df19925",
            "f7a767b076a5cbc9355c8fd35e"
        ),
        concat!(
            "502ecccd5c2be3506a081809cc58b43b94f77cbe37b8b31712d9e21c9e61aa69",
            "46a8e922f54eae630f88eb8033"
        ),
        concat!(
            "652e597ba20f3d9241cda61f33937298b1169e6adf72974bbe454297502eb4be",
            "132e1c5064702fc165c2ddbde8"
        ),
        concat!(
            "3be14e8b3bbd1028cf2b7d0a691dbbeff71321e7dec92d3c2cfb30a0994ab246",
            "af76168480285a60037b4ba13a"
        ),
    ]),
    exports: exports([
        "070cffafd89b67b7f0eeb800235303a223e6ff9d1e774dce8eac585c8688c872",
        "2852e728568d40ddb0edde284d36a4359c56558bb2fb8837cd3d92e46a3a14a8",
        "1df39dc5dd60edcbf5f9ae804e15ada66e885b28ed7929116f768369a3f950ee",
    ]),
};

/// RFC 9180, Appendix A.2.4: AuthPSK Setup Information.
const A_2_4_AUTH_PSK: Vector = Vector {
    section: "A.2.4 AuthPSK",
    mode: 3,
    ikm_e: "49d6eac8c6c558c953a0a252929a818745bb08cd3d29e15f9f5db5eb2e7d4b84",
    pk_em: "656a2e00dc9990fd189e6e473459392df556e9a2758754a09db3f51179a3fc02",
    sk_em: "5e6dd73e82b856339572b7245d3cbb073a7561c0bee52873490e305cbb710410",
    ikm_r: "f3304ddcf15848488271f12b75ecaf72301faabf6ad283654a14c398832eb184",
    pk_rm: "a5099431c35c491ec62ca91df1525d6349cb8aa170c51f9581f8627be6334851",
    sk_rm: "7b36a42822e75bf3362dfabbe474b3016236408becb83b859a6909e22803cb0c",
    sender: Some(Sender {
        ikm: "20ade1d5203de1aadfb261c4700b6432e260d0d317be6ebbb8d7fffb1f86ad9d",
        pk: "3ac5bd4dd66ff9f2740bef0d6ccb66daa77bff7849d7895182b07fb74d087c45",
        sk: "90761c5b0a7ef0985ed66687ad708b921d9803d51637c8d1cb72d03ed0f64418",
    }),
    uses_psk: true,
    enc: "656a2e00dc9990fd189e6e473459392df556e9a2758754a09db3f51179a3fc02",
    encryptions: encryptions([
        concat!(
            "9aa52e29274fc6172e38a4461361d2342585d3aeec67fb3b721ecd63f059577c",
            "7fe886be0ede01456ebc67d597"
        ),
        concat!(
            "59460bacdbe7a920ef2806a74937d5a691d6d5062d7daafcad7db7e4d8c649ad",
            "ffe575c1889c5c2e3a49af8e3e"
        ),
        concat!(
            "5688ff6a03ba26ae936044a5c800f286fb5d1eccdd2a0f268f6ff9773b511693",
            "18d1a1466bb36263415071db00"
        ),
        concat!(
            "d936b7a01f5c7dc4c3dc04e322cc694684ee18dd71719196874e5235aed3cfb0",
            "6cadcd3bc7da0877488d7c551d"
        ),
        concat!(
            "4d4c462f7b9b637eaf1f4e15e325b7bc629c0af6e3073422c86064cc3c98cff8",
            "7300f054fd56dd57dc34358beb"
        ),
        concat!(
            "9b7f84224922d2a9edd7b2c2057f3bcf3a547f17570575e626202e593bfdd99e",
            "9878a1af9e41ded58c7fb77d2f"
        ),
    ]),
    exports: exports([
        "c23ebd4e7a0ad06a5dddf779f65004ce9481069ce0f0e6dd51a04539ddcbd5cd",
        "ed7ff5ca40a3d84561067ebc8e01702bc36cf1eb99d42a92004642b9dfaadd37",
        "d3bae066aa8da27d527d85c040f7dd6ccb60221c902ee36a82f70bcd62a60ee4",
    ]),
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector hex is valid")
}

fn private_key(s: &str) -> PrivateKey {
    PrivateKey::try_from(unhex(s).as_slice()).expect("32-byte private key")
}

fn public_key(s: &str) -> PublicKey {
    PublicKey::try_from(unhex(s).as_slice()).expect("32-byte public key")
}

/// The RFC's aad for sequence number `seq` is the ASCII string "Count-<seq>".
fn aad_for(seq: u64) -> Vec<u8> {
    format!("Count-{seq}").into_bytes()
}

fn flip_bit(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

/// The operations shared by the four HPKE mode contexts (which expose them as
/// inherent methods, not through a public trait).
trait Context {
    fn seal_msg(&mut self, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>, UnknownCryptoError>;
    fn open_msg(&mut self, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, UnknownCryptoError>;
    fn export(&self, exporter_context: &[u8], len: usize) -> Result<Vec<u8>, UnknownCryptoError>;
}

macro_rules! impl_context {
    ($($mode:ident),* $(,)?) => {$(
        impl Context for $mode<Suite> {
            fn seal_msg(&mut self, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>, UnknownCryptoError> {
                let mut out = vec![0u8; pt.len() + TAG_LEN];
                self.seal(pt, aad, &mut out)?;
                Ok(out)
            }

            fn open_msg(&mut self, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, UnknownCryptoError> {
                let mut out = vec![0u8; ct.len().checked_sub(TAG_LEN).ok_or(UnknownCryptoError)?];
                self.open(ct, aad, &mut out)?;
                Ok(out)
            }

            fn export(
                &self,
                exporter_context: &[u8],
                len: usize,
            ) -> Result<Vec<u8>, UnknownCryptoError> {
                let mut out = vec![0u8; len];
                self.export_secret(exporter_context, &mut out)?;
                Ok(out)
            }
        }
    )*};
}

impl_context!(ModeBase, ModePsk, ModeAuth, ModeAuthPsk);

/// Checks that the key material in a vector is self-consistent under orion:
/// DeriveKeyPair(ikm) and the listed sk both give the listed pk, and pkEm is enc.
fn check_key_material(v: &Vector) {
    let s = v.section;
    let mut pairs = vec![
        ("E", v.ikm_e, v.sk_em, v.pk_em),
        ("R", v.ikm_r, v.sk_rm, v.pk_rm),
    ];
    if let Some(sender) = &v.sender {
        pairs.push(("S", sender.ikm, sender.sk, sender.pk));
    }
    for (who, ikm, sk, pk) in pairs {
        let derived = KeyPair::derive(&unhex(ikm)).expect("DeriveKeyPair");
        assert_eq!(
            derived.public().as_ref(),
            unhex(pk).as_slice(),
            "{s}: DeriveKeyPair(ikm{who}) public key != pk{who}m"
        );
        let from_sk = PublicKey::try_from(&private_key(sk)).expect("public from private");
        assert_eq!(
            from_sk.as_ref(),
            unhex(pk).as_slice(),
            "{s}: public key of sk{who}m != pk{who}m"
        );
    }
    assert_eq!(v.pk_em, v.enc, "{s}: enc is the serialized pkEm");
}

/// Runs the known-answer checks on a sender/recipient pair built from a vector.
fn check_contexts(
    v: &Vector,
    mut sender: impl Context,
    enc: &PublicKey,
    mut recipient: impl Context,
) {
    let s = v.section;
    let pt = unhex(PT);

    assert_eq!(enc.as_ref(), unhex(v.enc).as_slice(), "{s}: enc");

    // Seal successive messages on one context; compare the listed ones.
    let mut sealed = Vec::new();
    for seq in 0..=LAST_SEQ {
        let listed = v.encryptions.iter().find(|e| e.seq == seq);
        let aad = listed.map_or_else(|| aad_for(seq), |e| unhex(e.aad));
        let ct = sender.seal_msg(&pt, &aad).expect("seal");
        if let Some(e) = listed {
            assert_eq!(
                aad,
                aad_for(seq),
                "{s}: aad of seq {seq} is \"Count-{seq}\""
            );
            assert_eq!(hex::encode(&ct), e.ct, "{s}: ciphertext of seq {seq}");
        }
        sealed.push((aad, ct));
    }

    // Open them in order; for the listed sequence numbers open the RFC's bytes.
    for (seq, (aad, ct)) in (0..=LAST_SEQ).zip(&sealed) {
        let listed = v.encryptions.iter().find(|e| e.seq == seq);
        let ct = listed.map_or_else(|| ct.clone(), |e| unhex(e.ct));
        let opened = recipient.open_msg(&ct, aad).expect("open");
        assert_eq!(opened, pt, "{s}: plaintext of seq {seq}");
    }

    for x in &v.exports {
        let ctx = unhex(x.exporter_context);
        let want = unhex(x.exported_value);
        let ctx_hex = x.exporter_context;
        assert_eq!(
            sender.export(&ctx, x.len).expect("sender export"),
            want,
            "{s}: sender export, exporter_context = {ctx_hex:?}"
        );
        assert_eq!(
            recipient.export(&ctx, x.len).expect("recipient export"),
            want,
            "{s}: recipient export, exporter_context = {ctx_hex:?}"
        );
    }
}

/// Tamper checks on a fresh recipient at sequence number 0: a flipped
/// ciphertext or tag bit, or a different aad, is rejected; a rejected message
/// does not advance the sequence number, so the genuine one opens afterwards.
fn check_tampering(v: &Vector, mut recipient: impl Context) {
    let s = v.section;
    let e0 = &v.encryptions[0];
    let ct0 = unhex(e0.ct);
    let aad0 = unhex(e0.aad);
    assert!(
        recipient.open_msg(&flip_bit(&ct0, 0), &aad0).is_err(),
        "{s}: flipped ciphertext bit must not open"
    );
    assert!(
        recipient
            .open_msg(&flip_bit(&ct0, ct0.len() - 1), &aad0)
            .is_err(),
        "{s}: flipped tag bit must not open"
    );
    assert!(
        recipient
            .open_msg(&ct0, &unhex(v.encryptions[1].aad))
            .is_err(),
        "{s}: wrong aad must not open"
    );
    assert!(
        recipient
            .open_msg(&unhex(v.encryptions[1].ct), &unhex(v.encryptions[1].aad))
            .is_err(),
        "{s}: ciphertext of seq 1 must not open at seq 0"
    );
    assert_eq!(
        recipient
            .open_msg(&ct0, &aad0)
            .expect("genuine seq 0 opens after rejections"),
        unhex(PT),
        "{s}: failures must not advance the sequence number"
    );
}

/// Opening the seq-0 ciphertext with a recipient context built from wrong inputs fails.
fn assert_rejects(v: &Vector, what: &str, recipient: Result<impl Context, UnknownCryptoError>) {
    let s = v.section;
    // Every wrong input used here is well-formed, so the context is built; the
    // mismatch only shows when the message is authenticated.
    let mut recipient = recipient.expect("well-formed wrong inputs still build a context");
    let e0 = &v.encryptions[0];
    assert!(
        recipient.open_msg(&unhex(e0.ct), &unhex(e0.aad)).is_err(),
        "{s}: {what} must not open"
    );
}

/// A public key that differs from `pk` (used as a wrong enc / wrong sender key).
fn other_public(pk: &str) -> PublicKey {
    public_key(&hex::encode(flip_bit(&unhex(pk), 0)))
}

fn wrong_psk() -> Vec<u8> {
    flip_bit(&unhex(PSK), 0)
}

fn wrong_psk_id() -> Vec<u8> {
    flip_bit(&unhex(PSK_ID), 0)
}

fn wrong_info() -> Vec<u8> {
    flip_bit(&unhex(INFO), 0)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn mode_ids_match_the_vectors() {
    assert_eq!(ModeBase::<Suite>::MODE_ID, A_2_1_BASE.mode);
    assert_eq!(ModePsk::<Suite>::MODE_ID, A_2_2_PSK.mode);
    assert_eq!(ModeAuth::<Suite>::MODE_ID, A_2_3_AUTH.mode);
    assert_eq!(ModeAuthPsk::<Suite>::MODE_ID, A_2_4_AUTH_PSK.mode);
    assert_eq!(KeyPair::KEM_ID, 0x0020);
}

#[test]
fn a_2_1_base() {
    let v = &A_2_1_BASE;
    check_key_material(v);
    let info = unhex(INFO);
    let pk_r = public_key(v.pk_rm);
    let sk_r = private_key(v.sk_rm);

    let (sender, enc) =
        ModeBase::<Suite>::new_sender_deterministic(&pk_r, &info, private_key(v.sk_em))
            .expect("base sender");
    let recipient = ModeBase::<Suite>::new_recipient(&enc, &sk_r, &info).expect("base recipient");
    check_contexts(v, sender, &enc, recipient);

    let enc = public_key(v.enc);
    check_tampering(
        v,
        ModeBase::<Suite>::new_recipient(&enc, &sk_r, &info).expect("recipient"),
    );
    assert_rejects(
        v,
        "wrong enc",
        ModeBase::<Suite>::new_recipient(&other_public(v.enc), &sk_r, &info),
    );
    assert_rejects(
        v,
        "wrong info",
        ModeBase::<Suite>::new_recipient(&enc, &sk_r, &wrong_info()),
    );
    assert_rejects(
        v,
        "wrong recipient key",
        ModeBase::<Suite>::new_recipient(&enc, &private_key(v.sk_em), &info),
    );
}

#[test]
fn a_2_2_psk() {
    let v = &A_2_2_PSK;
    assert!(v.uses_psk);
    check_key_material(v);
    let (info, psk, psk_id) = (unhex(INFO), unhex(PSK), unhex(PSK_ID));
    let pk_r = public_key(v.pk_rm);
    let sk_r = private_key(v.sk_rm);

    let (sender, enc) = ModePsk::<Suite>::new_sender_deterministic(
        &pk_r,
        &info,
        &psk,
        &psk_id,
        private_key(v.sk_em),
    )
    .expect("psk sender");
    let recipient =
        ModePsk::<Suite>::new_recipient(&enc, &sk_r, &info, &psk, &psk_id).expect("psk recipient");
    check_contexts(v, sender, &enc, recipient);

    let enc = public_key(v.enc);
    check_tampering(
        v,
        ModePsk::<Suite>::new_recipient(&enc, &sk_r, &info, &psk, &psk_id).expect("recipient"),
    );
    assert_rejects(
        v,
        "wrong psk",
        ModePsk::<Suite>::new_recipient(&enc, &sk_r, &info, &wrong_psk(), &psk_id),
    );
    assert_rejects(
        v,
        "wrong psk_id",
        ModePsk::<Suite>::new_recipient(&enc, &sk_r, &info, &psk, &wrong_psk_id()),
    );
    assert_rejects(
        v,
        "wrong enc",
        ModePsk::<Suite>::new_recipient(&other_public(v.enc), &sk_r, &info, &psk, &psk_id),
    );
    assert_rejects(
        v,
        "wrong info",
        ModePsk::<Suite>::new_recipient(&enc, &sk_r, &wrong_info(), &psk, &psk_id),
    );
    assert!(
        ModePsk::<Suite>::new_recipient(&enc, &sk_r, &info, b"", b"").is_err(),
        "{}: PSK mode requires a psk",
        v.section
    );
}

#[test]
fn a_2_3_auth() {
    let v = &A_2_3_AUTH;
    check_key_material(v);
    let sender_keys = v.sender.as_ref().expect("auth vector has a sender key");
    let info = unhex(INFO);
    let pk_r = public_key(v.pk_rm);
    let sk_r = private_key(v.sk_rm);
    let pk_s = public_key(sender_keys.pk);
    let sk_s = private_key(sender_keys.sk);

    let (sender, enc) =
        ModeAuth::<Suite>::new_sender_deterministic(&pk_r, &info, &sk_s, private_key(v.sk_em))
            .expect("auth sender");
    let recipient =
        ModeAuth::<Suite>::new_recipient(&enc, &sk_r, &info, &pk_s).expect("auth recipient");
    check_contexts(v, sender, &enc, recipient);

    let enc = public_key(v.enc);
    check_tampering(
        v,
        ModeAuth::<Suite>::new_recipient(&enc, &sk_r, &info, &pk_s).expect("recipient"),
    );
    assert_rejects(
        v,
        "wrong sender public key",
        ModeAuth::<Suite>::new_recipient(&enc, &sk_r, &info, &other_public(sender_keys.pk)),
    );
    assert_rejects(
        v,
        "recipient's own key as sender key",
        ModeAuth::<Suite>::new_recipient(&enc, &sk_r, &info, &pk_r),
    );
    assert_rejects(
        v,
        "wrong enc",
        ModeAuth::<Suite>::new_recipient(&other_public(v.enc), &sk_r, &info, &pk_s),
    );
    assert_rejects(
        v,
        "wrong info",
        ModeAuth::<Suite>::new_recipient(&enc, &sk_r, &wrong_info(), &pk_s),
    );
}

#[test]
fn a_2_4_auth_psk() {
    let v = &A_2_4_AUTH_PSK;
    assert!(v.uses_psk);
    check_key_material(v);
    let sender_keys = v.sender.as_ref().expect("authpsk vector has a sender key");
    let (info, psk, psk_id) = (unhex(INFO), unhex(PSK), unhex(PSK_ID));
    let pk_r = public_key(v.pk_rm);
    let sk_r = private_key(v.sk_rm);
    let pk_s = public_key(sender_keys.pk);
    let sk_s = private_key(sender_keys.sk);

    let (sender, enc) = ModeAuthPsk::<Suite>::new_sender_deterministic(
        &pk_r,
        &info,
        &psk,
        &psk_id,
        &sk_s,
        private_key(v.sk_em),
    )
    .expect("authpsk sender");
    let recipient = ModeAuthPsk::<Suite>::new_recipient(&enc, &sk_r, &info, &psk, &psk_id, &pk_s)
        .expect("authpsk recipient");
    check_contexts(v, sender, &enc, recipient);

    let enc = public_key(v.enc);
    check_tampering(
        v,
        ModeAuthPsk::<Suite>::new_recipient(&enc, &sk_r, &info, &psk, &psk_id, &pk_s)
            .expect("recipient"),
    );
    assert_rejects(
        v,
        "wrong sender public key",
        ModeAuthPsk::<Suite>::new_recipient(
            &enc,
            &sk_r,
            &info,
            &psk,
            &psk_id,
            &other_public(sender_keys.pk),
        ),
    );
    assert_rejects(
        v,
        "wrong psk",
        ModeAuthPsk::<Suite>::new_recipient(&enc, &sk_r, &info, &wrong_psk(), &psk_id, &pk_s),
    );
    assert_rejects(
        v,
        "wrong psk_id",
        ModeAuthPsk::<Suite>::new_recipient(&enc, &sk_r, &info, &psk, &wrong_psk_id(), &pk_s),
    );
    assert_rejects(
        v,
        "wrong enc",
        ModeAuthPsk::<Suite>::new_recipient(
            &other_public(v.enc),
            &sk_r,
            &info,
            &psk,
            &psk_id,
            &pk_s,
        ),
    );
}
