//! A PostgreSQL database for one test: from `PLOG_TEST_DATABASE_URL`, the local server, or a
//! private server.
//!
//! [`test_database`] creates a fresh, empty database (`plog_test_<uuid>`) per call on the first
//! server found, in this order:
//!
//! 1. `$PLOG_TEST_DATABASE_URL`: a server URL whose user may `CREATE DATABASE`;
//! 2. a server on `127.0.0.1:5432` that lets us in without a password (tried as `postgres`,
//!    as the current user, and on the database `test`; each try gives up after 2 s);
//! 3. a private server: `initdb` and `postgres` from `PATH` or `/usr/lib/postgresql/*/bin`,
//!    in a temporary directory, on a free port. PostgreSQL refuses to run as root, so under
//!    root it runs as `nobody` (through `setpriv`, or `runuser`). One private server is shared
//!    by the tests of a process and stops when the last [`TestDatabase`] using it is dropped
//!    (and, through `setpriv --pdeathsig`, when the process dies).
//!
//! Set `PLOG_TEST_POSTGRES_PRIVATE=1` to skip 1 and 2 and always use a private server.
//!
//! The database is dropped when the [`TestDatabase`] is (or earlier with
//! [`TestDatabase::cleanup`]). Without any PostgreSQL, [`test_database`] says why;
//! [`test_database_or_skip`] prints `skipped: …` for a test to return early, except under
//! `CI=true`, where a missing PostgreSQL is a failure.

use std::fmt;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tempfile::TempDir;
use tokio::sync::OnceCell;

/// Environment variable with the URL of a server the tests may create databases on.
pub const DATABASE_URL_ENV: &str = "PLOG_TEST_DATABASE_URL";

/// Environment variable that, set to `1`, makes the tests start a private server even when
/// another one is available.
pub const PRIVATE_ENV: &str = "PLOG_TEST_POSTGRES_PRIVATE";

/// Local servers tried when no URL is configured.
const LOCAL_URLS: [&str; 3] = [
    "postgres://postgres@127.0.0.1:5432/postgres",
    "postgres://127.0.0.1:5432/postgres",
    "postgres://127.0.0.1:5432/test",
];

/// How long a try of a local server may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a private server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a private server may take to shut down before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A fresh database on a test server, dropped on drop.
pub struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
    dropped: bool,
    /// Keeps a private server running while the database is in use.
    server: Option<Arc<PrivateServer>>,
}

impl fmt::Debug for TestDatabase {
    // The URLs may hold a password: show only the database and where the server comes from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("private_server", &self.server.is_some())
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// The URL of the database (`postgres://…/plog_test_…`).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, terminating its remaining connections.
    ///
    /// # Errors
    /// If the server refuses.
    pub async fn cleanup(mut self) -> Result<(), String> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        // Drop may run inside a runtime or outside one: use a runtime of our own, on a thread
        // of our own. Best effort: a leftover database only costs disk space.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let cleaner = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(drop_database(&admin_url, &name))
        });
        match cleaner.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!(
                "could not drop test database {}: cleanup panicked",
                self.name
            ),
        }
    }
}

/// Where the test databases come from, decided once per process.
#[derive(Debug, Clone)]
enum Source {
    /// An existing server: its admin URL.
    Server(String),
    /// A private server started on demand.
    Private,
}

static SOURCE: OnceCell<Result<Source, String>> = OnceCell::const_new();

/// A fresh, empty database for one test.
///
/// # Errors
/// Why no database could be provided (no server reachable and none can be started, or the
/// server refused to create a database).
pub async fn test_database() -> Result<TestDatabase, String> {
    let source = SOURCE.get_or_init(choose_source).await.clone()?;
    let (admin_url, server) = match source {
        Source::Server(url) => (url, None),
        Source::Private => {
            let server = tokio::task::spawn_blocking(PrivateServer::shared)
                .await
                .map_err(|e| format!("starting a private PostgreSQL: {e}"))??;
            server.wait_ready().await?;
            (server.admin_url.clone(), Some(server))
        }
    };
    let name = format!("plog_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .map_err(|e| format!("connecting to the test PostgreSQL server: {e}"))?;
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("creating the test database: {e}"))?;
    drop(admin.close().await);
    Ok(TestDatabase {
        url: with_database(&admin_url, &name),
        admin_url,
        name,
        dropped: false,
        server,
    })
}

/// [`test_database`] for a test that skips without PostgreSQL: prints `skipped: <reason>` and
/// returns `None`.
///
/// # Panics
/// Under `CI=true` instead of skipping: there, a missing PostgreSQL is a failure.
pub async fn test_database_or_skip() -> Option<TestDatabase> {
    match test_database().await {
        Ok(database) => Some(database),
        Err(reason) => {
            assert!(
                !std::env::var("CI").is_ok_and(|ci| ci == "true"),
                "PostgreSQL is required under CI: {reason}"
            );
            eprintln!("skipped: {reason}");
            None
        }
    }
}

async fn choose_source() -> Result<Source, String> {
    let forced_private = std::env::var(PRIVATE_ENV).is_ok_and(|v| v == "1");
    if !forced_private {
        if let Some(url) = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|u| !u.is_empty())
        {
            return Ok(Source::Server(url));
        }
        for url in LOCAL_URLS {
            if tokio::time::timeout(PROBE_TIMEOUT, probe(url))
                .await
                .is_ok_and(|answered| answered)
            {
                return Ok(Source::Server(url.to_owned()));
            }
        }
    }
    match find_binaries() {
        Some(_) => Ok(Source::Private),
        None => Err(format!(
            "no PostgreSQL for the tests: set {DATABASE_URL_ENV}, run a server on \
             127.0.0.1:5432 that trusts local connections, or install the server programs \
             (initdb, postgres)"
        )),
    }
}

async fn probe(url: &str) -> bool {
    match PgConnection::connect(url).await {
        Ok(connection) => {
            drop(connection.close().await);
            true
        }
        Err(_) => false,
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), String> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(|e| e.to_string())?;
    // WITH (FORCE) (PostgreSQL 13+) ends the connections a test left open.
    let forced = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    if forced.is_err() {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\"")))
            .execute(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
    }
    drop(admin.close().await);
    Ok(())
}

/// `url` with its database (path) replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut result = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// `initdb` and `postgres` of one installation.
#[derive(Debug, Clone)]
struct Binaries {
    initdb: PathBuf,
    postgres: PathBuf,
}

fn find_binaries() -> Option<Binaries> {
    let from_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find_map(|dir| binaries_in(&dir)));
    from_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort();
        versions
            .into_iter()
            .rev()
            .find_map(|(_, dir)| binaries_in(&dir))
    })
}

fn binaries_in(dir: &Path) -> Option<Binaries> {
    let initdb = dir.join("initdb");
    let postgres = dir.join("postgres");
    (initdb.is_file() && postgres.is_file()).then_some(Binaries { initdb, postgres })
}

/// The effective user id, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The uid and gid of `nobody`.
fn nobody() -> (u32, u32) {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                match fields.as_slice() {
                    ["nobody", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                    _ => None,
                }
            })
        })
        .unwrap_or((65534, 65534))
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// How to run the server programs: directly, or as `nobody` when we are root.
#[derive(Debug, Clone)]
enum RunAs {
    /// As ourselves, without `setpriv`.
    Me,
    /// Through `setpriv`, which execs in place (the child is the server itself) and can ask
    /// for a death signal; as `user` (uid, gid) if given.
    Setpriv {
        setpriv: PathBuf,
        user: Option<(u32, u32)>,
    },
    /// As `nobody` through `runuser`, when we are root and `setpriv` is missing.
    Runuser { runuser: PathBuf },
}

impl RunAs {
    /// How to run, and the user that must own the server's directory (if not us).
    fn detect() -> Result<(Self, Option<(u32, u32)>), String> {
        let setpriv = find_program("setpriv");
        if effective_uid() != Some(0) {
            let run_as = setpriv.map_or(Self::Me, |setpriv| Self::Setpriv {
                setpriv,
                user: None,
            });
            return Ok((run_as, None));
        }
        let user = nobody();
        if let Some(setpriv) = setpriv {
            Ok((
                Self::Setpriv {
                    setpriv,
                    user: Some(user),
                },
                Some(user),
            ))
        } else if let Some(runuser) = find_program("runuser") {
            Ok((Self::Runuser { runuser }, Some(user)))
        } else {
            Err(
                "PostgreSQL does not run as root, and neither setpriv nor runuser is \
                 installed to run it as nobody"
                    .to_owned(),
            )
        }
    }

    /// A command running `program`; `die_with_parent` asks the kernel to kill it when the
    /// spawning thread ends (only through `setpriv`).
    fn command(&self, program: &Path, die_with_parent: bool) -> Command {
        match self {
            Self::Me => Command::new(program),
            Self::Setpriv { setpriv, user } => {
                let mut command = Command::new(setpriv);
                if let Some((uid, gid)) = user {
                    command
                        .arg(format!("--reuid={uid}"))
                        .arg(format!("--regid={gid}"))
                        .arg("--clear-groups");
                }
                if die_with_parent {
                    command.args(["--pdeathsig", "KILL"]);
                }
                command.arg("--").arg(program);
                command
            }
            Self::Runuser { runuser } => {
                let mut command = Command::new(runuser);
                command.args(["-u", "nobody", "--"]).arg(program);
                command
            }
        }
    }
}

/// Spawns commands from one thread that lives as long as the process, so that a child started
/// with `--pdeathsig` dies with the process rather than with a short-lived worker thread.
fn spawn_detached(mut command: Command) -> Result<Child, String> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("plog-test-postgres-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in receiver {
                    drop(reply.send(command.spawn()));
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("cannot start the spawner thread: {e}"));
        Mutex::new(sender)
    });
    let (reply, answer) = mpsc::channel();
    let sent = spawner
        .lock()
        .map_err(|_| "spawner lock poisoned".to_owned())?
        .send((command, reply));
    match sent {
        Ok(()) => answer
            .recv()
            .map_err(|_| "the spawner thread is gone".to_owned())?
            .map_err(|e| e.to_string()),
        // No spawner thread: spawn here (the child then lives on if the process dies).
        Err(mpsc::SendError((returned, _))) => {
            command = returned;
            command.spawn().map_err(|e| e.to_string())
        }
    }
}

/// A private `postgres` in a temporary directory, stopped on drop.
struct PrivateServer {
    admin_url: String,
    child: Mutex<Child>,
    log: PathBuf,
    // Declared last: removed after the server stopped.
    _dir: TempDir,
}

impl fmt::Debug for PrivateServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateServer")
            .field("admin_url", &self.admin_url)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

static PRIVATE: Mutex<Weak<PrivateServer>> = Mutex::new(Weak::new());

impl PrivateServer {
    /// The running private server, started if no test holds one. Blocking.
    fn shared() -> Result<Arc<Self>, String> {
        let mut slot = PRIVATE
            .lock()
            .map_err(|_| "private server lock poisoned".to_owned())?;
        if let Some(server) = slot.upgrade() {
            return Ok(server);
        }
        let server = Arc::new(Self::start()?);
        *slot = Arc::downgrade(&server);
        Ok(server)
    }

    fn start() -> Result<Self, String> {
        let binaries = find_binaries().ok_or("initdb/postgres not found")?;
        let (run_as, owner) = RunAs::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("plog-pg-")
            .tempdir()
            .map_err(|e| format!("creating a directory for PostgreSQL: {e}"))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("handing {} to nobody: {e}", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");

        let initdb = run_as
            .command(&binaries.initdb, false)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
            .arg("--no-sync")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", binaries.initdb.display()))?;
        if !initdb.status.success() {
            return Err(format!(
                "initdb failed ({}): {}",
                initdb.status,
                String::from_utf8_lossy(&initdb.stderr).trim()
            ));
        }

        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let log_file = File::create(&log).map_err(|e| format!("creating the log: {e}"))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("creating the log: {e}"))?;
        let mut command = run_as.command(&binaries.postgres, true);
        command
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let child = spawn_detached(command)
            .map_err(|e| format!("running {}: {e}", binaries.postgres.display()))?;
        Ok(Self {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            child: Mutex::new(child),
            log,
            _dir: dir,
        })
    }

    /// Waits until the server accepts connections.
    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if probe(&self.admin_url).await {
                return Ok(());
            }
            let exited = self
                .child
                .lock()
                .map_err(|_| "private server lock poisoned".to_owned())?
                .try_wait()
                .ok()
                .flatten();
            if exited.is_some() || Instant::now() > deadline {
                let log = fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                return Err(format!(
                    "the private PostgreSQL did not start ({}); its log ends:\n{}",
                    exited.map_or("timed out".to_owned(), |status| status.to_string()),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let Ok(child) = self.child.get_mut() else {
            return;
        };
        // Fast shutdown (SIGINT), then SIGKILL if it lingers.
        let interrupted = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while interrupted && Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        drop(child.kill());
        drop(child.wait());
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_in_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgresql://h/db?sslmode=disable", "x"),
            "postgresql://h/x?sslmode=disable"
        );
    }
}
