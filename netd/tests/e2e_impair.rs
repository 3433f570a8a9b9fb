//! Transfers between the Linux kernel and netd across an impaired link:
//! the user-space netem bridge of ../shared/tools/impair (this kernel has no
//! sch_netem) applies loss, delay, reordering, duplication or corruption in
//! both directions. Each test echoes a few MB through a libnet server, so
//! netd both sends and receives through the impairment, and checks every
//! byte (SHA-256). Outcomes only: how fast is the benchmark's business.
//!
//! Topology, every namespace the test's own, nothing leading outside them:
//!
//! ```text
//!   K: kernel client  vk 10.10.2.1 ── vrk [R: impair] vrn ── vn 10.10.2.2  N
//!                                                        N forwards vn <-> tun0
//!                                                        netd 10.77.0.2 on tun0
//! ```

mod support;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use support::*;

/// The bridge's source: the project's shared tool, found beside the
/// workspace (`../shared/tools/impair`) or at IMPAIR_SRC.
fn impair_source() -> PathBuf {
    if let Ok(p) = std::env::var("IMPAIR_SRC") {
        return PathBuf::from(p);
    }
    let beside = workspace_root().join("../shared/tools/impair/impair.c");
    if beside.exists() {
        return beside;
    }
    PathBuf::from("/work/shared/tools/impair/impair.c")
}

fn build_impair(dir: &Path) -> PathBuf {
    let src = impair_source();
    assert!(
        src.exists(),
        "the impairment bridge's source is missing: {}",
        src.display()
    );
    let exe = dir.join("impair");
    let out = Command::new("gcc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc impair.c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn ok(ns: &Netns, argv: &[&str]) {
    let out = ns.exec(argv);
    assert!(
        out.status.success(),
        "{} in {}: {}",
        argv.join(" "),
        ns.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Offloads off, so the bridge sees MTU-sized frames with full checksums.
fn no_offloads(ns: &Netns, dev: &str) {
    ok(
        ns,
        &[
            "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off",
        ],
    );
}

struct Impaired {
    k: Netns,
    /// The bridge's namespace, removed with this value.
    _r: Netns,
    n: Netns,
    netd: Netd,
    bridge: Child,
    bridge_out: BufReader<std::process::ChildStdout>,
}

impl Impaired {
    fn new(tag: &str, impairment: &[&str]) -> Impaired {
        let k = Netns::new(&format!("{tag}k"));
        let r = Netns::new(&format!("{tag}r"));
        let n = Netns::new(&format!("{tag}n"));
        // Both veth pairs are made inside the namespaces, never in the root one.
        ok(
            &k,
            &[
                "ip", "link", "add", "vk", "type", "veth", "peer", "name", "vrk", "netns", &r.name,
            ],
        );
        ok(
            &n,
            &[
                "ip", "link", "add", "vn", "type", "veth", "peer", "name", "vrn", "netns", &r.name,
            ],
        );
        ok(&k, &["ip", "addr", "add", "10.10.2.1/24", "dev", "vk"]);
        ok(&n, &["ip", "addr", "add", "10.10.2.2/24", "dev", "vn"]);
        no_offloads(&k, "vk");
        no_offloads(&n, "vn");
        ok(&k, &["ip", "link", "set", "vk", "up"]);
        ok(&n, &["ip", "link", "set", "vn", "up"]);
        for dev in ["vrk", "vrn"] {
            no_offloads(&r, dev);
            ok(&r, &["ip", "link", "set", dev, "promisc", "on", "up"]);
        }
        for (key, v) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
        ] {
            ok(&n, &["sysctl", "-qw", &format!("{key}={v}")]);
        }
        // The kernel peer runs Linux's default, cubic, whatever the host's default.
        ok(
            &k,
            &[
                "ip",
                "route",
                "replace",
                "10.77.0.0/24",
                "via",
                "10.10.2.2",
                "dev",
                "vk",
                "congctl",
                "cubic",
            ],
        );
        let netd = Netd::start(&n, &[]);
        let impair = build_impair(&r.dir);
        let mut argv = vec![
            impair.to_str().expect("utf-8 path"),
            "vrk",
            "vrn",
            "--seed",
            "1",
            "--max-secs",
            "600",
        ];
        argv.extend_from_slice(impairment);
        let mut bridge = r
            .command(&argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn impair");
        let mut out = BufReader::new(bridge.stdout.take().expect("piped"));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        assert!(
            line.starts_with("READY"),
            "the bridge did not start: {line:?}"
        );
        Impaired {
            k,
            _r: r,
            n,
            netd,
            bridge,
            bridge_out: out,
        }
    }

    /// Echo `bytes` through a libnet server in N from a kernel client in K,
    /// bounded in time; the client checks the SHA-256 of what came back.
    fn echo(&self, bytes: usize) {
        let server = compile_c("echo_server", &self.n.dir);
        let (mut child, _out) = spawn_until(
            &mut self.n.libnet_program(&server, &["7100", "1"]),
            "listening",
        );
        let n = bytes.to_string();
        let out = self.k.exec(&[
            "timeout",
            "300",
            "python3",
            "-c",
            KERNEL_CLIENT,
            NETD_ADDR,
            "7100",
            &n,
        ]);
        assert_stdout(&out, "OK");
        assert!(child.wait().unwrap().success());
    }
}

impl Impaired {
    /// Stop the bridge (SIGTERM, by its pid) and sum a counter over both
    /// directions from the JSON lines it prints; checks that no frame was
    /// too large for it (offloads really off).
    fn bridge_counter(&mut self, key: &str) -> u64 {
        let pid = nix::unistd::Pid::from_raw(self.bridge.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.bridge.wait();
        let field = |line: &str, key: &str| -> u64 {
            let tag = format!("\"{key}\":");
            line.split(&tag)
                .nth(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect::<String>()
                })
                .and_then(|d| d.parse().ok())
                .unwrap_or(0)
        };
        let mut total = 0;
        let mut dirs = 0;
        let mut line = String::new();
        while self.bridge_out.read_line(&mut line).unwrap_or(0) > 0 {
            if line.contains("\"dir\"") {
                dirs += 1;
                assert_eq!(field(&line, "oversize"), 0, "{line}");
                total += field(&line, key);
            }
            line.clear();
        }
        assert_eq!(dirs, 2, "the bridge's counters for both directions");
        total
    }
}

impl Drop for Impaired {
    fn drop(&mut self) {
        // Only the bridge we started, by its pid; the namespaces go with their values.
        let _ = self.bridge.kill();
        let _ = self.bridge.wait();
    }
}

const BYTES: usize = 4_000_000;

#[test]
fn echo_through_one_percent_loss_arrives_intact() {
    let mut t = Impaired::new("l1", &["--loss", "1"]);
    t.echo(BYTES);
    assert!(t.netd.counter("Tcp", "RetransSegs") > 0);
    assert!(t.bridge_counter("lost") > 0);
}

#[test]
fn echo_through_five_percent_loss_arrives_intact() {
    let mut t = Impaired::new("l5", &["--loss", "5"]);
    t.echo(BYTES);
    assert!(t.netd.counter("TcpExt", "TCPSackRecovery") > 0);
    assert!(t.bridge_counter("lost") > 0);
}

#[test]
fn echo_through_20ms_delay_and_one_percent_loss_arrives_intact() {
    let mut t = Impaired::new("dl", &["--delay", "20", "--loss", "1"]);
    t.echo(BYTES);
    assert!(t.bridge_counter("lost") > 0);
}

#[test]
fn echo_through_25_percent_reordering_arrives_intact() {
    let mut t = Impaired::new("ro", &["--delay", "10", "--reorder", "25"]);
    t.echo(BYTES);
    assert!(t.bridge_counter("reordered") > 0);
}

#[test]
fn echo_through_five_percent_duplication_arrives_intact() {
    let mut t = Impaired::new("du", &["--duplicate", "5"]);
    t.echo(BYTES);
    // netd, receiving duplicates, tells the sender with D-SACKs (RFC 2883).
    assert!(t.netd.counter("TcpExt", "TCPDSACKOldSent") > 0);
    assert!(t.bridge_counter("dups") > 0);
}

#[test]
fn echo_through_one_percent_corruption_arrives_intact() {
    let mut t = Impaired::new("co", &["--corrupt", "1"]);
    t.echo(BYTES);
    assert!(t.netd.counter("Tcp", "InCsumErrors") + t.netd.counter("Ip", "InHdrErrors") > 0);
    assert!(t.bridge_counter("corrupted") > 0);
}
