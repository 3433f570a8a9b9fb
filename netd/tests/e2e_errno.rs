//! The same random sequences of socket calls on kernel sockets and on
//! libnet sockets, compared call by call: return values and errno must be
//! the ones Linux gives (`tests/c/errno_diff.c`; needs root, its own network
//! namespace; traffic goes only between the namespace's kernel and netd).

mod support;
use support::*;

#[test]
fn libnet_calls_return_what_the_kernel_returns() {
    let ns = Netns::new("errno");
    let _netd = Netd::start(&ns, &[]);
    let exe = compile_c("errno_diff", &ns.dir);
    // Fixed seeds, so a failure replays exactly: errno_diff SEED CASES PORT_BASE.
    // Each run has ports of its own (below the ephemeral range), so no
    // TIME-WAIT left by one run meets the next.
    for (seed, base) in [(1u64, 20000u16), (7, 22000), (42, 24000)] {
        let out = ns
            .libnet_program(&exe, &[&seed.to_string(), "300", &base.to_string()])
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
