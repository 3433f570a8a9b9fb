//! Output formatting shared by netctl's subcommands, written to match
//! iproute2 and net-tools byte for byte.

/// Format a timer's remaining time as `ss -o` does (`print_ms_timer()` in
/// iproute2's misc/ss.c): minutes drop the seconds above 9 minutes, seconds
/// above 9 drop the milliseconds, and a bare millisecond count is `%03dms`.
pub fn ss_timer(ms: u64) -> String {
    let mut out = String::new();
    let mut rest = ms;
    let secs = rest / 1000;
    let minutes = secs / 60;
    let s = secs % 60;
    rest %= 1000;
    if minutes > 0 {
        out.push_str(&format!("{minutes}min"));
        if minutes > 9 {
            return out;
        }
    }
    if s > 0 || (minutes == 0 && secs > 0) {
        out.push_str(&format!("{s}"));
        if s > 9 || rest == 0 {
            out.push_str("sec");
            return out;
        }
        out.push('.');
    } else if minutes > 0 {
        return out;
    }
    if rest > 0 || !out.is_empty() {
        out.push_str(&format!("{rest:03}ms"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ss_timer;

    #[test]
    fn ss_timer_matches_captured_ss_output() {
        // Values and renderings from ss-netstat.md §2.4.
        assert_eq!(ss_timer(6276), "6.276ms");
        assert_eq!(ss_timer(57_000), "57sec");
        assert_eq!(ss_timer(591_000), "9min51sec");
        assert_eq!(ss_timer(600_000), "10min");
        assert_eq!(ss_timer(200), "200ms");
        assert_eq!(ss_timer(10_500), "10sec");
        assert_eq!(ss_timer(0), "");
    }
}
