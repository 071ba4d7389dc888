//! CPU time and memory of processes, read from Linux's /proc.
//!
//! The benchmark reports which side limits a run, so it samples its own CPU time (and the
//! server's, given its pid) at the start and end of the sending phase. On systems without
//! /proc the figures are simply absent (zero).

use std::time::Instant;

/// /proc/PID/stat counts CPU time in USER_HZ ticks, which Linux fixes at 100 for user space.
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU seconds of `pid` (`None`: this process).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    stat_cpu_seconds(&path)
}

/// User + system CPU seconds of the calling thread alone.
pub fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' do not.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Peak resident set size of this process in octets (VmHWM).
pub fn peak_rss_bytes() -> u64 {
    status_kib(None, "VmHWM:").unwrap_or(0) * 1024
}

/// A `kB` field of /proc/PID/status (`VmRSS:`, `VmHWM:`), in KiB.
pub fn status_kib(pid: Option<u32>, key: &str) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU use of one process over an interval.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: Option<u32>,
    cpu0: Option<f64>,
    t0: Instant,
}

impl CpuMeter {
    /// Starts measuring `pid` (`None`: this process).
    pub fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            cpu0: cpu_seconds(pid),
            t0: Instant::now(),
        }
    }

    /// CPU seconds per wall second since [`CpuMeter::start`] (1.0 = one core busy).
    pub fn cores(&self) -> Option<f64> {
        let wall = self.t0.elapsed().as_secs_f64();
        let used = cpu_seconds(self.pid)? - self.cpu0?;
        (wall > 0.0).then(|| used / wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_memory() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let m = CpuMeter::start(None);
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(m.cores().is_some());
        assert!(peak_rss_bytes() > 0);
    }
}
