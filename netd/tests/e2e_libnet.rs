//! libnet programs talking TCP to the Linux kernel through netd (needs root;
//! each test makes and removes its own namespace).

mod support;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use support::*;

/// A kernel-side Python peer (the kernel's own sockets).
fn python(ns: &Netns, script: &str, args: &[&str]) -> std::process::Output {
    let mut argv = vec!["python3", "-c", script];
    argv.extend_from_slice(args);
    ns.exec(&argv)
}

/// Sends N bytes of the pattern to whoever connects, then closes.
const KERNEL_SOURCE: &str = r#"
import socket, sys
n = int(sys.argv[3])
data = (bytes((i * 7) % 251 for i in range(251)) * (n // 251 + 1))[:n]
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
c.sendall(data)
c.close()
"#;

/// Reads to EOF, checks the bytes against the pattern, prints "OK n".
const KERNEL_SINK: &str = r#"
import socket, sys, hashlib
n = int(sys.argv[3])
want = hashlib.sha256((bytes((i * 7) % 251 for i in range(251)) * (n // 251 + 1))[:n]).digest()
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
h, got = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    got += len(b)
c.close()
print("OK %d" % got if h.digest() == want else "MISMATCH %d" % got, flush=True)
"#;

/// Start a kernel-side Python server in the namespace and wait for "listening".
fn kernel_server(
    ns: &Netns,
    script: &str,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut argv = vec!["python3", "-c", script];
    argv.extend_from_slice(args);
    spawn_until(ns.command(&argv), "listening")
}

const HUNDRED_MB: &str = "100000000";

/// tests/c/sha_client.c on libnet, run to completion: `HOST PORT BYTES`
/// (0 bytes: download and print the FNV digest).
fn sha_client(ns: &Netns, args: &[&str]) -> std::process::Output {
    let client = compile_c("sha_client", &ns.dir);
    ns.libnet_program(&client, args).output().unwrap()
}

#[test]
fn kernel_client_echoes_100mb_through_a_libnet_server_exact_bytes() {
    let ns = Netns::new("echo");
    let _netd = Netd::start(&ns, &[]);
    echo_through_libnet(&ns, "7000", HUNDRED_MB, || ());
}

/// IFF_VNET_HDR with TSO both ways: the kernel hands netd 64 KB GSO
/// super-segments, and netd writes super-segments the kernel cuts at the
/// MSS, so bulk data crosses the device in far fewer, larger packets.
#[test]
fn bulk_data_crosses_the_tun_device_as_super_segments_both_ways() {
    let ns = Netns::new("tso");
    let _netd = Netd::start(&ns, &[]);
    let cap = echo_through_libnet(&ns, "7001", "4000000", || capture(&ns, 7001));
    let lines = cap.lines(&ns);
    let largest = |netd: bool| {
        lines
            .iter()
            .filter(|l| from_netd(l) == netd)
            .filter_map(|l| l.rsplit("length ").next()?.trim().parse::<usize>().ok())
            .max()
            .unwrap_or(0)
    };
    // An MTU-sized segment carries at most 1448 bytes with timestamps.
    assert!(largest(false) > 1500, "kernel to netd: {}", largest(false));
    assert!(largest(true) > 1500, "netd to kernel: {}", largest(true));
}

#[test]
fn libnet_client_downloads_100mb_from_a_kernel_server_exact_bytes() {
    let ns = Netns::new("down");
    let _netd = Netd::start(&ns, &[]);
    let (mut server, _) = kernel_server(&ns, KERNEL_SOURCE, &[HOST_ADDR, "8000", HUNDRED_MB]);
    let out = sha_client(&ns, &[HOST_ADDR, "8000", "0"]);
    assert_stdout(&out, pattern_fnv(100_000_000));
    assert!(server.wait().unwrap().success());
}

#[test]
fn libnet_client_uploads_100mb_to_a_kernel_server_exact_bytes() {
    let ns = Netns::new("up");
    let _netd = Netd::start(&ns, &[]);
    let (mut server, mut server_out) =
        kernel_server(&ns, KERNEL_SINK, &[HOST_ADDR, "8001", HUNDRED_MB]);
    let out = sha_client(&ns, &[HOST_ADDR, "8001", HUNDRED_MB]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut verdict = String::new();
    server_out.read_line(&mut verdict).unwrap();
    assert_eq!(verdict.trim(), "OK 100000000");
    assert!(server.wait().unwrap().success());
}

#[test]
fn libnet_connect_to_a_closed_kernel_port_is_econnrefused() {
    let ns = Netns::new("refused");
    let _netd = Netd::start(&ns, &[]);
    let out = sha_client(&ns, &[HOST_ADDR, "9", "10"]);
    assert_stdout(&out, "connect: Connection refused");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn python_ctypes_script_uses_libnet_against_the_kernel() {
    let ns = Netns::new("ctypes");
    let _netd = Netd::start(&ns, &[]);
    let script = workspace_root().join("tests/python/libnet_ctypes.py");
    let out = ns
        .libnet_python(&[script.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().last() == Some("all ok"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn killing_netd_mid_transfer_fails_the_program_and_a_restarted_netd_serves_again() {
    let ns = Netns::new("kill");
    let mut netd = Netd::start(&ns, &[]);
    // A kernel server that reads slowly, so the transfer is in progress when netd dies.
    let slow = r#"
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
while c.recv(4096):
    time.sleep(0.01)
"#;
    let (mut server, _server_out) = kernel_server(&ns, slow, &[HOST_ADDR, "8100"]);
    let client = compile_c("sha_client", &ns.dir);
    let mut prog = ns
        .libnet_program(&client, &[HOST_ADDR, "8100", "100000000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    netd.signal(nix::sys::signal::Signal::SIGKILL);
    netd.wait_exit(std::time::Duration::from_secs(10))
        .expect("netd died");
    // The program gets an error (EPIPE and SIGPIPE here), not a hang.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(st) = prog.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the libnet program hangs after netd died"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        !status.success(),
        "the transfer cannot have completed: {status:?}"
    );
    let _ = server.kill();
    let _ = server.wait();
    // A new netd serves new sockets.
    let _netd2 = Netd::start(&ns, &[]);
    let out = sha_client(&ns, &[HOST_ADDR, "9", "10"]);
    assert_stdout(&out, "connect: Connection refused");
}

/// Opens N connections, reports, waits for a line on stdin, closes them all.
const KERNEL_MANY: &str = r#"
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port), timeout=60) for _ in range(n)]
print("connected %d" % len(socks), flush=True)
sys.stdin.readline()
for s in socks:
    s.close()
print("done", flush=True)
"#;

#[test]
fn ten_thousand_kernel_connections_are_held_and_closed() {
    const N: usize = 10_000;
    let ns = Netns::new("many");
    let netd = Netd::start(&ns, &[]);
    let server = compile_c("hold_server", &ns.dir);
    let (mut srv, mut srv_out) = spawn_until(
        &mut ns.libnet_program(&server, &["7100", &N.to_string()]),
        "listening",
    );
    let (mut cli, _cli_out) = spawn_until(
        ns.command(&[
            "python3",
            "-c",
            KERNEL_MANY,
            NETD_ADDR,
            "7100",
            &N.to_string(),
        ])
        .stdin(Stdio::piped()),
        &format!("connected {N}"),
    );
    assert_eq!(next_line(&mut srv_out), format!("held {N}"));
    assert_eq!(netd.counter("Tcp", "CurrEstab"), N as i64);
    std::io::Write::write_all(cli.stdin.as_mut().unwrap(), b"\n").unwrap();
    assert_eq!(next_line(&mut srv_out), format!("closed {N}"));
    assert!(srv.wait().unwrap().success());
    assert!(cli.wait().unwrap().success());
    assert_eq!(netd.counter("Tcp", "PassiveOpens"), N as i64);
}

#[test]
fn an_epoll_server_on_libnet_descriptors_serves_many_clients() {
    let ns = Netns::new("epoll");
    let _netd = Netd::start(&ns, &[]);
    let exe = compile_c("epoll_server", &ns.dir);
    let (mut srv, mut out) =
        spawn_until(&mut ns.libnet_program(&exe, &["7600", "20"]), "listening");
    // Twenty kernel clients at once, each echoing 50 kB.
    let clients = r#"
import socket, threading
ok = []
def one(i):
    s = socket.create_connection(("10.77.0.2", 7600), timeout=30)
    data = bytes([i]) * 50000
    got = bytearray()
    def rd():
        while len(got) < len(data):
            b = s.recv(65536)
            if not b:
                break
            got.extend(b)
    t = threading.Thread(target=rd); t.start()
    s.sendall(data); t.join(); s.close()
    ok.append(bytes(got) == data)
ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
[t.start() for t in ts]; [t.join() for t in ts]
print("ok %d" % sum(ok))
"#;
    let r = python(&ns, clients, &[]);
    assert_stdout(&r, "ok 20");
    assert_eq!(next_line(&mut out), "served 20 bytes 1000000");
    assert!(srv.wait().unwrap().success());
}

#[test]
fn curl_downloads_100mb_from_a_libnet_http_server() {
    let ns = Netns::new("curl");
    let _netd = Netd::start(&ns, &[]);
    let exe = compile_c("http", &ns.dir);
    let (mut srv, _srv_out) = spawn_until(
        &mut ns.libnet_program(&exe, &["serve", "8080", HUNDRED_MB]),
        "listening",
    );
    let file = ns.dir.join("download");
    let out = ns.exec(&[
        "curl",
        "-s",
        "-S",
        "-o",
        file.to_str().unwrap(),
        "-w",
        "%{http_code} %{size_download}",
        "http://10.77.0.2:8080/big",
    ]);
    assert_stdout(&out, "200 100000000");
    let body = std::fs::read(&file).unwrap();
    assert!(
        body.iter().enumerate().all(|(i, b)| *b == pattern_byte(i)),
        "exact bytes"
    );
    assert!(srv.wait().unwrap().success());
}

#[test]
fn libnet_http_client_fetches_100mb_from_python_http_server() {
    let ns = Netns::new("httpd");
    let _netd = Netd::start(&ns, &[]);
    let exe = compile_c("http", &ns.dir);
    // The file python3 -m http.server will serve: the 100 MB test pattern.
    let period: Vec<u8> = (0..251).map(pattern_byte).collect();
    let body: Vec<u8> = period.iter().copied().cycle().take(100_000_000).collect();
    std::fs::write(ns.dir.join("big"), &body).unwrap();
    let dir = ns.dir.to_str().unwrap().to_string();
    let mut httpd = ns
        .command(&[
            "python3",
            "-m",
            "http.server",
            "8000",
            "--bind",
            HOST_ADDR,
            "--directory",
            &dir,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until it accepts connections.
    let ready = r#"
import socket, time
for _ in range(100):
    try:
        socket.create_connection(("10.77.0.1", 8000), timeout=1).close(); print("up"); break
    except OSError:
        time.sleep(0.1)
"#;
    assert_eq!(
        String::from_utf8_lossy(&python(&ns, ready, &[]).stdout).trim(),
        "up"
    );
    let out = ns
        .libnet_program(&exe, &["get", HOST_ADDR, "8000", "/big"])
        .output()
        .unwrap();
    let expect = pattern_fnv(100_000_000);
    assert_stdout(&out, format!("200 {expect}"));
    let _ = httpd.kill();
    let _ = httpd.wait();
}
