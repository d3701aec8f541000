//! The `/casemesh/control/1` codec for libp2p request-response: one length-prefixed
//! [`ControlRequest`] per substream, answered by one length-prefixed [`ControlResponse`].
//! Sizes are capped here, so an oversize message from a peer is an I/O error on that substream
//! (the peer sees its request fail), never an allocation or a crash.

use std::io;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};

use crate::wire::{
    ControlRequest, ControlResponse, MAX_CONTROL_REQUEST, MAX_CONTROL_RESPONSE, read_frame,
    write_frame,
};

/// Codec for the control protocol.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ControlCodec;

impl request_response::Codec for ControlCodec {
    type Protocol = StreamProtocol;
    type Request = ControlRequest;
    type Response = ControlResponse;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_CONTROL_REQUEST).await?;
        ControlRequest::decode(&body)
    }

    async fn read_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> io::Result<Self::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_CONTROL_RESPONSE).await?;
        ControlResponse::decode(&body)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Self::Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let body = req.encode()?;
        write_frame(io, &body, MAX_CONTROL_REQUEST).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Self::Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let body = res.encode();
        write_frame(io, &body, MAX_CONTROL_RESPONSE).await?;
        io.close().await
    }
}
