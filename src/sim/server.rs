//! How a simulator listens: it binds 127.0.0.1, prints its address as the first line on stdout and
//! serves an axum router over connections it can reset — every request carries its connection's
//! [`Connection`], whose [`Connection::reset`] makes the socket close with a TCP RST (`SO_LINGER` 0)
//! instead of answering, as a crashed server or a dropping load balancer does.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Why a simulator could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SimError {
    /// The port could not be bound, or serving failed.
    #[error("serving on 127.0.0.1:{port}: {source}")]
    Io {
        /// The port asked for.
        port: u16,
        /// The cause.
        source: io::Error,
    },
}

/// One accepted connection, seen from a request: its peer and the switch that resets it.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    reset: Arc<AtomicBool>,
}

impl Connection {
    /// Resets the connection instead of writing the answer: the next write fails, the socket is
    /// closed with `SO_LINGER` 0, and the client sees "connection reset by peer" with no answer.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }
}

/// A TCP stream that fails its writes (and reads) once its connection was reset.
pub(crate) struct ResettableStream {
    stream: TcpStream,
    connection: Connection,
}

impl ResettableStream {
    /// When reset: linger 0 (close sends RST, not FIN) and the error that makes hyper drop the stream.
    fn check(&self) -> io::Result<()> {
        if !self.connection.reset.load(Ordering::SeqCst) {
            return Ok(());
        }
        socket2::SockRef::from(&self.stream).set_linger(Some(std::time::Duration::ZERO))?;
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection reset"))
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The listener handing out [`ResettableStream`]s.
struct SimListener(TcpListener);

impl axum::serve::Listener for SimListener {
    type Io = ResettableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, address)) => {
                    let connection = Connection { reset: Arc::new(AtomicBool::new(false)) };
                    return (ResettableStream { stream, connection }, address);
                }
                // Out of file descriptors and the like: wait a little, as axum's own listener does.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.io().connection.clone()
    }
}

/// Binds 127.0.0.1:`port`, prints the bound address (`http://127.0.0.1:PORT`) as the first line on
/// stdout, and serves `app` until the process ends.
pub(crate) async fn serve(port: u16, app: axum::Router) -> Result<(), SimError> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|source| SimError::Io { port, source })?;
    let address = listener.local_addr().map_err(|source| SimError::Io { port, source })?;
    {
        use std::io::Write as _;
        let mut out = io::stdout().lock();
        // Tests read this line to find the port; a closed stdout does not stop the simulator.
        let _ = writeln!(out, "http://{address}");
        let _ = out.flush();
    }
    let service = app.into_make_service_with_connect_info::<Connection>();
    axum::serve(SimListener(listener), service).await.map_err(|source| SimError::Io { port, source })
}
