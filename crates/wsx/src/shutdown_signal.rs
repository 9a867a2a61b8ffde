//! Waiting for a server's shutdown signal (a `watch` channel its `ShutdownHandle`s send on),
//! shared by the accept loop and the HTTP/2 connections.

use tokio::sync::watch;

/// Returns once shutdown is asked for; never if every handle is gone without asking.
pub(crate) async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            // Every handle is gone: no shutdown can come any more.
            std::future::pending::<()>().await;
        }
    }
}
