//! The command-line contract of DESIGN §6.1, checked against the real executables: names,
//! versions, help, usage errors, that nothing unimplemented pretends to succeed, and that the
//! commands carried out by the daemon fail clearly when there is none.

use std::process::Output;

use plog_tests::binaries::{self, CLI, DAEMON, RELAY};

/// Exit status of a failed command.
const EXIT_FAILURE: i32 = 1;
/// Exit status of a usage error (clap's).
const EXIT_USAGE: i32 = 2;

fn run(name: &str, args: &[&str]) -> Output {
    binaries::run(name, args).unwrap_or_else(|err| panic!("{err}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The subcommand names a clap help text lists under `Commands:`.
fn listed_commands(help: &str) -> Vec<&str> {
    help.lines()
        .skip_while(|line| line.trim_end() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

#[test]
fn version_flags_print_the_package_version() {
    for (name, version) in [
        (CLI, plog_cli::VERSION),
        (DAEMON, plog_daemon::VERSION),
        (RELAY, plog_relay::VERSION),
    ] {
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        for flag in ["--version", "-V"] {
            let output = run(name, &[flag]);
            assert!(output.status.success(), "{name} {flag}: {output:?}");
            assert_eq!(
                stdout(&output),
                format!("{name} {version}\n"),
                "{name} {flag}"
            );
        }
    }
}

#[test]
fn help_lists_the_contract_subcommands() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            CLI,
            &[],
            &[
                "init",
                "unlock",
                "lock",
                "status",
                "identity",
                "relay",
                "register",
                "volume",
                "sync",
                "friend",
                "share",
                "view",
                "member",
                "front",
                "analytics",
                "import",
                "export",
            ],
        ),
        (CLI, &["identity"], &["restore"]),
        (CLI, &["relay"], &["add"]),
        (CLI, &["volume"], &["put", "get", "ls"]),
        (
            CLI,
            &["friend"],
            &["invite", "request", "requests", "approve", "list", "verify"],
        ),
        (CLI, &["share"], &["grant", "revoke"]),
        (CLI, &["member"], &["add", "ls"]),
        (CLI, &["front"], &["set", "add", "end", "now", "log"]),
        (CLI, &["import"], &["pluralkit", "simplyplural"]),
        (
            RELAY,
            &[],
            &["serve", "fingerprint", "default-config", "admin"],
        ),
        (RELAY, &["admin"], &["stats"]),
    ];
    for (name, prefix, expected) in cases {
        let args: Vec<&str> = prefix.iter().copied().chain(["--help"]).collect();
        let output = run(name, &args);
        assert!(output.status.success(), "{name} {args:?}: {output:?}");
        let help = stdout(&output);
        let listed = listed_commands(&help);
        for command in *expected {
            assert!(
                listed.contains(command),
                "`{name} {}` does not list `{command}`:\n{help}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn help_shows_the_contract_flags() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (CLI, &[], &["--json", "--yes", "--help", "--version"]),
        (CLI, &["init"], &["--passphrase-file", "--json"]),
        (CLI, &["unlock"], &["--passphrase-file", "--json"]),
        (
            CLI,
            &["identity", "restore"],
            &["--phrase-file", "--passphrase-file", "--json"],
        ),
        (CLI, &["relay", "add"], &["--fingerprint", "--json"]),
        (CLI, &["register"], &["--system", "--friend", "--handle"]),
        (CLI, &["volume", "get"], &["--output", "-o"]),
        (CLI, &["friend", "request"], &["--handle"]),
        (CLI, &["view"], &["--raw"]),
        (
            CLI,
            &["member", "add"],
            &["--pronouns", "--display-name", "--color"],
        ),
        (CLI, &["front", "log"], &["--since"]),
        (CLI, &["analytics"], &["--since"]),
        (
            RELAY,
            &["serve"],
            &[
                "--config",
                "--data-dir",
                "--listen",
                "--admin-listen",
                "--nats-url",
                "--database-url",
                "--public-origin",
            ],
        ),
        (RELAY, &["fingerprint"], &["--data-dir"]),
        (
            RELAY,
            &["admin"],
            &["--data-dir", "--admin-url", "--token-file", "--json"],
        ),
        (DAEMON, &[], &["--config", "--help", "--version"]),
    ];
    for (name, prefix, flags) in cases {
        let args: Vec<&str> = prefix.iter().copied().chain(["--help"]).collect();
        let output = run(name, &args);
        assert!(output.status.success(), "{name} {args:?}: {output:?}");
        let help = stdout(&output);
        for flag in *flags {
            assert!(
                help.split(|c: char| c.is_whitespace() || c == ',')
                    .any(|word| word == *flag),
                "`{name} {}` does not show `{flag}`:\n{help}",
                args.join(" ")
            );
        }
    }
}

/// Every contract command not carried out yet, with valid arguments, and the name its error
/// must carry.
const UNIMPLEMENTED: &[(&str, &[&str], &str)] = &[
    (
        CLI,
        &[
            "member",
            "add",
            "Ash",
            "--pronouns",
            "they/them",
            "--display-name",
            "Ash",
            "--color",
            "#7f5af0",
        ],
        "plog member add",
    ),
    (CLI, &["member", "ls"], "plog member ls"),
    (CLI, &["front", "set", "Ash", "Bo"], "plog front set"),
    (CLI, &["front", "add", "Ash"], "plog front add"),
    (CLI, &["front", "end", "Ash"], "plog front end"),
    (CLI, &["front", "now"], "plog front now"),
    (CLI, &["front", "log", "--since", "7d"], "plog front log"),
    (CLI, &["analytics", "--since", "30d"], "plog analytics"),
    (
        CLI,
        &["import", "pluralkit", "pk.json"],
        "plog import pluralkit",
    ),
    (
        CLI,
        &["import", "simplyplural", "sp.json"],
        "plog import simplyplural",
    ),
    (CLI, &["export", "out.json"], "plog export"),
    (
        RELAY,
        &["admin", "--data-dir", "data", "stats", "--json"],
        "plog-relay admin stats",
    ),
    (
        RELAY,
        &[
            "admin",
            "--admin-url",
            "http://127.0.0.1:1",
            "--token-file",
            "token",
            "sessions",
            "count",
        ],
        "plog-relay admin sessions count",
    ),
];

#[test]
fn unimplemented_commands_fail_clearly() {
    for (name, args, command) in UNIMPLEMENTED {
        let expected = format!("{command}: not implemented in this version");
        let with_json: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        // Every `plog` command takes --json, and so does `plog-relay admin`.
        let takes_json =
            (*name == CLI || args.first() == Some(&"admin")) && !args.contains(&"--json");
        let variants: Vec<&[&str]> = if takes_json {
            vec![args, &with_json]
        } else {
            vec![args]
        };
        for args in variants {
            let output = run(name, args);
            assert_eq!(
                output.status.code(),
                Some(EXIT_FAILURE),
                "{name} {args:?} should fail: {output:?}"
            );
            assert!(
                stdout(&output).is_empty(),
                "{name} {args:?} printed on stdout: {output:?}"
            );
            assert!(
                stderr(&output).contains(&expected),
                "{name} {args:?}: expected {expected:?} on stderr: {output:?}"
            );
        }
    }
}

/// The contract commands that are one call to the daemon, with valid arguments, the exit status
/// they must fail with when no session bus can be reached (or when a flag a script must pass is
/// missing, before the bus is tried), and a part of the error they must print.
const DAEMON_COMMANDS: &[(&[&str], i32, &str)] = &[
    (
        &["init", "--passphrase-file", "pass"],
        EXIT_USAGE,
        "cannot open the passphrase file pass",
    ),
    (&["unlock"], EXIT_USAGE, "--passphrase-file"),
    (&["lock"], EXIT_FAILURE, NO_BUS),
    (&["status"], EXIT_FAILURE, NO_BUS),
    (
        &["identity", "restore", "--phrase-file", "phrase"],
        EXIT_USAGE,
        "cannot open the recovery phrase file phrase",
    ),
    (
        &[
            "relay",
            "add",
            "https://127.0.0.1:8443",
            "--fingerprint",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        EXIT_FAILURE,
        NO_BUS,
    ),
    (
        &["relay", "add", "https://127.0.0.1:8443"],
        EXIT_USAGE,
        "--fingerprint",
    ),
    (&["register", "--system"], EXIT_FAILURE, NO_BUS),
    (
        &["register", "--friend", "--handle", "kit"],
        EXIT_FAILURE,
        NO_BUS,
    ),
    (&["volume", "put", "members", "-"], EXIT_FAILURE, NO_BUS),
    (
        &["volume", "get", "members", "-o", "out"],
        EXIT_FAILURE,
        NO_BUS,
    ),
    (&["volume", "ls"], EXIT_FAILURE, NO_BUS),
    (&["sync"], EXIT_FAILURE, NO_BUS),
];

/// What the daemon commands say when the session bus cannot be reached.
const NO_BUS: &str = "cannot reach the session bus";

#[test]
fn daemon_commands_without_a_bus_fail_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nowhere = format!("unix:path={}", dir.path().join("no-bus").display());
    for (args, code, expected) in DAEMON_COMMANDS {
        let with_json: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        for args in [*args, with_json.as_slice()] {
            let output = binaries::command(CLI)
                .unwrap_or_else(|err| panic!("{err}"))
                .args(args)
                .env("DBUS_SESSION_BUS_ADDRESS", &nowhere)
                .current_dir(dir.path())
                .output()
                .expect("run plog");
            assert_eq!(
                output.status.code(),
                Some(*code),
                "plog {args:?}: {output:?}"
            );
            assert!(
                stdout(&output).is_empty(),
                "plog {args:?} printed on stdout: {output:?}"
            );
            let stderr = stderr(&output);
            assert!(
                stderr.starts_with("error: ") && stderr.contains(expected),
                "plog {args:?}: expected {expected:?} on stderr: {output:?}"
            );
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");
}

#[test]
fn usage_errors_are_reported_as_such() {
    let cases: &[(&str, &[&str], &str)] = &[
        (CLI, &[], "Usage:"),
        (CLI, &["frobnicate"], "unrecognized subcommand"),
        (CLI, &["register"], "--system|--friend"),
        (CLI, &["register", "--system", "--friend"], "cannot be used"),
        (CLI, &["friend", "request"], "CODE|-|--handle"),
        (
            CLI,
            &[
                "relay",
                "add",
                "https://127.0.0.1:8443",
                "--fingerprint",
                "ab12",
            ],
            "64 lower-case hex digits",
        ),
        (CLI, &["identity", "restore"], "--phrase-file"),
        (CLI, &["share", "grant", "kit"], "TYPE"),
        (DAEMON, &["--bogus"], "unexpected argument"),
        (RELAY, &["serve", "--listen", "nowhere"], "invalid value"),
        (
            RELAY,
            &["admin", "--admin-url", "http://127.0.0.1:1", "stats"],
            "--token-file",
        ),
        (
            RELAY,
            &[
                "admin",
                "--data-dir",
                "data",
                "--admin-url",
                "http://127.0.0.1:1",
                "--token-file",
                "token",
                "stats",
            ],
            "cannot be used",
        ),
        (RELAY, &["admin", "delete-user", "alice"], "invalid value"),
    ];
    for (name, args, hint) in cases {
        let output = run(name, args);
        assert_eq!(
            output.status.code(),
            Some(EXIT_USAGE),
            "{name} {args:?} should be a usage error: {output:?}"
        );
        assert!(
            stderr(&output).contains(hint),
            "{name} {args:?}: expected {hint:?} on stderr: {output:?}"
        );
    }
}

#[test]
fn relay_prints_its_default_config_and_explains_a_missing_certificate() {
    let printed = run(RELAY, &["default-config"]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let text = stdout(&printed);
    assert!(
        text.contains("[limits]") && text.contains("max_volume_bytes"),
        "{text}"
    );
    let empty = tempfile::tempdir().expect("temp dir");
    let data_dir = empty.path().to_str().expect("utf-8 path");
    let missing = run(RELAY, &["fingerprint", "--data-dir", data_dir]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stdout(&missing).is_empty());
    assert!(!stderr(&missing).is_empty());
}
