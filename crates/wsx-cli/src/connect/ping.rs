//! `--ping-interval` and `--ping-timeout`: a ping on a schedule (numbered, so that `-P` shows
//! which pong answers which), and the connection dropped when pings go unanswered.
//!
//! The pinger does not read the connection: the reader tells it of each pong
//! ([`Liveness::pong`]), and asks it, when the connection fails, whether it was the one that
//! dropped it ([`Liveness::timed_out`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;
use wsx::Message;

/// When to ping and how long to wait for a pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// A ping this often (never zero).
    pub(crate) every: Duration,
    /// Drop the connection when this long passes after a ping with no pong arriving
    /// (`None`: never).
    pub(crate) timeout: Option<Duration>,
}

/// What the reader and the pinger of one connection share.
pub(crate) struct Liveness {
    /// Bumped at each pong.
    pongs: watch::Sender<u64>,
    /// The timeout, once the pinger dropped the connection for want of a pong.
    timed_out: OnceLock<Duration>,
}

impl Liveness {
    /// A pong arrived: the pings sent so far are answered.
    pub(crate) fn pong(&self) {
        self.pongs.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The `--ping-timeout` that ran out, if the connection was dropped for it.
    pub(crate) fn timed_out(&self) -> Option<Duration> {
        self.timed_out.get().copied()
    }
}

/// Starts pinging over `sender` until the connection is gone.
pub(crate) fn start(sender: wsx::Sender, schedule: Schedule) -> Arc<Liveness> {
    let live = Arc::new(Liveness {
        pongs: watch::Sender::new(0),
        timed_out: OnceLock::new(),
    });
    let task = live.clone();
    tokio::spawn(async move { run(&sender, schedule, &task).await });
    live
}

async fn run(sender: &wsx::Sender, schedule: Schedule, live: &Liveness) {
    let Schedule { every, timeout } = schedule;
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    let mut pongs = live.pongs.subscribe();
    // When the first ping sent since the last pong runs out of time.
    let mut deadline: Option<Instant> = None;
    let mut n = 0u64;
    loop {
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick() => {
                if sender.is_closed() {
                    return;
                }
                n += 1;
                let _ = sender.send(Message::Ping(Bytes::from(n.to_string())));
                if let Some(t) = timeout {
                    deadline.get_or_insert(Instant::now() + t);
                }
            }
            changed = pongs.changed() => {
                if changed.is_err() {
                    return;
                }
                deadline = None;
            }
            () = expiry => {
                // During our closing handshake the close timeout is the judge.
                if !sender.is_closed() {
                    if let Some(t) = timeout {
                        let _ = live.timed_out.set(t);
                    }
                    sender.terminate();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair over loopback TCP: the client's sender and the server's end.
    async fn pair(
        auto_pong: bool,
    ) -> (
        wsx::WebSocket<wsx::MaybeTlsStream>,
        wsx::WebSocket<tokio::net::TcpStream>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut opts = wsx::Options::default();
            opts.config = wsx::Config::default().auto_pong(auto_pong);
            wsx::Acceptor::new()
                .options(opts)
                .accept(tcp, None)
                .await
                .unwrap()
                .0
        });
        let (client, _) = wsx::ClientBuilder::new(format!("ws://{addr}/"))
            .connect()
            .await
            .unwrap();
        (client, server.await.unwrap())
    }

    #[tokio::test]
    async fn unanswered_pings_drop_the_connection() {
        let (mut client, mut server) = pair(false).await;
        let schedule = Schedule {
            every: Duration::from_millis(20),
            timeout: Some(Duration::from_millis(60)),
        };
        let live = start(client.sender(), schedule);
        // The server sees the pings (numbered) but does not answer them.
        let first = server.recv().await.unwrap().unwrap();
        assert_eq!(first, Message::Ping(Bytes::from_static(b"1")));
        let end = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match client.recv().await {
                    Some(Ok(_)) => {}
                    other => return other,
                }
            }
        })
        .await
        .unwrap();
        assert!(
            matches!(end, Some(Err(wsx::Error::Terminated(_)))),
            "{end:?}"
        );
        assert_eq!(live.timed_out(), Some(Duration::from_millis(60)));
    }

    #[tokio::test]
    async fn pongs_keep_the_connection() {
        let (mut client, mut server) = pair(true).await;
        let schedule = Schedule {
            every: Duration::from_millis(20),
            timeout: Some(Duration::from_millis(60)),
        };
        let live = start(client.sender(), schedule);
        tokio::spawn(async move { while server.recv().await.is_some() {} });
        // Well past the timeout: ten pongs, each reported as the reader would.
        let mut pongs = 0;
        while pongs < 10 {
            match client.recv().await {
                Some(Ok(Message::Pong(_))) => {
                    live.pong();
                    pongs += 1;
                }
                Some(Ok(_)) => {}
                other => panic!("the connection ended: {other:?}"),
            }
        }
        assert_eq!(live.timed_out(), None);
    }
}
