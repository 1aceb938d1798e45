//! A TCP forwarder with a switchable target, standing in for a load balancer in front of two
//! relay instances of one deployment: every new connection goes to the target current when it
//! was accepted and stays there, so a test can pin one client's connections to instance A and
//! another's to instance B while both use the one public origin.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The forwarder; stops accepting when dropped.
#[derive(Debug)]
pub struct SwitchProxy {
    port: u16,
    target: Arc<Mutex<SocketAddr>>,
    accepted: Arc<[AtomicUsize; 2]>,
    targets: [SocketAddr; 2],
    task: JoinHandle<()>,
}

impl SwitchProxy {
    /// Listens on a free loopback port, forwarding to `targets[0]` until [`Self::switch`].
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(targets: [SocketAddr; 2]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        let target = Arc::new(Mutex::new(targets[0]));
        let accepted: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (task_target, task_accepted) = (Arc::clone(&target), Arc::clone(&accepted));
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let to = *task_target.lock().unwrap_or_else(PoisonError::into_inner);
                let index = usize::from(to != targets[0]);
                task_accepted[index].fetch_add(1, Ordering::SeqCst);
                tokio::spawn(forward(inbound, to));
            }
        });
        Self {
            port,
            target,
            accepted,
            targets,
            task,
        }
    }

    /// The port clients connect to.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends new connections to `targets[index]`.
    pub fn switch(&self, index: usize) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = self.targets[index];
    }

    /// How many connections went to `targets[index]` so far.
    #[must_use]
    pub fn accepted(&self, index: usize) -> usize {
        self.accepted[index].load(Ordering::SeqCst)
    }
}

impl Drop for SwitchProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(mut inbound: TcpStream, to: SocketAddr) {
    if let Ok(mut outbound) = TcpStream::connect(to).await {
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }
}
