//! The async runtime each webrtc-rs peer connection runs on: webrtc's own tokio runtime
//! (`webrtc::runtime::TokioRuntime`, every method delegated), except that the connection's
//! driver can be woken for its timers *now* ([`DriverRuntime::handle_timers_now`]).
//!
//! Why: `rtc` 0.21's DTLS handler starts the DTLS client's handshake when ICE selects a
//! candidate pair (`DtlsHandler::handle_event`, `ICESelectedCandidatePairChange`), but the
//! ClientHello it builds waits in the DTLS endpoint until the handler's next `handle_timeout`,
//! which the driver (`webrtc` 0.21 `peer_connection/driver.rs`) calls only when its earliest
//! protocol deadline comes, in practice the ICE agent's next check tick (up to
//! `ICE_CHECK_INTERVAL`, 20 ms, later). An answering side is the DTLS client (`a=setup:active`,
//! RFC 8842 §5.3) and selects its pair when the offerer's nomination arrives, at a random phase
//! of its own tick: 0–20 ms (≈ 10 on average) of every answered call's setup went to this wait.
//!
//! The driver asks this runtime for a timer (`sleep(until the next deadline)`) at the end of
//! every pass of its loop, after it has delivered the pass's events to the application's
//! handler — the ICE connection state among them. The handler calls
//! [`handle_timers_now`](DriverRuntime::handle_timers_now) when ICE connects; the driver's next
//! `sleep` then ends at once, the driver calls `handle_timeout(now)`, the DTLS handler moves the
//! queued flight to the socket, and the loop goes on as before. A `handle_timeout` before a
//! deadline does nothing else: every sans-I/O machine in `rtc` acts only on deadlines that have
//! passed (ICE checks when `last_checking_time + interval <= now`, DTLS retransmits when its
//! timer is due, STUN transactions when they time out).
//!
//! The request is one-shot (the first `sleep` after it takes it) and harmless when it lands
//! elsewhere: the runtime's other `sleep`s (webrtc's 100 ms wait for the driver in `close()`, a
//! data channel's 50 ms back-off; mxcall opens no data channel) would end early, which costs
//! the flush, not the call — and they run at other moments than ICE connecting.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// One peer connection's runtime. Cheap; one per [`PeerConnection`](webrtc::peer_connection::PeerConnection).
pub(super) struct DriverRuntime {
    inner: TokioRuntime,
    /// Set by [`handle_timers_now`](Self::handle_timers_now), taken by the next `sleep`.
    timers_now: AtomicBool,
}

impl DriverRuntime {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: TokioRuntime,
            timers_now: AtomicBool::new(false),
        })
    }

    /// The next timer the driver arms ends at once, so the driver handles its protocol timers
    /// (and flushes what they queued) without waiting for the next deadline. Call it from the
    /// peer connection's event handler, which runs on the driver's task before it arms its timer.
    pub(super) fn handle_timers_now(&self) {
        self.timers_now.store(true, Ordering::Release);
    }
}

impl fmt::Debug for DriverRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverRuntime")
            .field("timers_now", &self.timers_now.load(Ordering::Relaxed))
            .finish()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for DriverRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if self.timers_now.swap(false, Ordering::AcqRel) {
            Box::pin(std::future::ready(()))
        } else {
            self.inner.sleep(duration)
        }
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `future` completes within `within` (the real clock: the timers asked for are a
    /// minute long, so the margins are wide).
    async fn done_within(future: BoxFuture<'static, ()>, within: Duration) -> bool {
        tokio::time::timeout(within, future).await.is_ok()
    }

    #[tokio::test]
    async fn a_timer_runs_its_course_unless_asked_to_end_now() {
        let rt = DriverRuntime::new();
        let minute = Duration::from_secs(60);
        let short = Duration::from_millis(50);
        assert!(!done_within(rt.sleep(minute), short).await);
        assert!(done_within(rt.sleep(Duration::from_millis(1)), Duration::from_secs(10)).await);

        rt.handle_timers_now();
        assert!(done_within(rt.sleep(minute), Duration::from_secs(10)).await);
        // One-shot: that timer took the request.
        assert!(!done_within(rt.sleep(minute), short).await);
    }
}
