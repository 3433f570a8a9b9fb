//! The same random sequences of socket calls on kernel sockets and on
//! libnet sockets, compared call by call: return values and errno must be
//! the ones Linux gives (`tests/c/errno_diff.c`; needs root, its own network
//! namespace; traffic goes only between the namespace's kernel and netd).

mod support;
use support::*;

/// Run errno_diff (`mode` "calls", "data" or "udp") for three fixed seeds, so a
/// failure replays exactly. Each run has ports of its own (below the
/// ephemeral range), so no TIME-WAIT left by one run meets the next.
fn compare(tag: &str, mode: &str) {
    let ns = Netns::new(tag);
    let _netd = Netd::start(&ns, &[]);
    let exe = compile_c("errno_diff", &ns.dir);
    for (seed, base) in [(1u64, 20000u16), (7, 22000), (42, 24000)] {
        let (seed, base) = (seed.to_string(), base.to_string());
        let mut args = vec![seed.as_str(), "300", base.as_str()];
        if mode != "calls" {
            args.insert(0, mode);
        }
        let out = ns
            .libnet_program(&exe, &args)
            .output()
            .expect("run errno_diff");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "seed {seed}: libnet and the kernel disagree ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(" 0 mismatches"), "{stdout}");
    }
}

/// What netd reproduces where kernels differ, checked on this kernel's own
/// sockets first, so that a new kernel fails here by name: Linux 6.18
/// (measured on 6.18.44) refuses listen() with EINVAL on a TCP socket that
/// has held a connection, even a refused one; earlier kernels allowed it.
/// `libnet_calls_return_what_the_kernel_returns` meets this in seed 1.
#[test]
fn the_kernel_refuses_listen_on_a_socket_that_held_a_connection() {
    let ns = Netns::new("errnokern");
    let _netd = Netd::start(&ns, &[]);
    let exe = compile_c("errno_diff", &ns.dir);
    let out = ns
        .command(&[exe.to_str().expect("utf-8 path"), "kernel", "26000"])
        .output()
        .expect("run errno_diff kernel");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    assert!(
        out.status.success(),
        "kernel {}: {}{}",
        release.trim(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn libnet_calls_return_what_the_kernel_returns() {
    compare("errno", "calls");
}

/// Sends, receives, shutdowns and SO_ERROR on a connection whose peer (the
/// other stack) sends, half-closes, closes and resets.
#[test]
fn libnet_data_calls_return_what_the_kernel_returns() {
    compare("errnodata", "data");
}

/// sendto, send, recv (MSG_PEEK, MSG_TRUNC), connect and AF_UNSPEC, bind
/// and SO_ERROR on a UDP socket whose peer on the other stack sends too,
/// with datagrams from empty to larger than one IP packet.
#[test]
fn libnet_udp_calls_return_what_the_kernel_returns() {
    compare("errnoudp", "udp");
}
