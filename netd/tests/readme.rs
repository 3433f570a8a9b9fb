//! The README's examples, taken from README.md as written and run in a
//! namespace with netd (needs root): the C echo server with a kernel client,
//! the Python client against a kernel HTTP server, and every `netctl` line.

mod support;
use std::process::{Command, Stdio};
use support::*;

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

/// The first fenced block of `lang` in the README.
fn fenced(lang: &str) -> String {
    let text = readme();
    let open = format!("```{lang}\n");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no ```{lang} block"))
        + open.len();
    let len = text[start..].find("```").expect("unterminated block");
    text[start..start + len].to_string()
}

/// The indented `netctl ...` command lines of one README section.
fn netctl_lines(section: &str) -> Vec<String> {
    let text = readme();
    let start = text.find(section).expect("section");
    let body = &text[start + section.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.lines()
        .filter_map(|l| l.strip_prefix("    netctl "))
        .map(|l| l.split(" #").next().unwrap_or(l).trim().to_string())
        .collect()
}

/// A kernel TCP client for the README's echo server, retrying while it comes up.
const ECHO_CLIENT: &str = "import socket, time
for _ in range(100):
    try:
        s = socket.create_connection(('10.77.0.2', 7000), timeout=10)
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
s.sendall(b'hello, netd')
print(s.recv(100).decode())";

const WAIT_FOR: &str = "import socket, sys, time
addr = (sys.argv[1], int(sys.argv[2]))
for _ in range(100):
    try:
        socket.create_connection(addr, timeout=2).close()
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit('never came up')
";

#[test]
fn readme_c_echo_server_echoes_for_a_kernel_client() {
    let ns = Netns::new("readme-c");
    let _netd = Netd::start(&ns, &[]);
    let src = ns.dir.join("echo.c");
    std::fs::write(&src, fenced("c")).unwrap();
    let lib = libnet_dir();
    let exe = ns.dir.join("echo");
    let cc = Command::new("gcc")
        .arg("-I")
        .arg(workspace_root().join("include"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .arg(lib.join("libnet.so"))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .expect("gcc");
    assert!(
        cc.status.success(),
        "the README's C example does not compile: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let mut server = ns
        .libnet_program(&exe, &[])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let out = ns
        .command(&["python3", "-c", ECHO_CLIENT])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello, netd");
}

#[test]
fn readme_python_client_fetches_from_a_kernel_http_server() {
    let ns = Netns::new("readme-py");
    let _netd = Netd::start(&ns, &[]);
    let script = ns.dir.join("client.py");
    std::fs::write(&script, fenced("python")).unwrap();
    let mut http = ns
        .command(&[
            "python3",
            "-m",
            "http.server",
            "--bind",
            "10.77.0.1",
            "8000",
            "--directory",
            ns.dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = ns
        .command(&["python3", "-c", WAIT_FOR, "10.77.0.1", "8000"])
        .output()
        .unwrap();
    let out = ns
        .libnet_python(&[script.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = http.kill();
    let _ = http.wait();
    assert!(up.status.success(), "http.server did not come up");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "HTTP/1.0 200 OK"
    );
}

#[test]
fn readme_netctl_examples_all_succeed() {
    let ns = Netns::new("readme-netctl");
    let _netd = Netd::start(&ns, &[]);
    let lines = netctl_lines("## Looking at netd with netctl");
    assert!(lines.len() >= 6, "netctl examples not found: {lines:?}");
    let conf = workspace_root().join("dist/sysctl.conf");
    for line in &lines {
        let line = line.replace("/etc/netd/sysctl.conf", conf.to_str().unwrap());
        let args: Vec<&str> = line.split_whitespace().collect();
        let out = Command::new(netctl())
            .args(&args)
            .env("NETD_SOCKET", ns.dir.join("netd.sock"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "netctl {line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        if line.starts_with("netstat -s") {
            assert!(stdout.contains("Tcp:"), "{stdout}");
        }
        if line.starts_with("sysctl -w") {
            assert_eq!(stdout.trim(), "net.ipv4.tcp_keepalive_time = 600");
        }
    }
}
