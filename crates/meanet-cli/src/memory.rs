//! This process's resident memory, as Linux reports it in `/proc/self`: the peak (`VmHWM`), and
//! starting a new peak. Elsewhere there is no figure, and the callers say so.

/// The peak resident memory (`VmHWM`) of this process since it started or since the last
/// [`reset_peak`], in bytes; `None` where `/proc/self/status` does not report it.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmHWM:").map(|kib| kib.saturating_mul(1024))
}

/// Starts a new peak: the next [`peak_rss`] reports the peak from now on (Linux 4.0 and later,
/// `echo 5 > /proc/self/clear_refs`). Returns whether the kernel took it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The value in KiB of the `/proc/PID/status` line that starts with `key`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_line_and_refuses_what_is_not_one() {
        let status = "Name:\tmeanet\nVmPeak:\t  900 kB\nVmHWM:\t  51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(51_200));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(status_kib("VmHWM:\tlots kB\n", "VmHWM:"), None);
    }

    #[test]
    fn the_peak_covers_what_was_touched_after_a_reset() {
        let Some(before) = peak_rss() else {
            return; // not Linux: no figure to check
        };
        assert!(before > 0);
        // 64 MiB touched page by page must show in the peak, reset or not.
        let block = vec![1u8; 64 << 20];
        let after = peak_rss().unwrap_or(0);
        assert!(after >= 64 << 20, "peak {after} after touching 64 MiB");
        drop(block);
    }
}
