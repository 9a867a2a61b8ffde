//! The driver's command line (scripts/soak.sh writes it; `soak --help` shows it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
soak: drives two `wsx serve --redis` processes for a while and checks what they deliver
(scripts/soak.sh starts Redis, the servers and this driver; see bench/soak/README.md).

usage: soak --server A=ADDR,PID --server B=ADDR,PID [options]
  --server NAME=ADDR,PID  a wsx serve process: where it listens and its PID (twice)
  --duration D         how long the load runs (default 2m)
  --warmup D           RSS and fds are compared from the end of the warm-up (default 1m,
                       at most a third of the duration)
  --grace D            how long deliveries may still come after the load stops (default 15s)
  --t0 MS              Unix ms the run counts from (the script's start)
  --restarts FILE      the script's log of Redis restarts (lines `down MS`, `up MS`)
  --only KINDS         comma-separated subset of echo,broadcast,socketio,yjs
  --echo-conns N       echo connections (default 10)
  --echo-rate R        echo messages per second in all (default 500)
  --subscribers N      chat subscribers of the broadcast room (default 1000)
  --bcast-rate R       chat messages per second of the publisher (default 20)
  --sio-clients N      Socket.IO clients (default 20)
  --sio-rate R         chat messages per second of each Socket.IO client (default 1)
  --sio-churn LO-HI    seconds a Socket.IO client stays connected (default 15-45)
  --node-script FILE   the Socket.IO driver (bench/soak/sio-soak.cjs)
  --yjs-editors N      y-websocket editors (default 4)
  --yjs-rate R         edits per second of each editor (default 5)
  --yjs-round D        editing time per document before its convergence check (default 1m)
  -o FILE              also write the summary as JSON lines to FILE
";

/// One `wsx serve` process.
#[derive(Clone, Debug)]
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    pub pid: u32,
}

#[derive(Debug)]
pub struct Args {
    pub servers: Vec<Server>,
    pub duration: Duration,
    pub warmup: Duration,
    pub grace: Duration,
    pub t0: Option<u64>,
    pub restarts: Option<PathBuf>,
    pub kinds: Vec<String>,
    pub echo_conns: usize,
    pub echo_rate: f64,
    pub subscribers: usize,
    pub bcast_rate: f64,
    pub sio_clients: usize,
    pub sio_rate: f64,
    pub sio_churn: (f64, f64),
    pub node_script: Option<PathBuf>,
    pub yjs_editors: usize,
    pub yjs_rate: f64,
    pub yjs_round: Duration,
    pub out: Option<PathBuf>,
}

/// `90`, `90s`, `2m`, `1h`, `500ms`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a duration: {s} (e.g. 30m, 90s, 500ms)");
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn server(s: &str) -> Result<Server, String> {
    let bad = || format!("--server wants NAME=ADDR,PID, not {s}");
    let (name, rest) = s.split_once('=').ok_or_else(bad)?;
    let (addr, pid) = rest.split_once(',').ok_or_else(bad)?;
    Ok(Server {
        name: name.to_owned(),
        addr: addr.parse().map_err(|_| bad())?,
        pid: pid.parse().map_err(|_| bad())?,
    })
}

impl Args {
    pub fn parse() -> Result<Args, String> {
        let mut a = Args {
            servers: Vec::new(),
            duration: Duration::from_secs(120),
            warmup: Duration::from_secs(60),
            grace: Duration::from_secs(15),
            t0: None,
            restarts: None,
            kinds: ["echo", "broadcast", "socketio", "yjs"]
                .map(String::from)
                .into(),
            echo_conns: 10,
            echo_rate: 500.0,
            subscribers: 1000,
            bcast_rate: 20.0,
            sio_clients: 20,
            sio_rate: 1.0,
            sio_churn: (15.0, 45.0),
            node_script: None,
            yjs_editors: 4,
            yjs_rate: 5.0,
            yjs_round: Duration::from_secs(60),
            out: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.into());
            }
            let v = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value (try --help)"))?;
            let num = |v: &str| -> Result<f64, String> {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| *x >= 0.0)
                    .ok_or_else(|| format!("{flag}: not a number: {v}"))
            };
            match flag.as_str() {
                "--server" => a.servers.push(server(&v)?),
                "--duration" => a.duration = duration(&v)?,
                "--warmup" => a.warmup = duration(&v)?,
                "--grace" => a.grace = duration(&v)?,
                "--t0" => a.t0 = Some(num(&v)? as u64),
                "--restarts" => a.restarts = Some(v.into()),
                "--only" => a.kinds = v.split(',').map(String::from).collect(),
                "--echo-conns" => a.echo_conns = num(&v)? as usize,
                "--echo-rate" => a.echo_rate = num(&v)?,
                "--subscribers" => a.subscribers = num(&v)? as usize,
                "--bcast-rate" => a.bcast_rate = num(&v)?,
                "--sio-clients" => a.sio_clients = num(&v)? as usize,
                "--sio-rate" => a.sio_rate = num(&v)?,
                "--sio-churn" => {
                    let (lo, hi) = v
                        .split_once('-')
                        .ok_or_else(|| format!("--sio-churn wants LO-HI seconds, not {v}"))?;
                    a.sio_churn = (num(lo)?, num(hi)?.max(num(lo)?));
                }
                "--node-script" => a.node_script = Some(v.into()),
                "--yjs-editors" => a.yjs_editors = num(&v)? as usize,
                "--yjs-rate" => a.yjs_rate = num(&v)?,
                "--yjs-round" => a.yjs_round = duration(&v)?,
                "-o" => a.out = Some(v.into()),
                _ => return Err(format!("unknown option {flag} (try --help)")),
            }
        }
        if a.servers.len() != 2 {
            return Err("give two --server NAME=ADDR,PID (try --help)".into());
        }
        for k in &a.kinds {
            if !["echo", "broadcast", "socketio", "yjs"].contains(&k.as_str()) {
                return Err(format!("--only: unknown kind {k}"));
            }
        }
        if a.kinds.iter().any(|k| k == "socketio") && a.node_script.is_none() {
            return Err("the socketio kind needs --node-script".into());
        }
        a.warmup = a.warmup.min(a.duration / 3);
        Ok(a)
    }

    pub fn runs(&self, kind: &str) -> bool {
        self.kinds.iter().any(|k| k == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(duration("5 min").is_err());
    }
}
