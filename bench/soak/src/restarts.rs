//! The Redis restarts, as scripts/soak.sh logs them: a line `down MS` when it stops Redis and
//! `up MS` once the new one answers (Unix milliseconds).

use std::path::Path;

/// One restart: Redis went down, and came back (if it did before the end).
#[derive(Clone, Copy, Debug)]
pub struct Restart {
    pub down_ms: u64,
    pub up_ms: Option<u64>,
}

pub fn read(path: &Path) -> Vec<Restart> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut out: Vec<Restart> = Vec::new();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("down", ms)) => {
                if let Ok(down_ms) = ms.trim().parse() {
                    out.push(Restart {
                        down_ms,
                        up_ms: None,
                    });
                }
            }
            Some(("up", ms)) => {
                if let (Some(last), Ok(up)) = (out.last_mut(), ms.trim().parse()) {
                    last.up_ms.get_or_insert(up);
                }
            }
            _ => {}
        }
    }
    out
}

/// The restart nearest to `ms` and how far `ms` is from its going down (negative: before).
pub fn nearest(restarts: &[Restart], ms: u64) -> Option<(Restart, i64)> {
    restarts
        .iter()
        .map(|r| (*r, ms as i64 - r.down_ms as i64))
        .min_by_key(|(_, d)| d.unsigned_abs())
}
