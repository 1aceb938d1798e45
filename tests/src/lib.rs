//! Harness for PluralLog's end-to-end tests: finds (and if needed builds) the real `plog`,
//! `plogd` and `plog-relay` executables and runs them in a controlled environment.
//!
//! Later tests add real `nats-server`, private `dbus-daemon` and relay processes here, each on
//! free ports and temporary directories and cleaned up on drop.

pub mod bench;
pub mod binaries;
pub mod client;
pub mod held;
pub mod installation;
pub mod mitm;
pub mod nats;
pub mod people;
pub mod postgres;
pub mod relay;
pub mod relay_process;
pub mod relay_setup;
pub mod session_bus;
pub mod switch_proxy;
