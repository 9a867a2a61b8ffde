//! What the operating system knows about the driver and the server: CPU time (getrusage,
//! /proc/PID/stat, /proc/PID/task/*/schedstat), resident memory (/proc/PID/status) and the
//! open-file limit.

use std::time::Duration;

/// The driver's own CPU time, user + system, all threads.
pub fn self_cpu() -> Duration {
    // SAFETY: `rusage` is plain old data, so all zeroes is a valid value, and getrusage only
    // writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to a rusage struct.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Raises the soft limit on open files to the hard limit; returns the soft limit in force.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit struct that getrlimit fills.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: a valid pointer to an rlimit struct that setrlimit only reads.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    lim.rlim_cur
}

/// The local ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`).
pub fn ephemeral_ports() -> Option<(u32, u32)> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|x| x.parse::<u32>().ok());
    Some((it.next()??, it.next()??))
}

/// A snapshot of another process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proc {
    /// utime + stime from /proc/PID/stat (clock-tick resolution, every thread ever).
    pub cpu_ticks: Duration,
    /// Sum of /proc/PID/task/*/schedstat run times (nanosecond resolution, live threads);
    /// `None` where the kernel does not keep it.
    pub cpu_sched: Option<Duration>,
    /// VmRSS, KiB.
    pub rss_kb: u64,
    /// VmHWM (peak RSS), KiB.
    pub hwm_kb: u64,
}

impl Proc {
    /// Reads the snapshot; `None` if the process is gone.
    pub fn read(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name start at field 3 (state).
        let rest = &stat[stat.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = f.get(11)?.parse().ok()?;
        let stime: u64 = f.get(12)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let cpu_ticks = Duration::from_nanos((utime + stime) * 1_000_000_000 / tck);

        let mut sched = Duration::ZERO;
        let mut have_sched = false;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) else {
                    continue;
                };
                if let Some(ns) = s.split_whitespace().next().and_then(|x| x.parse().ok()) {
                    sched += Duration::from_nanos(ns);
                    have_sched = true;
                }
            }
        }
        // A kernel without schedstats reports zeros: fall back to the ticks then.
        let cpu_sched = (have_sched && !sched.is_zero()).then_some(sched);

        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Some(Proc {
            cpu_ticks,
            cpu_sched,
            rss_kb: kb("VmRSS:"),
            hwm_kb: kb("VmHWM:"),
        })
    }
}

/// CPU time between two snapshots, from the same source in both.
pub fn cpu_between(a: &Proc, b: &Proc) -> Duration {
    match (a.cpu_sched, b.cpu_sched) {
        (Some(x), Some(y)) if y >= x => y - x,
        _ => b.cpu_ticks.saturating_sub(a.cpu_ticks),
    }
}
