//! The experiments Linux users run to learn TCP, as C programs on libnet,
//! with the kernel as the peer and tcpdump on netd's TUN device as the
//! witness (needs root; each test makes and removes its own namespace).

mod support;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use support::*;

/// (from_netd, flags) per segment of a capture, in order.
fn segments(cap: Capture, ns: &Netns) -> Vec<(bool, String)> {
    cap.lines(ns)
        .iter()
        .filter_map(|l| {
            let flags = l.split("Flags [").nth(1)?.split(']').next()?.to_string();
            Some((from_netd(l), flags))
        })
        .collect()
}

struct Prog {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn experiment(ns: &Netns, mode: &str, port: u16) -> Prog {
    let exe = compile_c("experiments", &ns.dir);
    let mut child = ns
        .libnet_program(&exe, &[mode, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Prog {
        child,
        stdin,
        stdout,
    }
}

impl Prog {
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.stdout.read_line(&mut s).unwrap();
        s.trim().to_string()
    }
    fn finish(mut self) -> String {
        let _ = self.stdin.write_all(b"\n");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        assert!(self.child.wait().unwrap().success());
        rest.trim().to_string()
    }
}

fn kernel(ns: &Netns, script: &str) -> String {
    let out = ns.exec(&["python3", "-c", script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn connect_to_a_bound_but_not_listening_port_is_refused_with_rst_on_the_wire() {
    let ns = Netns::new("bound");
    let _netd = Netd::start(&ns, &[]);
    let mut prog = experiment(&ns, "bound", 7200);
    assert_eq!(prog.line(), "ready");
    let cap = capture(&ns, 7200);
    let got = kernel(
        &ns,
        "import socket\ntry:\n socket.create_connection(('10.77.0.2', 7200), timeout=5)\n print('connected')\nexcept ConnectionRefusedError:\n print('refused')",
    );
    assert_eq!(got, "refused");
    let segs = segments(cap, &ns);
    assert_eq!(
        segs,
        vec![(false, "S".to_string()), (true, "R.".to_string())]
    );
    prog.finish();
}

#[test]
fn self_connect_echoes_its_own_data() {
    let ns = Netns::new("self");
    let _netd = Netd::start(&ns, &[]);
    let prog = experiment(&ns, "selfconn", 5555);
    assert_eq!(prog.finish(), "got: hello, me");
}

#[test]
fn a_server_that_never_accepts_still_acks_the_clients_data() {
    let ns = Netns::new("noaccept");
    let _netd = Netd::start(&ns, &[]);
    let mut prog = experiment(&ns, "noaccept", 7300);
    assert_eq!(prog.line(), "ready");
    // The kernel's send queue (SIOCOUTQ) drains: every byte was ACKed, no accept() yet.
    let got = kernel(
        &ns,
        "import socket, fcntl, struct, termios, time\ns = socket.create_connection(('10.77.0.2', 7300), timeout=5)\ns.sendall(b'x' * 1000)\nfor _ in range(100):\n q = struct.unpack('i', fcntl.ioctl(s, termios.TIOCOUTQ, b'\\0' * 4))[0]\n if q == 0:\n  break\n time.sleep(0.05)\nprint('acked' if q == 0 else 'unacked %d' % q)\ns.close()",
    );
    assert_eq!(got, "acked");
    let out = prog.finish();
    assert_eq!(out, format!("read after accept: {}", "x".repeat(1000)));
}

const SEND_THEN_READ: &str = "import socket\ns = socket.create_connection(('10.77.0.2', PORT), timeout=5)\ns.sendall(b'data for the server')\ntry:\n while s.recv(100):\n  pass\n print('eof')\nexcept ConnectionResetError:\n print('reset')";

#[test]
fn close_with_unread_data_resets_while_shutdown_closes_cleanly() {
    let ns = Netns::new("closes");
    let _netd = Netd::start(&ns, &[]);
    let mut prog = experiment(&ns, "close", 7400);
    assert_eq!(prog.line(), "ready");
    let cap = capture(&ns, 7400);
    assert_eq!(
        kernel(&ns, &SEND_THEN_READ.replace("PORT", "7400")),
        "reset"
    );
    let segs = segments(cap, &ns);
    assert!(segs.contains(&(true, "R.".to_string())), "{segs:?}");
    assert!(
        !segs.iter().any(|(n, f)| *n && f.contains('F')),
        "no FIN from netd: {segs:?}"
    );
    prog.finish();

    let mut prog = experiment(&ns, "shutdown", 7401);
    assert_eq!(prog.line(), "ready");
    let cap = capture(&ns, 7401);
    assert_eq!(kernel(&ns, &SEND_THEN_READ.replace("PORT", "7401")), "eof");
    let segs = segments(cap, &ns);
    assert!(segs.iter().any(|(n, f)| *n && f == "F."), "{segs:?}");
    assert!(
        !segs.iter().any(|(_, f)| f.contains('R')),
        "no RST: {segs:?}"
    );
    prog.finish();
}

/// The kernel sends a request and closes at once; count the segments from its FIN on.
fn passive_close(mode: &str, port: u16) -> Vec<(bool, String)> {
    let ns = Netns::new(mode);
    let _netd = Netd::start(&ns, &[]);
    let mut prog = experiment(&ns, mode, port);
    assert_eq!(prog.line(), "ready");
    let cap = capture(&ns, port);
    kernel(
        &ns,
        &format!("import socket, time\ns = socket.create_connection(('10.77.0.2', {port}), timeout=5)\ns.sendall(b'request')\ntime.sleep(0.3)\ns.close()\ntime.sleep(0.5)"),
    );
    let segs = segments(cap, &ns);
    prog.finish();
    let first_fin = segs
        .iter()
        .position(|(n, f)| !n && f.contains('F'))
        .expect("kernel FIN");
    segs[first_fin..].to_vec()
}

#[test]
fn passive_closer_merges_its_ack_with_its_fin() {
    // The merge needs the program to close within the delayed-ACK timeout
    // (40 ms here, as in Linux). On a loaded machine it may miss it once, which
    // is correct TCP too (four segments), so: only those two shapes are
    // allowed, and the merge must be seen in one of three runs.
    let mut seen = Vec::new();
    for attempt in 0..3 {
        let segs = passive_close("eofclose", 7500 + attempt);
        let flags: Vec<String> = segs.iter().map(|(_, f)| f.clone()).collect();
        assert!(
            flags == ["F.", "F.", "."] || flags == ["F.", ".", "F.", "."],
            "an impossible close sequence: {segs:?}"
        );
        if flags.len() == 3 {
            return;
        }
        seen.push(flags);
    }
    panic!("the ACK never rode on the FIN: {seen:?}");
}

#[test]
fn passive_closer_with_tcp_quickack_sends_ack_and_fin_apart() {
    let segs = passive_close("quickack", 7510);
    let flags: Vec<&str> = segs.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(flags, ["F.", ".", "F.", "."], "four segments: {segs:?}");
}
