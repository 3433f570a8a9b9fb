//! End-to-end harness: a network namespace of the test's own, netd on a TUN
//! device inside it, the Linux kernel in that namespace as the peer. Every
//! namespace and process is removed on drop, pass or fail. Needs root
//! (CAP_SYS_ADMIN for `ip netns`, CAP_NET_ADMIN for TUN): without it the
//! tests fail with a message saying so.
#![allow(dead_code)]

use netd_proto::client::ControlClient;
use netd_proto::{codec, Request, Response, SockRef, PROTOCOL_VERSION};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

pub const NETD_ADDR: &str = "10.77.0.2";
pub const HOST_ADDR: &str = "10.77.0.1";

pub fn require_root() {
    let uid = nix::unistd::geteuid();
    assert!(
        uid.is_root(),
        "end-to-end tests need root (network namespaces and TUN devices); run `cargo test` as root, as CI does"
    );
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A network namespace that exists for the life of this value.
pub struct Netns {
    pub name: String,
    pub dir: PathBuf,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        require_root();
        let name = format!(
            "netd-e2e-{}-{}-{}",
            tag,
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let out = run(Command::new("ip").args(["netns", "add", &name]));
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Netns {
            dir: std::env::temp_dir().join(&name),
            name,
        };
        std::fs::create_dir_all(&ns.dir).expect("temp dir");
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// A libnet program in the namespace, pointed at the test's netd.
    pub fn libnet_program(&self, exe: &Path, args: &[&str]) -> Command {
        let mut argv = vec![exe.to_str().expect("utf-8 path")];
        argv.extend_from_slice(args);
        let mut c = self.command(&argv);
        c.env("NETD_SOCKET", self.dir.join("netd.sock"));
        c
    }

    /// python3 in the namespace with `python/libnet.py` importable and
    /// pointed at the test's netd and the built libnet.so.
    pub fn libnet_python(&self, args: &[&str]) -> Command {
        let mut argv = vec!["python3"];
        argv.extend_from_slice(args);
        let mut c = self.command(&argv);
        c.env("NETD_SOCKET", self.dir.join("netd.sock"))
            .env("LIBNET", libnet_dir().join("libnet.so"))
            .env("PYTHONPATH", workspace_root().join("python"));
        c
    }

    pub fn exec(&self, argv: &[&str]) -> Output {
        run(&mut self.command(argv))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Stop whatever still runs in the namespace, then remove it.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// netd running in a namespace; killed on drop.
pub struct Netd {
    pub child: Child,
    pub control: PathBuf,
    /// netd's stderr (its log), printed if the test fails.
    pub log: PathBuf,
    pub notify: UnixDatagram,
    pub notify_log: Vec<String>,
}

impl Netd {
    /// Start netd in `ns` and wait (bounded) for READY=1 on a notify socket.
    pub fn start(ns: &Netns, extra: &[&str]) -> Netd {
        Netd::start_with(ns, extra, None, &[])
    }

    /// netd with more environment (`WATCHDOG_USEC`, ...).
    pub fn start_env(ns: &Netns, extra: &[&str], env: &[(&str, &str)]) -> Netd {
        Netd::start_with(ns, extra, None, env)
    }

    /// netd with RLIMIT_NOFILE set to `nofile` (soft and hard), to meet
    /// its descriptor limit with a few dozen sockets.
    pub fn start_limited(ns: &Netns, extra: &[&str], nofile: u64) -> Netd {
        Netd::start_with(ns, extra, Some(nofile), &[])
    }

    fn start_with(ns: &Netns, extra: &[&str], nofile: Option<u64>, env: &[(&str, &str)]) -> Netd {
        let control = ns.dir.join("netd.sock");
        let notify_path = ns.dir.join("notify.sock");
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let ctl = control.to_string_lossy().into_owned();
        let mut args = vec![env!("CARGO_BIN_EXE_netd"), "--control", &ctl];
        args.extend_from_slice(extra);
        let log = ns.dir.join("netd.log");
        let stderr = std::fs::File::create(&log).expect("netd's log file");
        let mut cmd = ns.command(&args);
        cmd.env("NOTIFY_SOCKET", &notify_path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stderr(stderr);
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit() is async-signal-safe and touches no memory
            // of the parent's; `ip netns exec` passes the limit on to netd.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, n, n)
                        .map_err(std::io::Error::from)
                });
            }
        }
        let child = cmd.spawn().expect("spawn netd");
        let mut d = Netd {
            child,
            control,
            log,
            notify,
            notify_log: Vec::new(),
        };
        assert!(
            d.wait_notify("READY=1", Duration::from_secs(20)),
            "netd did not report READY=1: {:?}",
            d.notify_log
        );
        d
    }

    /// Wait for a notify message containing `needle` (bounded, outcome only).
    pub fn wait_notify(&mut self, needle: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let hit = msg.contains(needle);
                self.notify_log.push(msg);
                if hit {
                    return true;
                }
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
        }
        false
    }

    pub fn client(&self) -> ControlClient {
        ControlClient::connect(&self.control, "e2e").expect("connect to netd")
    }

    pub fn counter(&self, section: &str, name: &str) -> i64 {
        match self.client().request(&Request::Counters).expect("counters") {
            Response::Counters(cs) => cs
                .into_iter()
                .find(|c| c.section == section && c.name == name)
                .map(|c| c.value)
                .unwrap_or_else(|| panic!("no counter {section} {name}")),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// What netd has written to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// netd's resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("netd's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// How many descriptors netd has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("netd's /proc fd")
            .count()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal netd");
    }

    /// Wait (bounded) for netd to exit; its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Netd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("netd's log:\n{}", self.log_text());
        }
    }
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// netctl, built beside libnet.
pub fn netctl() -> PathBuf {
    libnet_dir().join("netctl")
}

/// Build libnet.so (and netctl) once per test run (into its own target directory, so the
/// outer cargo's lock is not contended) and return the directory holding it.
pub fn libnet_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace_root();
        let target = root.join("target").join("e2e-libnet");
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let out = Command::new(cargo)
            .args(["build", "-p", "libnet-ffi", "-p", "netctl", "--target-dir"])
            .arg(&target)
            .current_dir(&root)
            .output()
            .expect("run cargo to build libnet");
        assert!(
            out.status.success(),
            "building libnet failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug")
    })
    .clone()
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// Compile tests/c/NAME.c against include/libnet.h, linked to our libnet.so
/// by path with an rpath (never a bare -lnet, which could find Debian's libnet).
pub fn compile_c(name: &str, out_dir: &Path) -> PathBuf {
    let root = workspace_root();
    let lib = libnet_dir();
    let exe = out_dir.join(name);
    let out = Command::new("gcc")
        .arg("-O2")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(root.join("include"))
        .arg("-o")
        .arg(&exe)
        .arg(root.join("tests/c").join(format!("{name}.c")))
        .arg(lib.join("libnet.so"))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc {name}.c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Byte `i` of the test pattern the C programs (sha_client.c, http.c) send.
pub fn pattern_byte(i: usize) -> u8 {
    ((i * 7) % 251) as u8
}

/// FNV-1a 64 of the test pattern, as the C client computes it.
pub fn pattern_fnv(len: usize) -> String {
    let mut h: u64 = 1469598103934665603;
    for i in 0..len {
        h ^= u64::from(pattern_byte(i));
        h = h.wrapping_mul(1099511628211);
    }
    format!("{len} {h:016x}")
}

/// Spawn `cmd` with stdout piped and wait for its first line, which must be
/// `want` (a server's "listening", a program's "ready"). The reader is
/// returned for any later lines; keep it alive, or the child's next print
/// fails with EPIPE.
pub fn spawn_until(
    mut cmd: impl std::borrow::BorrowMut<Command>,
    want: &str,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = cmd
        .borrow_mut()
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    assert_eq!(next_line(&mut out), want);
    (child, out)
}

/// The next line a child printed, trimmed ("" at EOF).
pub fn next_line(out: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    line.trim().to_string()
}

/// tcpdump on netd0, writing headers only (snaplen 128) to a file.
pub struct Capture {
    child: Child,
    file: PathBuf,
}

/// Start tcpdump on netd0 for one port and wait until it is capturing.
pub fn capture(ns: &Netns, port: u16) -> Capture {
    let file = ns.dir.join(format!("cap-{port}.pcap"));
    let f = file.to_string_lossy().into_owned();
    let filter = format!("tcp port {port}");
    let mut child = ns
        .command(&[
            "tcpdump",
            "-i",
            "netd0",
            "-n",
            "-s",
            "128",
            "--immediate-mode",
            "-U",
            "-w",
            &f,
            &filter,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("piped stderr"))
        .read_line(&mut line)
        .expect("tcpdump's first line");
    assert!(line.contains("listening on"), "tcpdump: {line}");
    Capture { child, file }
}

impl Capture {
    /// Stop the capture and return tcpdump's one-line summaries, in order.
    pub fn lines(mut self, ns: &Netns) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
        let out = ns.exec(&["tcpdump", "-n", "-r", &self.file.to_string_lossy()]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Whether a tcpdump summary line is a packet netd sent.
pub fn from_netd(line: &str) -> bool {
    line.split(" > ")
        .next()
        .is_some_and(|src| src.contains(&format!(" {NETD_ADDR}.")))
}

/// A program's trimmed stdout is `want`; its stderr explains a failure.
pub fn assert_stdout(out: &Output, want: impl AsRef<str>) {
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        want.as_ref(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A libnet-like client that keeps the socketpair ends netd sends it.
pub struct Program {
    stream: UnixStream,
    inbuf: Vec<u8>,
    /// Every socket netd created for it, with the program's end of its socketpair.
    pub socks: Vec<(SockRef, Option<OwnedFd>)>,
}

impl Program {
    pub fn connect(netd: &Netd) -> Program {
        let stream = UnixStream::connect(&netd.control).expect("connect to netd");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut p = Program {
            stream,
            inbuf: Vec::new(),
            socks: Vec::new(),
        };
        let hello = p.call(&Request::Hello {
            version: PROTOCOL_VERSION,
            client: "fuzz".into(),
        });
        assert!(matches!(hello, Response::Hello { .. }), "{hello:?}");
        p
    }

    /// One request and its answer; a socket netd creates is kept with its fd.
    pub fn call(&mut self, req: &Request) -> Response {
        let mut out = Vec::new();
        codec::encode(req, &mut out).expect("encode");
        self.stream.write_all(&out).expect("netd took the request");
        let mut fd = None;
        loop {
            match codec::decode::<Response>(&mut self.inbuf) {
                // A dump's frames before its last are part of one answer.
                Ok(Some(Response::SocketRows { last: false, .. })) => continue,
                Ok(Some(r)) => {
                    if let (Response::Socket { sock }, true) = (&r, fd.is_some()) {
                        self.socks.push((*sock, fd.take()));
                    }
                    return r;
                }
                Ok(None) => {}
                Err(e) => panic!("netd sent a bad frame for {req:?}: {e}"),
            }
            let mut buf = [0u8; 65536];
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
            let msg = recvmsg::<()>(
                self.stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .unwrap_or_else(|e| panic!("no answer to {req:?}: {e}"));
            let n = msg.bytes;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for raw in fds {
                            // SAFETY: the kernel just installed this descriptor for us.
                            fd.get_or_insert(unsafe { OwnedFd::from_raw_fd(raw) });
                        }
                    }
                }
            }
            assert!(n > 0, "netd closed the connection on {req:?}");
            self.inbuf.extend_from_slice(&buf[..n]);
        }
    }
}

// Sends from a thread while reading: an echo through bounded buffers
// deadlocks if the client only reads after sending everything.
pub const KERNEL_CLIENT: &str = r#"
import socket, sys, hashlib, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = (bytes((i * 7) % 251 for i in range(251)) * (n // 251 + 1))[:n]
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

/// A libnet echo server on `port` for one connection and the kernel client
/// echoing `bytes` through it, both ways at once, checked exactly;
/// `before_client` runs once the server listens (to start a capture).
pub fn echo_through_libnet<T>(
    ns: &Netns,
    port: &str,
    bytes: &str,
    before_client: impl FnOnce() -> T,
) -> T {
    let server = compile_c("echo_server", &ns.dir);
    let (mut child, _child_out) =
        spawn_until(&mut ns.libnet_program(&server, &[port, "1"]), "listening");
    let t = before_client();
    let out = ns.exec(&["python3", "-c", KERNEL_CLIENT, NETD_ADDR, port, bytes]);
    assert_stdout(&out, "OK");
    assert!(child.wait().unwrap().success());
    t
}

/// User and system CPU of process `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("netd's /proc stat");
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}
