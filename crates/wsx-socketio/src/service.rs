//! Mount points: `SocketIo` as a hyper service and a tower service, and [`SocketIoLayer`],
//! which answers the Socket.IO path in front of another service (an axum `Router`).
//!
//! ```no_run
//! # #[cfg(feature = "tower")]
//! # fn f(router: axum::Router) -> axum::Router {
//! let io = wsx_socketio::SocketIo::new(Default::default());
//! router.layer(wsx_socketio::SocketIoLayer::new(io))
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use http::{Request, Response};

use crate::engine::Body;
use crate::socket_io::SocketIo;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl hyper::service::Service<Request<hyper::body::Incoming>> for SocketIo {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        let io = self.clone();
        Box::pin(async move { Ok(io.handle(req).await) })
    }
}

#[cfg(feature = "tower")]
mod tower {
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body_util::Either;

    use super::*;

    impl<B> tower_service::Service<Request<B>> for SocketIo
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Response<Body>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<B>) -> Self::Future {
            let io = self.clone();
            Box::pin(async move { Ok(io.handle(req).await) })
        }
    }

    /// A tower layer that answers requests for the Socket.IO path and passes the others on.
    #[derive(Debug, Clone)]
    pub struct SocketIoLayer {
        io: SocketIo,
    }

    impl SocketIoLayer {
        /// A layer serving `io`.
        pub fn new(io: SocketIo) -> Self {
            SocketIoLayer { io }
        }
    }

    impl<S> tower_layer::Layer<S> for SocketIoLayer {
        type Service = SocketIoService<S>;

        fn layer(&self, inner: S) -> Self::Service {
            SocketIoService {
                io: self.io.clone(),
                inner,
            }
        }
    }

    /// The service [`SocketIoLayer`] makes.
    #[derive(Debug, Clone)]
    pub struct SocketIoService<S> {
        io: SocketIo,
        inner: S,
    }

    impl<S, B, ResBody> tower_service::Service<Request<B>> for SocketIoService<S>
    where
        S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        type Response = Response<Either<Body, ResBody>>;
        type Error = S::Error;
        type Future = BoxFuture<Result<Self::Response, S::Error>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, req: Request<B>) -> Self::Future {
            if self.io.engine().matches_path(req.uri().path()) {
                let io = self.io.clone();
                Box::pin(async move { Ok(io.handle(req).await.map(Either::Left)) })
            } else {
                let fut = self.inner.call(req);
                Box::pin(async move { fut.await.map(|r| r.map(Either::Right)) })
            }
        }
    }
}

#[cfg(feature = "tower")]
pub use tower::{SocketIoLayer, SocketIoService};
