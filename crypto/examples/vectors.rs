//! Prints the test vectors of `docs/PROTOCOL.md`:
//! `cargo run -p plog-crypto --features test-vectors --example vectors`.

fn main() -> Result<(), plog_crypto::CryptoError> {
    for group in plog_crypto::test_vectors::all()? {
        println!("#### {}\n\n```vectors", group.title);
        for (name, value) in group.values {
            println!("{name} = {value}");
        }
        println!("```\n");
    }
    Ok(())
}
