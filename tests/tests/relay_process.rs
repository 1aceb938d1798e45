//! The `plog-relay` binary on embedded defaults: it starts its own `nats-server`, prints where
//! it listens and its pin, answers `curl`, stores nothing readable, and stops cleanly on
//! SIGTERM, taking its NATS child with it.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use plog_ipc_schema::http::accounts::AccountKind;
use plog_tests::client::{put_volume, register_and_login, seal_volume};
use plog_tests::relay::client_trusting;
use plog_tests::relay_process::RelayProcess;
use uuid::Uuid;

/// Every file below `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn nats_children_of(data_dir: &Path) -> usize {
    let store = data_dir.join("nats");
    let needle = store.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmd| {
            let text = String::from_utf8_lossy(cmd).replace('\0', " ");
            text.contains("nats-server") && text.contains(&needle)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_defaults_curl_content_blindness_and_clean_shutdown() {
    if plog_tests::nats::NatsServer::start_or_skip()
        .await
        .is_none()
    {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("relay");
    let relay = RelayProcess::start(&data_dir, &[]).await;

    // It said where it listens and which pin to approve, and that pin is its certificate's.
    assert!(
        relay.base_url.starts_with("https://127.0.0.1:"),
        "{:?}",
        relay.banner
    );
    assert!(
        relay.pin.starts_with("sha256:") && relay.pin.len() == 7 + 64,
        "{}",
        relay.pin
    );
    let printed = plog_tests::binaries::run(
        plog_tests::binaries::RELAY,
        ["fingerprint", "--data-dir", data_dir.to_str().unwrap()],
    )
    .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), relay.pin);
    assert_eq!(nats_children_of(&data_dir), 1, "one embedded nats-server");

    // curl, as the README shows it.
    let cert = data_dir.join("tls").join("cert.pem");
    for path in ["/healthz", "/v1/info"] {
        let out = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--cacert"])
            .arg(&cert)
            .arg(format!("{}{path}", relay.base_url))
            .output()
            .expect("curl is installed (scripts/install-deps --tests)");
        assert!(
            out.status.success(),
            "curl {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if path == "/v1/info" {
            assert_eq!(body["version"], plog_relay::VERSION);
        }
    }

    // A workload with recognisable plaintext, then look at everything the relay wrote.
    let http = client_trusting(&data_dir);
    let marker = b"PLOG-CONTENT-MARKER-7f3a";
    let mut tokens = Vec::new();
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let mut public_keys: Vec<Vec<u8>> = Vec::new();
    for round in 0..3 {
        let user = register_and_login(
            &http,
            &relay.base_url,
            &relay.public_origin,
            AccountKind::System,
        )
        .await;
        let volume_id = Uuid::new_v4();
        let mut plaintext = marker.to_vec();
        plaintext.extend(std::iter::repeat_n(b'x', 5000 * round));
        plaintext.extend_from_slice(marker);
        let sealed = seal_volume(&user, volume_id, "journals", 1, 0, &plaintext);
        assert_eq!(
            put_volume(&http, &relay.base_url, &user.token, volume_id, &sealed)
                .await
                .status(),
            201
        );
        let again = seal_volume(&user, volume_id, "journals", 2, 0, &plaintext);
        assert_eq!(
            put_volume(&http, &relay.base_url, &user.token, volume_id, &again)
                .await
                .status(),
            200
        );
        tokens.push(user.token.clone());
        public_keys.push(user.identity.public_key().as_bytes().to_vec());
        secrets.push(user.master.expose().to_vec());
        secrets.push(
            plog_ipc_schema::token::SessionToken::from_b64(&user.token)
                .unwrap()
                .expose_bytes()
                .to_vec(),
        );
    }
    assert_eq!(
        relay.terminate().await,
        Some(0),
        "SIGTERM ends the relay cleanly"
    );
    assert_eq!(
        nats_children_of(&data_dir),
        0,
        "the embedded nats-server stopped with the relay"
    );

    let stored = files_under(&data_dir);
    assert!(
        stored.iter().any(|(p, _)| p.ends_with("relay.db")),
        "SQLite file present"
    );
    assert!(
        stored
            .iter()
            .any(|(p, _)| p.starts_with(data_dir.join("nats"))),
        "NATS store present"
    );
    let log = std::fs::read(data_dir.join("relay-stderr.log")).unwrap();
    assert!(!log.is_empty(), "the relay logged something");
    // The scan does see what the relay legitimately keeps (public keys in its database), so
    // finding no secrets below means something.
    for key in &public_keys {
        assert!(
            stored.iter().any(|(_, bytes)| contains(bytes, key)),
            "public key not found: the scan reads nothing"
        );
    }
    for (path, bytes) in &stored {
        assert!(
            !contains(bytes, marker),
            "plaintext marker found in {}",
            path.display()
        );
        for token in &tokens {
            assert!(
                !contains(bytes, token.as_bytes()),
                "session token found in {}",
                path.display()
            );
        }
        for secret in &secrets {
            assert!(
                !contains(bytes, secret),
                "secret bytes found in {}",
                path.display()
            );
        }
    }
}
