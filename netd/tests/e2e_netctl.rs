//! netctl against a live netd in a namespace (needs root; each test makes and
//! removes its own namespace): ss and netstat rows for sockets in known
//! states, counters after real events, and sysctl with procps's behaviour.

mod support;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use support::*;

fn netctl_cmd(netd: &Netd, args: &[&str]) -> Command {
    let mut c = Command::new(netctl());
    c.args(args).env("NETD_SOCKET", &netd.control);
    c
}

fn run(netd: &Netd, args: &[&str]) -> Output {
    netctl_cmd(netd, args).output().expect("run netctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sysctl_reads_writes_and_reports_like_procps() {
    let ns = Netns::new("sysctl");
    let netd = Netd::start(&ns, &[]);
    let o = run(
        &netd,
        &["sysctl", "net.ipv4.tcp_rmem", "net.core.somaxconn"],
    );
    assert_eq!(
        stdout(&o),
        "net.ipv4.tcp_rmem = 4096\t131072\t6291456\nnet.core.somaxconn = 4096\n"
    );
    assert_eq!(
        stdout(&run(&netd, &["sysctl", "-n", "net.ipv4.tcp_fin_timeout"])),
        "60\n"
    );
    // -w echoes the value as typed; a later read shows the stored form.
    let o = run(&netd, &["sysctl", "-w", "net.ipv4.tcp_fin_timeout=0x1e"]);
    assert_eq!(
        (stdout(&o).as_str(), o.status.success()),
        ("net.ipv4.tcp_fin_timeout = 0x1e\n", true)
    );
    assert_eq!(
        stdout(&run(&netd, &["sysctl", "-n", "net.ipv4.tcp_fin_timeout"])),
        "30\n"
    );
    // Unknown key and invalid value: procps's messages, exit 1, nothing changed.
    let o = run(&netd, &["sysctl", "net.ipv4.tcp_tw_recycle"]);
    assert_eq!(
        stderr(&o),
        "sysctl: cannot stat /proc/sys/net/ipv4/tcp_tw_recycle: No such file or directory\n"
    );
    assert_eq!(o.status.code(), Some(1));
    let o = run(&netd, &["sysctl", "-w", "net.ipv4.tcp_tw_reuse=3"]);
    assert_eq!(
        stderr(&o),
        "sysctl: setting key \"net.ipv4.tcp_tw_reuse\": Invalid argument\n"
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&run(&netd, &["sysctl", "-n", "net.ipv4.tcp_tw_reuse"])),
        "2\n"
    );
    // -a lists every key, sorted.
    let all = stdout(&run(&netd, &["sysctl", "-a"]));
    let keys: Vec<&str> = all
        .lines()
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(keys.contains(&"net.ipv4.tcp_syncookies"));
}

#[test]
fn sysctl_p_loads_a_file_with_procps_rules() {
    let ns = Netns::new("sysctlp");
    let netd = Netd::start(&ns, &[]);
    let file = ns.dir.join("60-test.conf");
    std::fs::write(
        &file,
        "# a comment\n; another\nnet.ipv4.tcp_keepalive_time = 600\nthis line is bad\n-net.ipv4.tcp_nonexistent = 1\n net.ipv4.tcp_syncookies=2\n",
    )
    .unwrap();
    let o = run(&netd, &["sysctl", "-p", file.to_str().unwrap()]);
    let f = file.display();
    assert_eq!(stderr(&o), format!("sysctl: {f}(4): invalid syntax, continuing...\nsysctl: setting key \"net.ipv4.tcp_nonexistent\", ignoring: No such file or directory\n"));
    assert_eq!(
        stdout(&o),
        "net.ipv4.tcp_keepalive_time = 600\nnet.ipv4.tcp_syncookies = 2\n"
    );
    assert_eq!(
        stdout(&run(&netd, &["sysctl", "-n", "net.ipv4.tcp_syncookies"])),
        "2\n"
    );
}

#[test]
fn sysctl_writes_need_root_and_reads_do_not() {
    let ns = Netns::new("nonroot");
    let netd = Netd::start(&ns, &[]);
    // Let an unprivileged user reach the socket (as group netctl would).
    std::fs::set_permissions(&netd.control, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(&ns.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = netctl_cmd(&netd, &["sysctl", "-w", "net.ipv4.tcp_sack=0"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(
        stderr(&o),
        "sysctl: permission denied on key \"net.ipv4.tcp_sack\"\n"
    );
    assert_eq!(o.status.code(), Some(1));
    let o = netctl_cmd(&netd, &["sysctl", "net.ipv4.tcp_sack"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o),
        "net.ipv4.tcp_sack = 1\n",
        "reading is open; nothing changed"
    );
}

#[test]
fn a_missing_daemon_or_wrong_path_is_a_clear_error() {
    let o = Command::new(netctl())
        .args(["--control", "/nonexistent/netd.sock", "ss"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no such socket (is netd running?"),
        "{}",
        stderr(&o)
    );
}

/// A libnet listener with backlog 8 that never accepts, and twelve kernel
/// clients: the accept queue fills (9) and the rest overflow.
#[test]
fn ss_and_netstat_show_known_states_and_counters_move() {
    let ns = Netns::new("ss");
    let netd = Netd::start(&ns, &[]);
    let exe = compile_c("experiments", &ns.dir);
    let mut prog = ns
        .libnet_program(&exe, &["noaccept", "7700"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(prog.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let clients = r#"
import socket, time, sys
socks = []
for i in range(12):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("10.77.0.2", 7700))
    socks.append(s)
time.sleep(1.5)
print("opened", flush=True)
sys.stdin.readline()
"#;
    let mut py = ns
        .command(&["python3", "-c", clients])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pout = BufReader::new(py.stdout.take().unwrap());
    line.clear();
    pout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "opened");
    // LISTEN: Recv-Q is the accept-queue length, Send-Q the backlog.
    let o = run(&netd, &["ss", "-ltn"]);
    assert_eq!(
        stdout(&o),
        "State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\nLISTEN 9      8            0.0.0.0:7700      0.0.0.0:*\n"
    );
    // ESTAB rows for the nine completed connections, in ss's format.
    let o = run(&netd, &["ss", "-tnH", "state", "established"]);
    let rows: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(rows.len(), 9, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.starts_with("0      0") && r.contains("10.77.0.2:7700")),
        "{rows:?}"
    );
    // The overflow shows in netstat -s with net-tools' wording, and in nstat.
    let s = stdout(&run(&netd, &["netstat", "-s"]));
    let overflow = s
        .lines()
        .find(|l| l.contains("times the listen queue of a socket overflowed"))
        .expect(&s)
        .trim()
        .to_string();
    let n: u64 = overflow.split_whitespace().next().unwrap().parse().unwrap();
    assert!(n >= 3, "{overflow}");
    assert!(s.contains("SYNs to LISTEN sockets dropped"));
    let nstat = stdout(&run(&netd, &["nstat", "-as", "TcpExtListenOverflows"]));
    assert!(
        nstat.starts_with("#kernel\nTcpExtListenOverflows "),
        "{nstat}"
    );
    // The operators' one-liner works on netstat -n's table.
    let awk = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} netstat -n | awk '/^tcp/ {{++S[$NF]}} END {{for(a in S) print a, S[a]}}'",
            netctl().display()
        ))
        .env("NETD_SOCKET", &netd.control)
        .output()
        .unwrap();
    // (A client whose final ACK overflowed is still a SYN_RECV request: netstat shows it too.)
    let mut counts: Vec<String> = stdout(&awk).lines().map(String::from).collect();
    counts.sort();
    assert!(counts.contains(&"ESTABLISHED 9".to_string()), "{counts:?}");
    assert!(
        counts
            .iter()
            .all(|l| l == "ESTABLISHED 9" || l.starts_with("SYN_RECV ")),
        "{counts:?}"
    );
    // The kernel clients close: CLOSE-WAIT on netd's side (nobody reads), 1 unread byte each (the FIN).
    py.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    py.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = run(&netd, &["ss", "-tnH", "state", "close-wait"]);
    let rows: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(rows.len(), 9, "{}", stdout(&run(&netd, &["ss", "-tan"])));
    assert!(rows.iter().all(|r| r.starts_with("1      0")), "{rows:?}");
    let _ = prog.kill();
    let _ = prog.wait();
}
