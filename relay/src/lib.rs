//! The relay's one job: be the **untrusted HTTPS server** that stores ciphertext volumes,
//! authenticates devices by challenge, enforces sharing grants and delivers sealed mail between
//! PluralLog users — without ever holding a password, a private key, a volume key or plaintext.
//!
//! The binary `plog-relay` is a thin wrapper: it parses its arguments with [`Cli`] and hands
//! them to [`run`]. Tests start the server in-process with [`server::serve`] on a listener of
//! their own.
#![forbid(unsafe_code)]

pub mod api;
pub mod broker;
mod cli;
pub mod config;
pub mod db;
mod error;
pub mod server;
pub mod state;
pub mod tls;

pub use cli::{
    AdminArgs, AdminCommand, AdminSessionsCommand, Cli, Command, FingerprintArgs, ServeArgs,
};
pub use error::{EXIT_FAILURE, Error};

/// The relay's version, as printed by `plog-relay --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs one parsed `plog-relay` command line.
///
/// # Errors
///
/// [`Error`] naming what failed; `admin` commands are not implemented yet.
pub fn run(cli: &Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Serve(args) => serve_command(args),
        Command::Fingerprint(args) => {
            println!("{}", tls::fingerprint_command(args)?);
            Ok(())
        }
        Command::DefaultConfig => {
            print!("{}", config::default_config());
            Ok(())
        }
        Command::Admin(admin) => Err(Error::NotImplemented {
            command: admin.command.name(),
        }),
    }
}

fn serve_command(args: &ServeArgs) -> Result<(), Error> {
    init_logging();
    let config = config::Config::load(args)?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(|source| Error::Io {
        context: format!("cannot listen on {}", config.listen),
        source,
    })?;
    let runtime = tokio::runtime::Runtime::new().map_err(|source| Error::Io {
        context: "cannot start the async runtime".to_owned(),
        source,
    })?;
    runtime.block_on(server::serve(
        config,
        listener,
        shutdown_signal(),
        |started| {
            // Printed on stdout so scripts can read it; logs go to stderr.
            println!(
                "plog-relay {} listening on https://{}",
                VERSION, started.listen
            );
            println!("public origin: {}", started.public_origin);
            println!("certificate pin: {}", started.pin);
            println!("nats: {}", started.nats_url);
        },
    ))?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch SIGTERM; stop with Ctrl-C");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
