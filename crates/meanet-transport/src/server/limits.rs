//! Connection limits, set on every listener: how long a client may take to send a request's
//! headers, how long a connection may sit idle, how many may be open, and QUIC's idle timeout
//! and stream cap. A slow or idle client is closed, a connection past the cap is closed at
//! once; none of them can hold the server's resources for long or crash it.

use std::future::{Ready, ready};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Extension;
use axum::middleware::AddExtension;
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;

/// The limits of a server's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// HTTP/1: a request's headers must be complete within this, counted from when the
    /// connection is ready for the request (so a keep-alive connection waiting for its next
    /// request is closed after it too: hyper counts both the same way).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no byte either way for this long is closed
    /// (HTTP/1 and HTTP/2 alike).
    pub idle_timeout: Duration,
    /// The most HTTP connections open at once; past it a new connection is closed at once.
    pub max_connections: usize,
    /// QUIC: a connection with no traffic for this long is closed (quinn's idle timeout).
    pub quic_idle_timeout: Duration,
    /// QUIC: the most request streams one connection may have open at once.
    pub quic_max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            quic_idle_timeout: Duration::from_secs(30),
            quic_max_streams: 256,
        }
    }
}

/// What a connection is doing: requests in flight, and when a byte last moved.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no request is in flight and none has started or ended for `quiet`.
    pub(crate) fn quiet_for(&self, quiet: Duration) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && self.last().elapsed() >= quiet
    }

    /// Marks a request in flight until the returned guard drops.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Busy(Arc::clone(self))
    }
}

/// A request in flight on a connection (see [`Activity::busy`]).
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// The acceptor that enforces [`Limits::max_connections`] and [`Limits::idle_timeout`]: each
/// accepted connection holds a permit for its lifetime, and its requests carry its
/// [`Activity`] (for the HTTP layer to mark them in flight).
#[derive(Debug, Clone)]
pub(crate) struct Limited {
    permits: Arc<Semaphore>,
    idle: Duration,
}

impl Limited {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limited {
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            idle: limits.idle_timeout,
        }
    }
}

impl<S> Accept<TcpStream, S> for Limited {
    type Stream = Guarded;
    type Service = AddExtension<S, Arc<Activity>>;
    type Future = Ready<io::Result<(Guarded, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            // Dropping the stream closes it: the client sees the connection end, and the
            // server spends nothing more on it.
            return ready(Err(io::Error::other("connection limit reached")));
        };
        let activity = Arc::new(Activity::new());
        let guarded = Guarded {
            inner: stream,
            _permit: permit,
            activity: Arc::clone(&activity),
            idle: self.idle,
            timer: Box::pin(tokio::time::sleep(self.idle)),
        };
        ready(Ok((guarded, Extension(activity).layer(service))))
    }
}

/// An accepted connection: holds its permit, records activity, and ends itself once idle.
#[derive(Debug)]
pub(crate) struct Guarded {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    activity: Arc<Activity>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Guarded {
    /// Whether the connection has been idle past its limit (re-arming the timer otherwise, so
    /// the task is woken when it might be).
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.activity.in_flight.load(Ordering::SeqCst) > 0 {
            return false;
        }
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let until = self.activity.last() + self.idle;
            if Instant::now() >= until {
                return true;
            }
            self.timer.as_mut().reset(until);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.activity.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle past server.idle_timeout_ms",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// QUIC's transport settings for `limits`.
pub(crate) fn quic_transport(limits: &Limits) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    // An idle timeout beyond QUIC's varint range means "as long as allowed".
    let idle = quinn::IdleTimeout::try_from(limits.quic_idle_timeout)
        .unwrap_or_else(|_| quinn::IdleTimeout::from(quinn::VarInt::MAX));
    t.max_idle_timeout(Some(idle));
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(limits.quic_max_streams.max(1)));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t
}
