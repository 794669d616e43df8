//! Serving HTTP/1.1 on a TCP listener with the limits `axum::serve` lacks,
//! for the relay and the node's REST API.
//!
//! `axum::serve` reads a request's head for as long as the client likes and
//! accepts any number of connections from one address, so a client that
//! sends half a request line and stalls holds a socket forever, and one host
//! can hold all of them. [`serve`] runs hyper's HTTP/1.1 connection (with
//! upgrades, for websockets) with:
//!
//! - a **header-read timeout**: a client has [`HttpLimits::header_timeout`]
//!   to send a request's head, counted from the connection's start and, on a
//!   kept-alive connection, from the end of the previous response (so it
//!   also bounds idle keep-alive);
//! - a **body timeout**: a request body that stalls for
//!   [`HttpLimits::body_timeout`] (no bytes) fails, and the connection closes;
//! - **connection limits**: at most [`HttpLimits::max_connections_per_address`]
//!   open connections from one address ([`address_group`]: IPv6 counts by
//!   /64) and [`HttpLimits::max_connections`] in all; a connection over
//!   either is closed at once, before anything is read. A connection counts
//!   until it ends or is upgraded (a websocket is the application's to
//!   limit: see [`AddressCounts`]).
//!
//! Only HTTP/1.1 is spoken (browsers use it for `http://`; HTTP/2 without TLS
//! would need prior knowledge, and hyper's HTTP/2 has no header timeout).
//! Every connection gets `TCP_NODELAY`. On shutdown the listener closes,
//! idle connections close, and requests in flight finish.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::timeout::RequestBodyTimeout;
pub use tower_http::timeout::TimeoutBody;

/// What one HTTP server allows its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time a client has to send a request's head (request line and
    /// headers), from the connection's start or the end of the previous
    /// response; then the connection is closed.
    pub header_timeout: Duration,
    /// Longest pause while a request body is read; then reading it fails
    /// (the handler answers an error) and the connection closes.
    pub body_timeout: Duration,
    /// Most connections open at once from one address (IPv6: one /64).
    pub max_connections_per_address: usize,
    /// Most connections open at once in all.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    /// 10 s for a request's head and for any pause in a body (a slow mobile
    /// client needs a fraction of it), 64 connections per address (a browser
    /// opens at most 6 per host, so this leaves room for a household or an
    /// office behind one address), 1,024 in all (file descriptors stay well
    /// below the usual limits).
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections_per_address: 64,
            max_connections: 1_024,
        }
    }
}

/// The key connections are counted under: an IPv4 address, or the /64
/// network of an IPv6 address (one host usually has a whole /64 to pick
/// addresses from). IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// Why [`AddressCounts::try_acquire`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The address (group) already has the most connections allowed.
    #[error("{limit} connections from this address already")]
    PerAddress {
        /// The limit.
        limit: usize,
    },
    /// The server already has the most connections allowed.
    #[error("{limit} connections already")]
    Total {
        /// The limit.
        limit: usize,
    },
}

/// Open connections by [`address_group`], bounded per group and in all.
///
/// [`serve`] counts HTTP connections with one; the relay counts its
/// websockets with another.
#[derive(Debug)]
pub struct AddressCounts {
    per_address: usize,
    total: usize,
    state: Mutex<Counts>,
}

/// The numbers behind an [`AddressCounts`].
#[derive(Debug, Default)]
struct Counts {
    /// Only groups with at least one connection: the map is bounded by the
    /// connections themselves.
    by_group: HashMap<IpAddr, usize>,
    open: usize,
}

impl AddressCounts {
    /// At most `per_address` connections from one group, `total` in all.
    pub fn new(per_address: usize, total: usize) -> Arc<Self> {
        Arc::new(Self { per_address, total, state: Mutex::default() })
    }

    /// Counts a connection from `ip` until the guard drops, if both limits allow.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<AddressGuard, LimitError> {
        let group = address_group(ip);
        let mut state = self.state.lock();
        if state.open >= self.total {
            return Err(LimitError::Total { limit: self.total });
        }
        let count = state.by_group.entry(group).or_insert(0);
        if *count >= self.per_address {
            return Err(LimitError::PerAddress { limit: self.per_address });
        }
        *count += 1;
        state.open += 1;
        Ok(AddressGuard { counts: self.clone(), group })
    }

    /// Connections open now from `ip`'s group.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.state.lock().by_group.get(&address_group(ip)).copied().unwrap_or(0)
    }

    /// Connections open now in all.
    pub fn open(&self) -> usize {
        self.state.lock().open
    }
}

/// One counted connection; dropping it frees its place.
#[derive(Debug)]
pub struct AddressGuard {
    counts: Arc<AddressCounts>,
    group: IpAddr,
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut state = self.counts.state.lock();
        state.open -= 1;
        if let Some(count) = state.by_group.get_mut(&self.group) {
            *count -= 1;
            if *count == 0 {
                state.by_group.remove(&self.group);
            }
        }
    }
}

/// What [`serve`] refused or cut short, for an application's metrics.
#[derive(Debug, Default)]
pub struct ServeStats {
    refused_per_address: AtomicU64,
    refused_total: AtomicU64,
    header_timeouts: AtomicU64,
}

impl ServeStats {
    /// Connections closed at once because their address had too many open.
    pub fn refused_per_address(&self) -> u64 {
        self.refused_per_address.load(Ordering::Relaxed)
    }

    /// Connections closed at once because the server had too many open.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    /// Connections closed because a request's head did not come in time.
    pub fn header_timeouts(&self) -> u64 {
        self.header_timeouts.load(Ordering::Relaxed)
    }

    fn refused(&self, why: LimitError) {
        let counter = match why {
            LimitError::PerAddress { .. } => &self.refused_per_address,
            LimitError::Total { .. } => &self.refused_total,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Serves HTTP/1.1 (with upgrades) on `listener` under `limits` until
/// `shutdown` resolves, then stops accepting, closes idle connections, and
/// returns once the requests in flight are answered (upgraded connections
/// are no longer the server's). `make_service` builds each connection's
/// service from the client's address (an axum router with its `ConnectInfo`,
/// say), which reads request bodies through [`TimeoutBody`]; `stats`
/// counts what was refused.
pub async fn serve<M, S, B>(
    listener: TcpListener,
    limits: HttpLimits,
    stats: Arc<ServeStats>,
    make_service: M,
    shutdown: impl Future<Output = ()>,
) where
    M: Fn(SocketAddr) -> S,
    S: tower_service::Service<Request<TimeoutBody<Incoming>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let counts = AddressCounts::new(limits.max_connections_per_address, limits.max_connections);
    // `stop` tells the connections to finish; each holds a `running`
    // receiver, so `ended.closed()` resolves when the last one is done.
    let (stop, stopped) = watch::channel(false);
    let (ended, running) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(error).await;
                    continue;
                }
            },
        };
        let guard = match counts.try_acquire(remote.ip()) {
            Ok(guard) => guard,
            Err(why) => {
                stats.refused(why);
                tracing::debug!(%remote, "connection closed at once: {why}");
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {error}");
        }
        let service = TowerToHyperService::new(RequestBodyTimeout::new(make_service(remote), limits.body_timeout));
        let (mut stopped, running, stats) = (stopped.clone(), running.clone(), stats.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let stop_asked = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop_asked => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            match result {
                Err(error) if error.is_timeout() => {
                    stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, "no request head within {:?}: closed", limits.header_timeout);
                }
                Err(error) => tracing::debug!(%remote, "connection failed: {error}"),
                Ok(()) => {}
            }
            drop((guard, running));
        });
    }
    drop(listener);
    stop.send_replace(true);
    drop(running);
    ended.closed().await;
}

/// After a failed `accept`: at once for errors of one connection (it went
/// away before we took it), else a short pause, so that running out of file
/// descriptors does not become a busy loop (what `axum::serve` does too).
async fn pause_after_accept_error(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(error.kind(), ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused)
    {
        return;
    }
    tracing::error!("accepting a connection failed: {error}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Ready;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};

    use super::*;

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let group = |text: &str| address_group(text.parse().unwrap());
        assert_eq!(group("192.0.2.7"), group("192.0.2.7"));
        assert_ne!(group("192.0.2.7"), group("192.0.2.8"));
        assert_eq!(group("2001:db8:1:2:aaaa::1"), group("2001:db8:1:2:ffff::9"));
        assert_eq!(group("2001:db8:1:2::1"), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_ne!(group("2001:db8:1:2::1"), group("2001:db8:1:3::1"));
        assert_eq!(group("::ffff:192.0.2.7"), group("192.0.2.7"));
    }

    #[test]
    fn counts_are_bounded_per_address_and_in_all_and_freed_on_drop() {
        let counts = AddressCounts::new(2, 3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = counts.try_acquire(a).unwrap();
        let _second = counts.try_acquire(a).unwrap();
        assert_eq!(counts.try_acquire(a).unwrap_err(), LimitError::PerAddress { limit: 2 });
        let _third = counts.try_acquire(b).unwrap();
        assert_eq!(counts.try_acquire(b).unwrap_err(), LimitError::Total { limit: 3 });
        assert_eq!((counts.open_from(a), counts.open_from(b), counts.open()), (2, 1, 3));
        drop(first);
        assert_eq!((counts.open_from(a), counts.open()), (1, 2));
        let _again = counts.try_acquire(a).unwrap();
    }

    /// Answers every request `200 ok`.
    #[derive(Clone)]
    struct Ok200;

    impl tower_service::Service<Request<TimeoutBody<Incoming>>> for Ok200 {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = Ready<Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<TimeoutBody<Incoming>>) -> Self::Future {
            std::future::ready(Ok(Response::new("ok".to_owned())))
        }
    }

    /// A server of [`Ok200`] under `limits` on 127.0.0.1, until the sender drops.
    async fn server(limits: HttpLimits) -> (SocketAddr, Arc<ServeStats>, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ServeStats::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, limits, stats.clone(), |_| Ok200, async move {
            let _ = stopped.await;
        }));
        (addr, stats, stop)
    }

    /// Connects to `to` from the loopback address `from`.
    async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((from, 0))).unwrap();
        socket.connect(to).await.unwrap()
    }

    /// Whether the server closed `stream` within `within` (EOF or reset).
    async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0; 256];
        matches!(tokio::time::timeout(within, stream.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
    }

    #[tokio::test]
    async fn a_partial_request_is_closed_after_the_header_timeout() {
        let limits = HttpLimits { header_timeout: Duration::from_millis(300), ..HttpLimits::default() };
        let (addr, stats, _stop) = server(limits).await;
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        assert!(closed_within(&mut half, Duration::from_secs(3)).await);
        assert_eq!(stats.header_timeouts(), 1);
        // A whole request is answered.
        let mut whole = TcpStream::connect(addr).await.unwrap();
        whole.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        whole.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn one_address_cannot_take_every_connection() {
        let limits = HttpLimits { max_connections_per_address: 2, max_connections: 3, ..HttpLimits::default() };
        let (addr, stats, _stop) = server(limits).await;
        let _held = [connect_from([127, 0, 0, 2], addr).await, connect_from([127, 0, 0, 2], addr).await];
        let mut third = connect_from([127, 0, 0, 2], addr).await;
        assert!(closed_within(&mut third, Duration::from_secs(3)).await, "a third from one address is closed");
        let mut other = connect_from([127, 0, 0, 3], addr).await;
        other.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        other.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!((stats.refused_per_address(), stats.refused_total()), (1, 0));
    }
}
