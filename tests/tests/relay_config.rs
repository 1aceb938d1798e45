//! The relay's configuration layers (defaults → file → `PLOG_RELAY_*` → flags), their checks,
//! the shipped example, and the relay certificate: generation, persistence and its pin, checked
//! against OpenSSL's computation of the same value.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use plog_relay::config::{self, AdminAddress, Config, ConfigError};
use plog_relay::tls::{self, TlsError};
use plog_relay::{FingerprintArgs, ServeArgs};

const HOME: &str = "/home/test";
const FILE: &str = "/etc/plog-relay/relay.toml";

/// `plog-relay serve` flags (`--name value` pairs), as the command line would give them.
fn flags(args: &[&str]) -> ServeArgs {
    let mut flags = ServeArgs::default();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            panic!("flag without a value: {pair:?}");
        };
        let value = (*value).to_owned();
        match *flag {
            "--config" => flags.config = Some(value.into()),
            "--data-dir" => flags.data_dir = Some(value.into()),
            "--listen" => flags.listen = Some(addr(&value)),
            "--admin-listen" => flags.admin_listen = Some(value),
            "--nats-url" => flags.nats_url = Some(value),
            "--database-url" => flags.database_url = Some(value),
            "--public-origin" => flags.public_origin = Some(value),
            other => panic!("not a serve flag: {other}"),
        }
    }
    flags
}

/// An environment with `HOME` and the given variables.
fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    std::iter::once(("HOME", HOME))
        .chain(vars.iter().copied())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn load(file: Option<&str>, vars: &[(&str, &str)], args: &[&str]) -> Result<Config, ConfigError> {
    Config::from_sources(
        file.map(|text| (Path::new(FILE), text)),
        env(vars),
        &flags(args),
    )
}

fn loaded(file: Option<&str>, vars: &[(&str, &str)], args: &[&str]) -> Config {
    load(file, vars, args).expect("configuration loads")
}

fn refused(file: Option<&str>, vars: &[(&str, &str)], args: &[&str]) -> ConfigError {
    match load(file, vars, args) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(err) => err,
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

#[test]
fn defaults_apply_without_any_source() {
    let config = loaded(None, &[], &[]);
    let data_dir = PathBuf::from(HOME).join(".local/share/plog-relay");
    assert_eq!(config, Config::defaults(&data_dir));
    assert_eq!(config.name, "PluralLog relay");
    assert_eq!(config.listen, addr("0.0.0.0:8443"));
    assert_eq!(config.admin_listen, "127.0.0.1:8444");
    assert_eq!(
        config.admin_address().expect("valid"),
        AdminAddress::Tcp(addr("127.0.0.1:8444"))
    );
    assert_eq!(config.public_origin(), "https://127.0.0.1:8443");
    assert_eq!(
        config.database_url(),
        format!("sqlite:{}", data_dir.join("relay.db").display())
    );
    assert_eq!(config.nats.url, None);
    assert_eq!(config.nats.prefix, "");
    assert_eq!(config.nats.object_chunk_size, 1_048_576);
    assert_eq!(config.limits.max_volume_bytes, 512 * 1024 * 1024);
    assert_eq!(config.limits.quota_bytes, 2 * 1024 * 1024 * 1024);
    assert_eq!(config.limits.max_json_bytes, 64 * 1024);
    assert_eq!(config.limits.invite_lookups_per_minute, 30);
    assert_eq!(config.limits.invite_lookups_burst, 10);
    assert_eq!(config.mailbox.max_links_per_account, 1000);
    assert_eq!(config.auth.challenge_ttl_secs, 60);
    assert_eq!(config.auth.session_ttl_secs, 30 * 24 * 3600);
    assert_eq!(config.auth.fresh_session_secs, 300);
    assert_eq!(config.auth.unactivated_ttl_secs, 86_400);
    assert!(config.registration.open);
    assert_eq!(config.tls.cert_file, None);
}

#[test]
fn data_dir_follows_xdg_data_home_then_home() {
    let config = loaded(None, &[("XDG_DATA_HOME", "/xdg")], &[]);
    assert_eq!(config.data_dir, Path::new("/xdg/plog-relay"));

    let no_home: Vec<(String, String)> = Vec::new();
    let err = Config::from_sources(None, no_home.clone(), &flags(&[])).expect_err("no data dir");
    assert!(matches!(err, ConfigError::NoDataDir), "{err}");
    assert!(err.to_string().contains("--data-dir"), "{err}");
    let config =
        Config::from_sources(None, no_home, &flags(&["--data-dir", "/srv"])).expect("loads");
    assert_eq!(config.data_dir, Path::new("/srv"));
}

#[test]
fn file_then_environment_then_flags() {
    let file = r#"
        listen = "0.0.0.0:1001"
        admin_listen = "127.0.0.1:2001"
        data_dir = "/file"
        public_origin = "https://file.example"
        database_url = "sqlite:/file/db"
        name = "from the file"

        [nats]
        url = "nats://file:4222"
        prefix = "file"

        [limits]
        max_volume_bytes = 1000
        quota_bytes = 5000

        [registration]
        open = false
    "#;
    let vars = [
        ("PLOG_RELAY_LISTEN", "0.0.0.0:1002"),
        ("PLOG_RELAY_ADMIN_LISTEN", "127.0.0.1:2002"),
        ("PLOG_RELAY_DATA_DIR", "/env"),
        ("PLOG_RELAY_PUBLIC_ORIGIN", "https://env.example"),
        ("PLOG_RELAY_NATS__URL", "nats://env:4222"),
        ("PLOG_RELAY_NATS__PREFIX", "env"),
        ("PLOG_RELAY_LIMITS__MAX_VOLUME_BYTES", "2_000"),
        ("PLOG_RELAY_REGISTRATION__OPEN", "true"),
    ];
    let args = [
        "--listen",
        "0.0.0.0:1003",
        "--admin-listen",
        "127.0.0.1:2003",
        "--data-dir",
        "/flag",
        "--public-origin",
        "https://flag.example",
        "--nats-url",
        "nats://flag:4222",
    ];

    // The file alone.
    let config = loaded(Some(file), &[], &[]);
    assert_eq!(config.listen, addr("0.0.0.0:1001"));
    assert_eq!(config.admin_listen, "127.0.0.1:2001");
    assert_eq!(config.data_dir, Path::new("/file"));
    assert_eq!(config.public_origin(), "https://file.example");
    assert_eq!(config.database_url(), "sqlite:/file/db");
    assert_eq!(config.name, "from the file");
    assert_eq!(config.nats.url.as_deref(), Some("nats://file:4222"));
    assert_eq!(config.nats.prefix, "file");
    assert_eq!(config.limits.max_volume_bytes, 1000);
    assert_eq!(config.limits.quota_bytes, 5000);
    assert!(!config.registration.open);
    // Keys the file leaves out keep their defaults.
    assert_eq!(config.limits.max_json_bytes, 64 * 1024);

    // The environment over the file.
    let config = loaded(Some(file), &vars, &[]);
    assert_eq!(config.listen, addr("0.0.0.0:1002"));
    assert_eq!(config.admin_listen, "127.0.0.1:2002");
    assert_eq!(config.data_dir, Path::new("/env"));
    assert_eq!(config.public_origin(), "https://env.example");
    assert_eq!(config.nats.url.as_deref(), Some("nats://env:4222"));
    assert_eq!(config.nats.prefix, "env");
    assert_eq!(config.limits.max_volume_bytes, 2000);
    assert!(config.registration.open);
    // What the environment does not set still comes from the file.
    assert_eq!(config.limits.quota_bytes, 5000);
    assert_eq!(config.name, "from the file");

    // Flags over both.
    let config = loaded(Some(file), &vars, &args);
    assert_eq!(config.listen, addr("0.0.0.0:1003"));
    assert_eq!(config.admin_listen, "127.0.0.1:2003");
    assert_eq!(config.data_dir, Path::new("/flag"));
    assert_eq!(config.public_origin(), "https://flag.example");
    assert_eq!(config.nats.url.as_deref(), Some("nats://flag:4222"));
    assert_eq!(config.limits.max_volume_bytes, 2000);
    assert_eq!(config.database_url(), "sqlite:/file/db");

    // A flag over the file, without the environment.
    let config = loaded(Some(file), &[], &["--database-url", "postgres://db/plog"]);
    assert_eq!(config.database_url(), "postgres://db/plog");
    assert_eq!(config.listen, addr("0.0.0.0:1001"));
}

#[test]
fn environment_values_are_typed_and_empty_means_unset() {
    let config = loaded(
        None,
        &[
            ("PLOG_RELAY_NAME", "1234"),
            ("PLOG_RELAY_AUTH__SESSION_TTL_SECS", "86400"),
            ("PLOG_RELAY_REGISTRATION__OPEN", "false"),
            ("PLOG_RELAY_NATS__CREDS_FILE", "/secrets/nats.creds"),
            ("PLOG_RELAY_NATS__URL", ""),
            ("PLOG_RELAY_CONFIG", "/ignored/here.toml"),
            ("UNRELATED", "x"),
        ],
        &[],
    );
    assert_eq!(config.name, "1234");
    assert_eq!(config.auth.session_ttl_secs, 86_400);
    assert!(!config.registration.open);
    assert_eq!(
        config.nats.creds_file.as_deref(),
        Some(Path::new("/secrets/nats.creds"))
    );
    assert_eq!(config.nats.url, None);

    for (name, value) in [
        ("PLOG_RELAY_LIMITS__QUOTA_BYTES", "2GiB"),
        ("PLOG_RELAY_LIMITS__QUOTA_BYTES", "-5"),
        ("PLOG_RELAY_REGISTRATION__OPEN", "yes"),
        ("PLOG_RELAY_LISTEN", "everywhere"),
    ] {
        let err = refused(None, &[(name, value)], &[]);
        assert!(
            matches!(&err, ConfigError::EnvValue { name: got, .. } if got == name),
            "{err}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn unknown_file_keys_are_refused_with_their_name_and_the_file() {
    for (text, key) in [
        ("listn = \"0.0.0.0:1\"\n", "listn"),
        ("[limits]\nmax_volume_byte = 5\n", "max_volume_byte"),
        ("[nats]\nurl = \"nats://x\"\ncreds = \"/x\"\n", "creds"),
        ("[metrics]\nenabled = true\n", "metrics"),
    ] {
        let err = refused(Some(text), &[], &[]);
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(key), "{key} not named: {message}");
        assert!(message.contains(FILE), "file not named: {message}");
    }

    let err = refused(Some("[limits]\nquota_bytes = \"lots\"\n"), &[], &[]);
    assert!(err.to_string().contains("quota_bytes"), "{err}");
    let err = refused(Some("listen = \"0.0.0.0:8443\"\nlisten ="), &[], &[]);
    assert!(err.to_string().contains(FILE), "{err}");
}

#[test]
fn unknown_environment_variables_are_refused_with_their_name() {
    let err = refused(None, &[("PLOG_RELAY_LIMITS__MAX_VOLUME_BYTE", "1")], &[]);
    assert!(
        matches!(&err, ConfigError::UnknownEnv { name, .. } if name == "PLOG_RELAY_LIMITS__MAX_VOLUME_BYTE"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("PLOG_RELAY_LIMITS__MAX_VOLUME_BYTE"),
        "{err}"
    );

    // The single-underscore spelling of a section key gets the right name suggested.
    let err = refused(None, &[("PLOG_RELAY_NATS_URL", "nats://x:4222")], &[]);
    let message = err.to_string();
    assert!(message.contains("PLOG_RELAY_NATS_URL"), "{message}");
    assert!(message.contains("PLOG_RELAY_NATS__URL"), "{message}");
}

#[test]
fn every_key_has_its_variable() {
    for key in config::keys() {
        let name = config::env_var_name(key).expect("known key");
        let value = match key {
            "listen" => "0.0.0.0:9000",
            "admin_listen" => "127.0.0.1:9001",
            "public_origin" => "https://relay.example",
            "database_url" => "sqlite:/x.db",
            "nats.prefix" => "acme",
            "registration.open" => "false",
            "tls.cert_file" | "tls.key_file" | "nats.tls_cert_file" | "nats.tls_key_file" => {
                continue;
            }
            "limits.quota_bytes" => "4_294_967_296",
            _ if ["limits.", "auth.", "mailbox.", "events."]
                .iter()
                .any(|section| key.starts_with(section)) =>
            {
                "1000"
            }
            "nats.object_chunk_size" => "4096",
            _ => "/some/value",
        };
        load(None, &[(&name, value)], &[])
            .unwrap_or_else(|err| panic!("{name}={value} refused: {err}"));
    }
}

#[test]
fn tls_files_go_together() {
    let err = refused(Some("[tls]\ncert_file = \"/c.pem\"\n"), &[], &[]);
    assert!(
        matches!(
            err,
            ConfigError::Pair {
                set: "tls.cert_file",
                missing: "tls.key_file",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(FILE), "origin not named: {err}");

    let err = refused(None, &[("PLOG_RELAY_TLS__KEY_FILE", "/k.pem")], &[]);
    assert!(
        matches!(
            err,
            ConfigError::Pair {
                set: "tls.key_file",
                missing: "tls.cert_file",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("PLOG_RELAY_TLS__KEY_FILE"),
        "{err}"
    );

    let config = loaded(
        Some("[tls]\ncert_file = \"/c.pem\"\n"),
        &[("PLOG_RELAY_TLS__KEY_FILE", "/k.pem")],
        &[],
    );
    assert_eq!(config.tls.cert_file.as_deref(), Some(Path::new("/c.pem")));
    assert_eq!(config.tls.key_file.as_deref(), Some(Path::new("/k.pem")));

    let err = refused(Some("[nats]\ntls_key_file = \"/k.pem\"\n"), &[], &[]);
    assert!(matches!(err, ConfigError::Pair { .. }), "{err}");
}

#[test]
fn admin_listener_stays_on_loopback() {
    for refused_addr in [
        "0.0.0.0:8444",
        "192.0.2.1:8444",
        "[::]:8444",
        "localhost:8444",
    ] {
        let err = refused(None, &[], &["--admin-listen", refused_addr]);
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    key: "admin_listen",
                    ..
                }
            ),
            "{refused_addr}: {err}"
        );
        assert!(err.to_string().contains("--admin-listen"), "{err}");
    }
    let err = refused(Some("admin_listen = \"10.0.0.1:8444\"\n"), &[], &[]);
    assert!(err.to_string().contains(FILE), "{err}");

    let config = loaded(None, &[], &["--admin-listen", "[::1]:9444"]);
    assert_eq!(
        config.admin_address().expect("valid"),
        AdminAddress::Tcp(addr("[::1]:9444"))
    );
    let config = loaded(
        None,
        &[("PLOG_RELAY_ADMIN_LISTEN", "unix:/run/plog-relay/admin.sock")],
        &[],
    );
    assert_eq!(
        config.admin_address().expect("valid"),
        AdminAddress::Unix("/run/plog-relay/admin.sock".into())
    );

    // Not the public port either.
    let err = refused(None, &[], &["--listen", "127.0.0.1:8444"]);
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                key: "admin_listen",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn public_origin_is_normalized_or_derived() {
    for (given, want) in [
        ("HTTPS://Relay.Example:443/", "https://relay.example"),
        ("https://relay.example:8443", "https://relay.example:8443"),
        ("https://[::1]:8443/", "https://[::1]:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ] {
        let config = loaded(None, &[], &["--public-origin", given]);
        assert_eq!(config.public_origin.as_deref(), Some(want), "{given}");
        assert_eq!(config.public_origin(), want, "{given}");
    }
    for bad in [
        "relay.example",
        "ftp://relay.example",
        "https://relay.example/path",
        "https://user@relay.example",
        "https://relay.example:0",
        "http://relay.example",
    ] {
        let err = refused(None, &[], &["--public-origin", bad]);
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    key: "public_origin",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }

    for (listen, want) in [
        ("0.0.0.0:8443", "https://127.0.0.1:8443"),
        ("[::]:9443", "https://127.0.0.1:9443"),
        ("192.0.2.5:443", "https://192.0.2.5"),
        ("[2001:db8::5]:8443", "https://[2001:db8::5]:8443"),
        ("127.0.0.1:4433", "https://127.0.0.1:4433"),
    ] {
        let config = loaded(None, &[], &["--listen", listen]);
        assert_eq!(config.public_origin, None);
        assert_eq!(config.public_origin(), want, "{listen}");
    }
    let config = loaded(None, &[], &["--listen", "127.0.0.1:0"]);
    assert_eq!(
        config.public_origin_for(addr("127.0.0.1:41000")),
        "https://127.0.0.1:41000"
    );
}

#[test]
fn other_values_are_checked() {
    for (file, key) in [
        ("name = \"  \"\n", "name"),
        ("data_dir = \"\"\n", "data_dir"),
        ("database_url = \"mysql://db\"\n", "database_url"),
        ("[nats]\nprefix = \"Acme_1\"\n", "nats.prefix"),
        ("[nats]\nobject_chunk_size = 0\n", "nats.object_chunk_size"),
        ("[limits]\nmax_json_bytes = 0\n", "limits.max_json_bytes"),
        (
            "[limits]\ninvite_lookups_per_minute = 0\n",
            "limits.invite_lookups_per_minute",
        ),
        (
            "[limits]\ninvite_lookups_burst = 0\n",
            "limits.invite_lookups_burst",
        ),
        (
            "[mailbox]\nmax_links_per_account = 0\n",
            "mailbox.max_links_per_account",
        ),
        (
            "[limits]\nmax_volume_bytes = 3000000000\n",
            "limits.max_volume_bytes",
        ),
        (
            "[auth]\nchallenge_ttl_secs = 0\n",
            "auth.challenge_ttl_secs",
        ),
        (
            "[auth]\nfresh_session_secs = 100000000\n",
            "auth.fresh_session_secs",
        ),
    ] {
        let err = refused(Some(file), &[], &[]);
        assert!(
            matches!(&err, ConfigError::Invalid { key: got, .. } if *got == key),
            "{file}: {err}"
        );
    }
    // A refused database URL is shown without its password.
    let err = refused(None, &[], &["--database-url", "mysql://u:hunter2@db/x"]);
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn shipped_example_is_the_defaults() {
    assert_eq!(config::default_config(), config::DEFAULT_CONFIG);
    let from_example = loaded(Some(config::DEFAULT_CONFIG), &[], &[]);
    assert_eq!(from_example, loaded(None, &[], &[]));
}

#[test]
fn shipped_example_is_valid_with_every_setting_enabled() {
    // Settings without a fixed default are commented out as `#key = value`; enable them all.
    // (That this lists every key is checked beside the code.)
    let enabled: String = config::DEFAULT_CONFIG
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
            _ => line,
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    let config = loaded(Some(&enabled), &[], &[]);
    assert!(config.public_origin.is_some() && config.database_url.is_some());
    assert!(config.nats.url.is_some() && config.nats.creds_file.is_some());
    assert!(config.nats.tls_ca_file.is_some() && config.nats.tls_cert_file.is_some());
    assert!(config.tls.cert_file.is_some() && config.tls.key_file.is_some());
    assert_ne!(config.data_dir, loaded(None, &[], &[]).data_dir);
}

/// Whether the `openssl` binary can be run; outside CI a missing one skips the check.
fn openssl_available(test: &str) -> bool {
    let found = Process::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: the openssl binary is required under CI"
        );
        eprintln!("{test}: skipping the OpenSSL comparison: openssl is not installed");
    }
    found
}

/// The pin as DESIGN §6 defines it, computed by OpenSSL and sha256sum.
fn openssl_pin(cert_pem: &Path) -> String {
    let out = Process::new("sh")
        .arg("-c")
        .arg(r#"openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum"#)
        .arg("sh")
        .arg(cert_pem)
        .output()
        .expect("run the openssl pipeline");
    assert!(out.status.success(), "pipeline failed: {out:?}");
    assert!(out.stderr.is_empty(), "pipeline complained: {out:?}");
    let text = String::from_utf8(out.stdout).expect("hex output");
    let hex = text.split_whitespace().next().expect("a digest");
    assert_eq!(hex.len(), 64, "{text}");
    // SHA-256 of nothing: OpenSSL produced no key.
    assert_ne!(
        hex,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    format!("sha256:{hex}")
}

/// Runs `openssl` with whitespace-separated `args` in `dir`.
fn openssl(dir: &Path, args: &str) {
    let out = Process::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args}: {out:?}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn generated_certificate_persists_with_a_private_key_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config = loaded(
        None,
        &[],
        &["--data-dir", data_dir.to_str().expect("utf-8")],
    );

    let err = tls::fingerprint(&config).expect_err("nothing generated yet");
    assert!(matches!(err, TlsError::NotGenerated { .. }), "{err}");
    assert!(err.to_string().contains("plog-relay serve"), "{err}");

    let first = tls::load_or_generate(&config).expect("generates");
    assert!(first.self_signed);
    assert_eq!(first.chain.len(), 1);
    plog_ipc_schema::CertPin::parse(&first.pin).expect("pin format");

    let (cert_path, key_path) = tls::generated_paths(&data_dir);
    assert_eq!(cert_path, data_dir.join("tls/cert.pem"));
    assert_eq!(key_path, data_dir.join("tls/key.pem"));
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&data_dir.join("tls")), 0o700);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(data_dir.join("tls"))
        .expect("listing")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let second = tls::load_or_generate(&config).expect("loads");
    assert_eq!(second.pin, first.pin);
    assert_eq!(second.chain, first.chain);
    assert_eq!(tls::fingerprint(&config).expect("pin"), first.pin);
    assert_eq!(
        tls::pin_of_certificate(&first.chain[0]).expect("pin"),
        first.pin
    );

    let server = tls::server_config(&first).expect("server config");
    assert_eq!(
        server.alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );

    // `plog-relay fingerprint --data-dir` prints the same pin.
    let mut args = FingerprintArgs::default();
    args.data_dir = Some(data_dir.clone());
    match tls::fingerprint_command(&args) {
        Ok(pin) => assert_eq!(pin, first.pin),
        Err(TlsError::Config(err)) => {
            eprintln!("skipping fingerprint_command: this process's environment: {err}");
        }
        Err(err) => panic!("fingerprint_command: {err}"),
    }

    if openssl_available("generated_certificate_persists_with_a_private_key_file") {
        assert_eq!(openssl_pin(&cert_path), first.pin);
    }
}

#[test]
fn certificate_files_from_openssl_load_with_the_same_pin() {
    if !openssl_available("certificate_files_from_openssl_load_with_the_same_pin") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    std::fs::write(work.join("leaf.ext"), "subjectAltName=DNS:relay.test\n").expect("ext file");
    // A self-signed ECDSA certificate and an RSA one.
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    let rsa = "-newkey rsa:2048 -nodes";
    let subj = "-days 30 -subj /CN=relay.test";
    let san = "-addext subjectAltName=DNS:relay.test";
    openssl(
        work,
        &format!("req -x509 {ec} -keyout ec.key -out ec.pem {subj} {san}"),
    );
    openssl(
        work,
        &format!("req -x509 {rsa} -keyout rsa.key -out rsa.pem {subj} {san}"),
    );
    // A leaf signed by a CA, served as a chain.
    let ca = "-days 30 -subj /CN=test-ca";
    openssl(
        work,
        &format!("req -x509 {ec} -keyout ca.key -out ca.pem {ca}"),
    );
    openssl(
        work,
        &format!("req -new {ec} -keyout leaf.key -out leaf.csr {subj}"),
    );
    let sign = "-CA ca.pem -CAkey ca.key -set_serial 2 -days 30 -extfile leaf.ext";
    openssl(
        work,
        &format!("x509 -req -in leaf.csr {sign} -out leaf.pem"),
    );
    let leaf = std::fs::read_to_string(work.join("leaf.pem")).expect("leaf");
    let ca = std::fs::read_to_string(work.join("ca.pem")).expect("ca");
    std::fs::write(work.join("chain.pem"), format!("{leaf}{ca}")).expect("chain");

    let with_files = |cert: &str, key: &str| {
        let file = format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            work.join(cert),
            work.join(key)
        );
        let config = loaded(Some(&file), &[], &["--data-dir", "/nonexistent"]);
        (config.clone(), tls::load_or_generate(&config))
    };

    for (cert, key, self_signed, chain_len, pin_of) in [
        ("ec.pem", "ec.key", true, 1, "ec.pem"),
        ("rsa.pem", "rsa.key", true, 1, "rsa.pem"),
        ("chain.pem", "leaf.key", false, 2, "leaf.pem"),
    ] {
        let (config, loaded) = with_files(cert, key);
        let loaded = loaded.unwrap_or_else(|err| panic!("{cert}: {err}"));
        assert_eq!(loaded.self_signed, self_signed, "{cert}");
        assert_eq!(loaded.chain.len(), chain_len, "{cert}");
        let pin = openssl_pin(&work.join(pin_of));
        assert_eq!(loaded.pin, pin, "{cert}");
        assert_eq!(tls::fingerprint(&config).expect("pin"), pin, "{cert}");
        tls::server_config(&loaded).unwrap_or_else(|err| panic!("{cert}: {err}"));
    }

    let (_, mismatched) = with_files("ec.pem", "rsa.key");
    let err = mismatched.expect_err("mismatched pair");
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    let (_, no_key) = with_files("ec.pem", "ec.pem");
    let err = no_key.expect_err("no key in a certificate file");
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
    let (_, no_cert) = with_files("ec.key", "ec.key");
    let err = no_cert.expect_err("no certificate in a key file");
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    let (_, missing) = with_files("absent.pem", "ec.key");
    let err = missing.expect_err("missing file");
    assert!(err.to_string().contains("absent.pem"), "{err}");
}
