//! The memory budget of `wsx serve`: `--memory-budget`, or by default half of the memory this
//! process may use (the machine's, or its cgroup's limit when that is lower).

/// The budget when none is given: half of the memory available to the process, 256 MiB if
/// it cannot be read.
pub fn default_budget() -> usize {
    let total = [meminfo_total(), cgroup_limit()]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(512 << 20);
    total / 2
}

/// `MemTotal` from /proc/meminfo, in bytes.
fn meminfo_total() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The cgroup v2 memory limit (`memory.max`), when there is one.
fn cgroup_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_is_half_of_what_the_machine_has() {
        let b = super::default_budget();
        let total = super::meminfo_total().expect("/proc/meminfo on Linux");
        assert!(b > 0 && b <= total / 2, "{b} of {total}");
    }
}
