//! The connection multiplexer: Yamux (`/yamux/1.0.0`, the `yamux` crate that `libp2p-yamux`
//! wraps) with two settings `libp2p-yamux` 0.48 does not let a caller choose.
//!
//! - **Frame size** ([`SPLIT_SEND_SIZE`]): the sender cuts every write into data frames of at
//!   most this many bytes. Yamux's default, 16 KiB, makes a 1 GiB evidence item 65,536 frames,
//!   each a header, a wake-up of the connection task and a copy on each side; the transfer profile
//!   (docs/protocol.md, "Where the time of a large transfer goes") found that per-frame work a
//!   large share of both sides' CPU. Any Yamux receiver accepts data frames up to its stream's
//!   window (256 KiB at the start) and up to 1 MiB in the `yamux` crate's decoder, so larger
//!   frames need nothing of the partner: the wire protocol is unchanged.
//! - **Receive window per connection** ([`MAX_CONNECTION_RECEIVE_WINDOW`]): the bytes a partner
//!   may have in flight towards this node on one connection, over all its streams. The `yamux`
//!   default is 1 GiB, so a reader that lags (a slow disk, a loaded machine) let Yamux's buffers
//!   grow far past our memory target (a receiver was seen at 145 MiB); the bound keeps memory flat
//!   whatever the partner sends. It must be at least 256 KiB × [`MAX_STREAMS`] (Yamux's rule:
//!   every stream gets at least the default window).
//!
//! The adapter between `yamux::Connection` and libp2p's [`StreamMuxer`] follows `libp2p-yamux`
//! 0.48 (MIT, Parity Technologies): inbound streams opened while the swarm is busy are buffered
//! (up to [`MAX_BUFFERED_INBOUND_STREAMS`], then reset, as there).

use std::{
    collections::VecDeque,
    io,
    io::{IoSlice, IoSliceMut},
    iter,
    pin::Pin,
    task::{Context, Poll, Waker},
};

use futures::{AsyncRead, AsyncWrite, future, ready};
use libp2p::core::{
    muxing::{StreamMuxer, StreamMuxerEvent},
    upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo},
};

/// Largest data frame this node sends, in bytes (the receiver's window bounds it further).
pub(crate) const SPLIT_SEND_SIZE: usize = 256 * 1024;

/// Most streams a partner may have open on one connection (the `yamux` default is 512). A node
/// uses a handful per partner: a few blob lanes (16 served at most), control requests.
pub(crate) const MAX_STREAMS: usize = 256;

/// Bytes by which the receive windows of a connection's streams may grow, together, beyond the
/// 256 KiB each starts with (Yamux doubles a stream's window while its reader keeps up, to cover
/// the bandwidth-delay product): 32 MiB covers 100 MB/s at 300 ms of round trip.
pub(crate) const WINDOW_GROWTH: usize = 32 * 1024 * 1024;

/// Most bytes a partner may have sent and this node not yet read, over all streams of one
/// connection (the `yamux` default is 1 GiB): 256 KiB for each of [`MAX_STREAMS`] (Yamux
/// reserves that much for every stream there may be) plus [`WINDOW_GROWTH`].
pub(crate) const MAX_CONNECTION_RECEIVE_WINDOW: usize = 256 * 1024 * MAX_STREAMS + WINDOW_GROWTH;

// Yamux lets a stream's window grow only by what the connection bound leaves above 256 KiB per
// possible stream: with no room every stream stays at 256 KiB (found measuring, see protocol.md).
const _: () = assert!(MAX_CONNECTION_RECEIVE_WINDOW >= 256 * 1024 * MAX_STREAMS + 16 * 1024 * 1024);

/// Inbound streams held while the swarm has not yet taken them; more are reset
/// (`libp2p-yamux`'s value, the `yamux` crate's ACK backlog).
const MAX_BUFFERED_INBOUND_STREAMS: usize = 256;

/// The multiplexer upgrade given to libp2p's transport builder (`with_tcp(…, Config::default)`).
#[derive(Debug, Clone)]
pub(crate) struct Config(yamux::Config);

impl Default for Config {
    fn default() -> Self {
        let mut c = yamux::Config::default();
        // Streams first: the window must cover 256 KiB per stream when it is set.
        c.set_max_num_streams(MAX_STREAMS);
        c.set_max_connection_receive_window(Some(MAX_CONNECTION_RECEIVE_WINDOW));
        c.set_split_send_size(SPLIT_SEND_SIZE);
        Config(c)
    }
}

impl UpgradeInfo for Config {
    type Info = &'static str;
    type InfoIter = iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        iter::once("/yamux/1.0.0")
    }
}

impl<C> InboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = future::Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, io: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(Muxer::new(yamux::Connection::new(
            io,
            self.0,
            yamux::Mode::Server,
        ))))
    }
}

impl<C> OutboundConnectionUpgrade<C> for Config
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = future::Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, io: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(Muxer::new(yamux::Connection::new(
            io,
            self.0,
            yamux::Mode::Client,
        ))))
    }
}

/// One Yamux connection, as libp2p's [`StreamMuxer`].
#[derive(Debug)]
pub(crate) struct Muxer<C> {
    connection: yamux::Connection<C>,
    /// Inbound streams accepted while [`StreamMuxer::poll`] drove the connection, until
    /// [`StreamMuxer::poll_inbound`] takes them.
    inbound: VecDeque<Stream>,
    inbound_waker: Option<Waker>,
}

impl<C> Muxer<C> {
    fn new(connection: yamux::Connection<C>) -> Self {
        Muxer {
            connection,
            inbound: VecDeque::new(),
            inbound_waker: None,
        }
    }
}

impl<C> Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin + 'static,
{
    fn poll_next_inbound(&mut self, cx: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        let stream = ready!(self.connection.poll_next_inbound(cx))
            .ok_or(Error(yamux::ConnectionError::Closed))?
            .map_err(Error)?;
        Poll::Ready(Ok(Stream(stream)))
    }
}

impl<C> StreamMuxer for Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Substream = Stream;
    type Error = Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        if let Some(stream) = self.inbound.pop_front() {
            return Poll::Ready(Ok(stream));
        }
        if let Poll::Ready(res) = self.poll_next_inbound(cx) {
            return Poll::Ready(res);
        }
        self.inbound_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let stream = ready!(self.connection.poll_new_outbound(cx)).map_err(Error)?;
        Poll::Ready(Ok(Stream(stream)))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.connection.poll_close(cx).map_err(Error)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        let this = self.get_mut();
        let stream = ready!(this.poll_next_inbound(cx))?;
        if this.inbound.len() >= MAX_BUFFERED_INBOUND_STREAMS {
            tracing::warn!(stream = %stream.0, "dropping an inbound stream: buffer full");
            drop(stream);
        } else {
            this.inbound.push_back(stream);
            if let Some(waker) = this.inbound_waker.take() {
                waker.wake();
            }
        }
        // Let other work run before the connection is driven again.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// One Yamux stream.
#[derive(Debug)]
pub(crate) struct Stream(yamux::Stream);

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// A Yamux connection error, as libp2p's muxer error.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct Error(yamux::ConnectionError);

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err.0 {
            yamux::ConnectionError::Io(e) => e,
            e => io::Error::other(e),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Wire compatibility with libp2p-yamux's own muxer in both directions, and the frame size
    //! actually sent, read off the raw bytes (Yamux header: version, type, flags, stream id,
    //! length; 12 bytes, big-endian; type 0 = data, whose body follows).
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::{
        future::Future,
        sync::{Arc, Mutex},
    };

    use futures::{AsyncReadExt, AsyncWriteExt, future::poll_fn};
    use libp2p::core::muxing::StreamMuxerExt;
    use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

    use super::*;

    /// Bytes written through it are copied to `seen`.
    struct Tap {
        inner: Compat<tokio::io::DuplexStream>,
        seen: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncRead for Tap {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Tap {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
            self.seen.lock().unwrap().extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_close(cx)
        }
    }

    /// Runs `f` while driving the muxer `m` (a Yamux connection moves only when polled).
    async fn driving<M, F>(m: &mut M, f: F) -> F::Output
    where
        M: StreamMuxer + Unpin,
        M::Error: std::fmt::Debug,
        F: Future,
    {
        let mut f = std::pin::pin!(f);
        poll_fn(|cx| {
            if let Poll::Ready(out) = f.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            if let Poll::Ready(Err(e)) = m.poll_unpin(cx) {
                panic!("connection failed: {e:?}");
            }
            Poll::Pending
        })
        .await
    }

    /// Largest data frame body in a Yamux byte stream.
    fn largest_data_frame(bytes: &[u8]) -> usize {
        let (mut at, mut largest) = (0, 0);
        while at + 12 <= bytes.len() {
            let kind = bytes[at + 1];
            let len = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            at += 12;
            if kind == 0 {
                largest = largest.max(len);
                at += len;
            }
        }
        largest
    }

    /// Sends `data` on one stream from `writer`'s side of a connection to `reader`'s; returns
    /// what arrived and the largest data frame the writer sent.
    async fn send<W, R>(writer: W, reader: R, data: Vec<u8>) -> (Vec<u8>, usize)
    where
        W: OutboundConnectionUpgrade<Tap, Info = &'static str> + Send + 'static,
        W::Output: StreamMuxer + Unpin + Send,
        <W::Output as StreamMuxer>::Substream: Unpin + Send,
        <W::Output as StreamMuxer>::Error: std::fmt::Debug,
        W::Error: std::fmt::Debug,
        W::Future: Send,
        R: InboundConnectionUpgrade<Compat<tokio::io::DuplexStream>, Info = &'static str>,
        R::Output: StreamMuxer + Unpin,
        <R::Output as StreamMuxer>::Substream: Unpin,
        <R::Output as StreamMuxer>::Error: std::fmt::Debug,
        R::Error: std::fmt::Debug,
    {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tap = Tap {
            inner: a.compat(),
            seen: seen.clone(),
        };
        let writing = tokio::spawn(async move {
            let mut m = writer.upgrade_outbound(tap, "/yamux/1.0.0").await.unwrap();
            let mut s = poll_fn(|cx| m.poll_outbound_unpin(cx)).await.unwrap();
            driving(&mut m, async {
                s.write_all(&data).await.unwrap();
                s.close().await.unwrap();
            })
            .await;
            // Keep the connection moving until the reader is done and this task is aborted.
            driving(&mut m, futures::future::pending::<()>()).await;
        });
        let mut m = reader
            .upgrade_inbound(b.compat(), "/yamux/1.0.0")
            .await
            .unwrap();
        let mut s = poll_fn(|cx| m.poll_inbound_unpin(cx)).await.unwrap();
        let mut got = Vec::new();
        driving(&mut m, s.read_to_end(&mut got)).await.unwrap();
        writing.abort();
        let largest = largest_data_frame(&seen.lock().unwrap());
        (got, largest)
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_libp2p_yamux_peer_reads_our_large_frames() {
        let sent = data(3 * 1024 * 1024 + 17);
        let (got, largest) = send(
            Config::default(),
            libp2p::yamux::Config::default(),
            sent.clone(),
        )
        .await;
        assert!(
            got == sent,
            "the bytes arrived changed ({} of {})",
            got.len(),
            sent.len()
        );
        assert!(
            largest > 16 * 1024 && largest <= SPLIT_SEND_SIZE,
            "largest data frame {largest} bytes: expected over Yamux's default 16 KiB, at most {SPLIT_SEND_SIZE}"
        );
    }

    #[tokio::test]
    async fn we_read_a_libp2p_yamux_peer() {
        let sent = data(3 * 1024 * 1024 + 17);
        let (got, largest) = send(
            libp2p::yamux::Config::default(),
            Config::default(),
            sent.clone(),
        )
        .await;
        assert!(
            got == sent,
            "the bytes arrived changed ({} of {})",
            got.len(),
            sent.len()
        );
        assert_eq!(largest, 16 * 1024, "libp2p-yamux's frames are 16 KiB");
    }
}
