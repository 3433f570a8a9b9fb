//! netctl against a live netd in a namespace (needs root; each test makes and
//! removes its own namespace): ss and netstat rows for sockets in known
//! states, counters after real events, and sysctl with procps's behaviour.

mod support;
use std::io::Write;
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
    let (mut prog, _prog_out) = spawn_until(
        ns.libnet_program(&exe, &["noaccept", "7700"])
            .stdin(Stdio::piped()),
        "ready",
    );
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
    let (mut py, _py_out) = spawn_until(
        ns.command(&["python3", "-c", clients])
            .stdin(Stdio::piped()),
        "opened",
    );
    // LISTEN: Recv-Q is the accept-queue length, Send-Q the backlog.
    let o = run(&netd, &["ss", "-ltn"]);
    assert_eq!(
        stdout(&o),
        "State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\nLISTEN 9      8            0.0.0.0:7700      0.0.0.0:*\n"
    );
    // ss -s from the counts alone: the listener is the one socket held
    // (nothing accepted); it and its nine children are in the tables.
    let o = run(&netd, &["ss", "-s"]);
    let summary = stdout(&o);
    assert!(
        summary.starts_with("Total: 1\nTCP:   10 (estab 9, closed 0, orphaned 0, timewait 0)\n"),
        "{summary}"
    );
    assert!(
        summary.contains("\nTCP\t  10        10        0"),
        "{summary}"
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
    // ss -i: each connection is followed by its TCP internals.
    let info = stdout(&run(&netd, &["ss", "-tniH", "state", "established"]));
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines.len(), 18, "{info}");
    for pair in lines.chunks(2) {
        assert!(
            pair[1].starts_with("\t cubic wscale:")
                && pair[1].contains(" mss:1448 ")
                && pair[1].contains(" cwnd:10"),
            "{info}"
        );
    }
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

/// Twenty SYNs from spoofed on-link addresses nobody answers for: netd's
/// SYN-ACKs go unanswered, so the requests stay half-open.
const SYN_BURST: &str = r#"
import socket, struct, sys
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return (~s) & 0xffff
dst, port = "10.77.0.2", int(sys.argv[1])
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range(20):
    src = "10.77.0.%d" % (50 + i)
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, port, 1000 + i, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    r.sendto(ip + tcp, (dst, 0))
print("sent")
"#;

#[test]
fn ss_shows_syn_recv_under_a_cookieless_syn_burst_and_time_wait() {
    let ns = Netns::new("ssstates");
    let netd = Netd::start(&ns, &[]);
    assert!(run(&netd, &["sysctl", "-w", "net.ipv4.tcp_syncookies=0"])
        .status
        .success());
    let exe = compile_c("experiments", &ns.dir);
    let (mut prog, _prog_out) = spawn_until(
        ns.libnet_program(&exe, &["noaccept", "7800"])
            .stdin(Stdio::piped()),
        "ready",
    );
    let sent = ns.exec(&["python3", "-c", SYN_BURST, "7800"]);
    assert_stdout(&sent, "sent");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // backlog 8: the SYN queue holds 9 requests; without cookies the rest are dropped.
    let rows = stdout(&run(&netd, &["ss", "-tnoH", "state", "syn-recv"]));
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), 9, "{rows:?}");
    assert!(
        rows.iter().all(|r| r.starts_with("0      0")
            && r.contains("10.77.0.2:7800")
            && r.contains("timer:(on,")),
        "{rows:?}"
    );
    let nstat = stdout(&run(&netd, &["nstat", "-as", "TcpExtTCPReqQFullDrop"]));
    assert!(
        nstat.contains("TcpExtTCPReqQFullDrop           11 "),
        "{nstat}"
    );
    let _ = prog.kill();
    let _ = prog.wait();

    // TIME-WAIT: a libnet client that closes first.
    let client = compile_c("sha_client", &ns.dir);
    let server = r#"
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.0.1", 7900)); l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
while c.recv(4096):
    pass
c.close()
"#;
    let (mut k, _k_out) = spawn_until(ns.command(&["python3", "-c", server]), "listening");
    let o = ns
        .libnet_program(&client, &["10.77.0.1", "7900", "10"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    k.wait().unwrap();
    let tw = stdout(&run(&netd, &["ss", "-tno", "state", "time-wait"]));
    let mut lines = tw.lines();
    // Four-digit peer port: no space before Process, as in the captured ss -lnt.
    assert_eq!(
        lines.next(),
        Some("Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess")
    );
    let row = lines.next().expect(&tw);
    assert!(
        row.starts_with("0      0")
            && row.contains("10.77.0.1:7900")
            && row.contains("timer:(timewait,"),
        "{row}"
    );
}

#[test]
fn ss_p_names_the_program_holding_each_libnet_socket() {
    let ns = Netns::new("ssp");
    let netd = Netd::start(&ns, &[]);
    let exe = compile_c("experiments", &ns.dir);
    let (mut prog, _prog_out) = spawn_until(
        ns.libnet_program(&exe, &["noaccept", "7950"])
            .stdin(Stdio::piped()),
        "ready",
    );
    let pid = prog.id();
    let out = stdout(&run(&netd, &["ss", "-ltnp"]));
    let row = out.lines().find(|l| l.contains(":7950")).expect(&out);
    assert!(
        row.contains(&format!("users:((\"experiments\",pid={pid},fd=")),
        "{row}"
    );
    let _ = prog.kill();
    let _ = prog.wait();
}

/// Bind UDP sockets on PORT.. PORT+N-1 with libnet, say "ready", and hold
/// them until stdin closes.
const MANY_UDP: &str = r#"
import libnet, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = libnet.socket(type=libnet.SOCK_DGRAM)
    s.bind(("0.0.0.0", port + i))
    socks.append(s)
print("ready", flush=True)
sys.stdin.readline()
"#;

/// More sockets than one `SocketRows` frame holds: `ss` gathers every
/// chunk of the dump, and `ss -s` counts them from sockstat without
/// fetching the table (netctl used to fail at 70,000 sockets, one frame).
#[test]
fn ss_gathers_a_dump_in_chunks_and_ss_s_counts_without_it() {
    let ns = Netns::new("dump");
    let netd = Netd::start(&ns, &[]);
    let n = 3 * netd_proto::DUMP_CHUNK + 7;
    let (mut py, _out) = spawn_until(
        ns.libnet_python(&["-c", MANY_UDP, "20000", &n.to_string()])
            .stdin(Stdio::piped()),
        "ready",
    );
    let o = run(&netd, &["ss", "-uanH"]);
    let rows: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(rows.len(), n, "{}", stderr(&o));
    let mut ports: Vec<u16> = rows
        .iter()
        .filter_map(|r| {
            r.split_whitespace()
                .nth(3)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), n, "every socket once");
    let summary = stdout(&run(&netd, &["ss", "-s"]));
    assert!(summary.starts_with(&format!("Total: {n}\n")), "{summary}");
    assert!(
        summary.contains(&format!("\nUDP\t  {n:<9} {n:<9} 0")),
        "{summary}"
    );
    drop(py.stdin.take());
    let _ = py.wait();
}

/// Past the 70,000 sockets at which the socket table overflowed one reply
/// frame (netctl: "malformed frame: LimitExceeded"): 75,000 kernel
/// connections wait in a libnet listener's accept queue; `ss` lists every
/// one and `ss -s` counts them.
#[test]
fn ss_lists_and_ss_s_counts_75000_connections() {
    const N: usize = 75_000;
    const PROCS: usize = 5;
    let ns = Netns::new("scale");
    let netd = Netd::start(&ns, &[]);
    let o = run(
        &netd,
        &[
            "sysctl",
            "-q",
            "-w",
            "net.core.somaxconn=100000",
            "net.ipv4.tcp_max_syn_backlog=65536",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let listener = r#"
import libnet, sys
s = libnet.socket()
s.bind(("0.0.0.0", 7800))
s.listen(100000)
print("listening", flush=True)
sys.stdin.readline()
"#;
    let (mut server, _server_out) = spawn_until(
        ns.libnet_python(&["-c", listener]).stdin(Stdio::piped()),
        "listening",
    );
    // A source address per client process (ephemeral ports are per
    // address), and a wide port range: connect() finds a free port quickly.
    ns.exec(&["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 60999"]);
    let exe = compile_c("hold_conns", &ns.dir);
    let per = (N / PROCS).to_string();
    let mut clients = Vec::new();
    for i in 0..PROCS {
        let src = format!("10.77.0.{}", 10 + i);
        ns.exec(&["ip", "addr", "add", &format!("{src}/24"), "dev", "netd0"]);
        let mut cmd = ns.command(&[exe.to_str().unwrap(), NETD_ADDR, "7800", &per, &src]);
        cmd.stdin(Stdio::piped());
        // SAFETY: setrlimit() is async-signal-safe; the soft limit only.
        unsafe {
            cmd.pre_exec(|| {
                use nix::sys::resource::{getrlimit, setrlimit, Resource};
                let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
                setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        assert_eq!(next_line(&mut out), format!("opened {per}"));
        clients.push(child);
    }
    // Every handshake done (bounded): CurrEstab from sockstat.
    let mut c = netd.client();
    let mut estab = 0;
    for _ in 0..600 {
        if let Ok(netd_proto::Response::SockStat(st)) = c.request(&netd_proto::Request::SockStat) {
            estab = st.tcp_estab;
        }
        if estab as usize >= N {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(estab as usize, N);
    let o = run(&netd, &["ss", "-tanH", "state", "established"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = stdout(&o).lines().count();
    assert_eq!(rows, N, "{}", stderr(&o));
    let summary = stdout(&run(&netd, &["ss", "-s"]));
    assert!(
        summary.starts_with(&format!(
            "Total: 1\nTCP:   {} (estab {N}, closed 0, orphaned 0, timewait 0)\n",
            N + 1
        )),
        "{summary}"
    );
    for mut child in clients {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    drop(server.stdin.take());
    let _ = server.wait();
}
