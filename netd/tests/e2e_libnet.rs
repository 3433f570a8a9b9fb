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

// Sends from a thread while reading: an echo through bounded buffers
// deadlocks if the client only reads after sending everything.
const KERNEL_CLIENT: &str = r#"
import socket, sys, hashlib, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytes((i * 7) % 251 for i in range(n))
s = socket.create_connection((host, port), timeout=60)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
t.join()
print("OK" if hashlib.sha256(got).digest() == hashlib.sha256(data).digest() else "MISMATCH %d" % len(got))
"#;

const KERNEL_ECHO_SERVER: &str = r#"
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    c.sendall(b)
c.close()
"#;

#[test]
fn kernel_client_to_libnet_echo_server_exact_bytes() {
    let ns = Netns::new("echo");
    let _netd = Netd::start(&ns, &[]);
    let server = compile_c("echo_server", &ns.dir);
    let ctl = ns.dir.join("netd.sock");
    let mut child = ns
        .command(&[server.to_str().unwrap(), "7000", "1"])
        .env("NETD_SOCKET", &ctl)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
    let out = python(&ns, KERNEL_CLIENT, &[NETD_ADDR, "7000", "4000000"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn libnet_client_to_kernel_server_exact_bytes() {
    let ns = Netns::new("client");
    let _netd = Netd::start(&ns, &[]);
    let client = compile_c("sha_client", &ns.dir);
    let mut server = ns
        .command(&["python3", "-c", KERNEL_ECHO_SERVER, HOST_ADDR, "8000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
    let out = ns
        .command(&[client.to_str().unwrap(), HOST_ADDR, "8000", "4000000"])
        .env("NETD_SOCKET", ns.dir.join("netd.sock"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        pattern_fnv(4_000_000),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.wait().unwrap().success());
}

#[test]
fn libnet_connect_to_a_closed_kernel_port_is_econnrefused() {
    let ns = Netns::new("refused");
    let _netd = Netd::start(&ns, &[]);
    let client = compile_c("sha_client", &ns.dir);
    let out = ns
        .command(&[client.to_str().unwrap(), HOST_ADDR, "9", "10"])
        .env("NETD_SOCKET", ns.dir.join("netd.sock"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "connect: Connection refused"
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn python_ctypes_script_uses_libnet_against_the_kernel() {
    let ns = Netns::new("ctypes");
    let _netd = Netd::start(&ns, &[]);
    let lib = libnet_dir().join("libnet.so");
    let script = workspace_root().join("tests/python/libnet_ctypes.py");
    let out = ns
        .command(&["python3", script.to_str().unwrap()])
        .env("NETD_SOCKET", ns.dir.join("netd.sock"))
        .env("LIBNET", &lib)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().last() == Some("all ok"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
