//! Live delivery across relay instances: two `plog-relay` processes of one deployment (one
//! `nats-server`, one PostgreSQL database, one data directory, one public origin) behind a
//! switchable TCP forwarder standing in for a load balancer. The owner's daemon holds its
//! event stream on instance B; a friend request posted through instance A reaches it as a
//! D-Bus signal within a second, with no polling anywhere on the way.
//!
//! Skips without PostgreSQL (printing why), except under `CI=true`, where that fails.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plog_ipc_schema::dbus::FriendsProxy;
use plog_ipc_schema::dbus::friends::{FriendEntry, FriendRequest, RequestVia};
use plog_tests::nats::NatsServer;
use plog_tests::people::Person;
use plog_tests::postgres;
use plog_tests::relay_process::RelayProcess;
use plog_tests::switch_proxy::SwitchProxy;

/// A free loopback port (bound and released; the relay binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_through_one_instance_reaches_a_daemon_on_the_other_at_once() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(database) = postgres::test_database_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("relay directory");
    let data_dir = dir.path().join("data");
    let (port_a, port_b) = (free_port(), free_port());
    let addr = |port: u16| -> SocketAddr { format!("127.0.0.1:{port}").parse().expect("addr") };
    let proxy = SwitchProxy::start([addr(port_a), addr(port_b)]).await;
    let origin = format!("https://127.0.0.1:{}", proxy.port());
    let env = || {
        vec![
            ("PLOG_RELAY_NATS__URL", nats.url()),
            ("PLOG_RELAY_DATABASE_URL", database.url().to_owned()),
            ("PLOG_RELAY_PUBLIC_ORIGIN", origin.clone()),
            (
                "PLOG_RELAY_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
        ]
    };
    // One after the other: the first generates the deployment's certificate, the second
    // serves the same one from the shared data directory.
    let instance_a =
        RelayProcess::start_listening(&data_dir, &format!("127.0.0.1:{port_a}"), &env()).await;
    let instance_b =
        RelayProcess::start_listening(&data_dir, &format!("127.0.0.1:{port_b}"), &env()).await;
    assert_eq!(instance_a.pin, instance_b.pin, "one certificate");
    assert_eq!(instance_a.public_origin, origin);
    let pin = instance_a.pin.clone();

    // The owner talks to instance B only, and keeps its event stream there.
    proxy.switch(1);
    let Some(owner) = Person::join(&origin, &pin, "--system", "crew").await else {
        return;
    };
    owner.wait_live(1).await;
    let connection = owner.bus.connect().await;
    let friends = FriendsProxy::new(&connection).await.expect("proxy");
    let mut requests = friends
        .receive_friend_request_received()
        .await
        .expect("subscribe");

    // Everyone else talks to instance A.
    proxy.switch(0);
    let through_b = proxy.accepted(1);
    let Some(kit) = Person::join(&origin, &pin, "--friend", "kit").await else {
        return;
    };
    let sent: FriendEntry = kit.json(&["friend", "request", "--handle", "crew"]);
    let posted = Instant::now();
    let signal = tokio::time::timeout(Duration::from_secs(10), requests.next())
        .await
        .expect("a FriendRequestReceived signal")
        .expect("signal stream open");
    let latency = posted.elapsed();
    let args = signal.args().expect("signal arguments");
    assert_eq!(*args.name(), "kit");
    assert!(
        latency < Duration::from_secs(1),
        "the request took {latency:?} to reach the other instance's client"
    );
    eprintln!("request delivered across instances in {latency:?}");
    assert!(proxy.accepted(0) > 0, "the friend went through instance A");
    assert_eq!(
        proxy.accepted(1),
        through_b,
        "nothing new went to instance B while the friend posted"
    );

    let listed: Vec<FriendRequest> = owner.json(&["friend", "requests"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id.to_string(), *args.id());
    assert_eq!(listed[0].via, RequestVia::Handle);
    assert_eq!(listed[0].user_id, kit.user_id);
    assert_eq!(sent.user_id, owner.user_id);

    drop(instance_a);
    drop(instance_b);
    let _ = database.cleanup().await;
}
