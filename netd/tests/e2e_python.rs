//! The Python module's pytest suite, inside a namespace with netd and the
//! kernel as the peer (needs root and pytest; .ci/run installs pytest).

mod support;
use support::*;

#[test]
fn python_module_pytest_suite_passes_against_the_kernel() {
    let ns = Netns::new("pytest");
    let _netd = Netd::start(&ns, &[]);
    let tests = workspace_root().join("python/tests");
    let out = ns
        .libnet_python(&[
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            tests.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pytest:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("16 passed"), "{stdout}");
}

/// The program holds a reset connection, then exits without closing it:
/// netd must free the socket, as Linux does with the last file reference.
const RESET_THEN_EXIT: &str = r#"
import os, socket, struct, sys
import libnet
k = socket.socket()
k.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
k.bind(("10.77.0.1", 20999))
k.listen(1)
s = libnet.socket()
s.settimeout(10)
s.connect(("10.77.0.1", 20999))
c, _ = k.accept()
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
try:
    s.recv(10)
    print("no reset", flush=True)
except ConnectionResetError:
    print("reset", flush=True)
sys.stdin.readline()
os._exit(0)
"#;

#[test]
fn a_program_that_exits_without_closing_a_reset_socket_has_it_freed() {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let ns = Netns::new("pyreap");
    let mut netd = Netd::start(&ns, &[]);
    let (mut prog, _prog_out) = spawn_until(
        ns.libnet_python(&["-c", RESET_THEN_EXIT])
            .stdin(Stdio::piped()),
        "reset",
    );
    // Poke netd with netctl so its loop runs; STATUS= (at most once a second)
    // counts the libnet sockets it holds.
    let mut status_shows = |needle: &str| {
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            let _ = std::process::Command::new(netctl())
                .args(["ss", "-tan"])
                .env("NETD_SOCKET", ns.dir.join("netd.sock"))
                .output();
            if netd.wait_notify(needle, Duration::from_millis(300)) {
                return true;
            }
        }
        false
    };
    assert!(
        status_shows(", 1 libnet sockets"),
        "the reset socket is held while the program lives"
    );
    let _ = prog.stdin.take().unwrap().write_all(b"exit\n");
    let _ = prog.wait();
    assert!(
        status_shows(", 0 libnet sockets"),
        "netd kept the socket of a program that exited"
    );
}
