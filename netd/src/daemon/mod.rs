//! The daemon shell: the only code with syscalls and a clock. One epoll loop
//! over the TUN device, the control listener and its clients, a timerfd armed
//! at the stack's next deadline, and a signalfd (SIGTERM/SIGINT stop, SIGHUP
//! reloads the sysctl files).

mod calls;
mod clients;
pub mod control;
mod limits;
pub mod notify;
pub mod sockets;
pub mod tun;

use control::Client;
use netd_core::stack::{Stack, StackConfig};
use netd_core::sysctl::Sysctl;
use netd_core::tcp::State;
use netd_core::time::Instant;
use netd_proto::sysctl_conf::{self, Line};
use netd_proto::Errno;
use netd_proto::{Counter, Request, Response, SockRef};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use notify::Notifier;
use sockets::{Endpoints, EP_BASE};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

const TOKEN_TUN: u64 = 0;
const TOKEN_LISTENER: u64 = 1;
const TOKEN_TIMER: u64 = 2;
const TOKEN_SIGNAL: u64 = 3;
const TOKEN_CLIENT0: u64 = 16;

/// Packets read from the TUN device per wake-up before the loop looks at
/// anything else, so a flood cannot starve the control socket.
const TUN_BATCH: usize = 256;

#[derive(Clone, Debug)]
pub struct Options {
    pub tun: String,
    pub address: (Ipv4Addr, u8),
    pub host_address: (Ipv4Addr, u8),
    pub configure: bool,
    pub mtu: u16,
    pub control: PathBuf,
    pub sysctl_files: Vec<PathBuf>,
    /// --log-level info: say what netd is doing on stderr (journald picks it up).
    pub verbose: bool,
}

/// CLOCK_MONOTONIC as the core's Instant.
fn now() -> Instant {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => Instant::from_micros(ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1000),
        Err(_) => Instant::ZERO,
    }
}

/// Apply sysctl.conf files to a copy of `base`; all or nothing, so a bad
/// line in a reload leaves the running values alone.
pub fn load_sysctl_files(base: &Sysctl, files: &[PathBuf]) -> Result<Sysctl, String> {
    let mut next = base.clone();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot open \"{}\": {e}", f.display()))?;
        for line in sysctl_conf::parse(&text) {
            match line {
                Line::InvalidSyntax(n) => {
                    return Err(format!("{}({n}): invalid syntax", f.display()))
                }
                Line::Setting(s) => {
                    if let Err(e) = next.set(&s.key, &s.value) {
                        if !s.ignore_failure {
                            return Err(format!(
                                "{}({}): setting key \"{}\": {}",
                                f.display(),
                                s.line,
                                s.key,
                                e.errno().message()
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(next)
}

struct Daemon {
    opts: Options,
    stack: Stack,
    tun: tun::Tun,
    listener: UnixListener,
    epoll: Epoll,
    timer: TimerFd,
    clients: HashMap<u64, Client>,
    /// Clients with requests read but not yet served (see `serve_client`).
    busy_clients: std::collections::BTreeSet<u64>,
    /// Socket dumps under way, by client.
    dumps: HashMap<u64, clients::Dump>,
    next_client: u64,
    notifier: Notifier,
    last_watchdog: std::time::Instant,
    endpoints: Endpoints,
    /// Blocking connect()s waiting for their handshake: (client, socket).
    waiters: Vec<(u64, SockRef)>,
    /// Stack sockets to pump this turn, reused (see `Stack::take_wakeups`).
    woken: Vec<netd_core::socket::SocketHandle>,
    /// The last STATUS= sent, and when (at most one a second).
    last_status: (String, std::time::Instant),
    /// When dead endpoints were last checked against /proc/net/unix.
    last_reap: std::time::Instant,
    /// One receive buffer for the TUN device: a virtio-net header and a 64 KB
    /// super-segment, allocated once.
    rx_buf: Vec<u8>,
    /// The deadline the timerfd is armed for.
    armed: Option<Instant>,
    /// netd's RLIMIT_NOFILE (after raising it to the hard limit).
    nofile: u64,
    /// A descriptor held back for answering control connections at EMFILE.
    reserve: limits::Reserve,
    /// The control listener is out of epoll until the next reap tick.
    listener_paused: bool,
    mib: limits::DaemonMib,
    /// Lines about running out of descriptors, about a uid past its share.
    fd_log: limits::RateLog,
    share_log: limits::RateLog,
}

/// How often dead endpoints are checked for a program that went away.
const REAP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Inodes of the unix sockets alive in netd's namespace (/proc/net/unix,
/// column 7), where the program ends of netd's socketpairs are listed.
fn live_unix_inodes() -> Option<std::collections::HashSet<u64>> {
    let text = std::fs::read_to_string("/proc/net/unix").ok()?;
    Some(
        text.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(6)?.parse().ok())
            .collect(),
    )
}

/// What a request produces.
enum Reply {
    Now(Response),
    WithFd(Response, OwnedFd),
    /// Answered later (WaitConnect).
    Later,
    /// A socket dump, answered a chunk at a time (`clients::Dump`).
    Dump {
        processes: bool,
    },
}

fn err(e: Errno) -> Response {
    Response::Error {
        errno: e.code(),
        message: e.message().into(),
    }
}

pub fn run(opts: Options) -> Result<(), String> {
    let mut stack = Stack::new(StackConfig {
        addr: opts.address.0,
        mtu: usize::from(opts.mtu),
        seed: seed(),
    });
    let (nofile_was, nofile) = limits::raise_nofile();
    stack.sysctl.sockets_per_uid = limits::default_sockets_per_uid(nofile);
    stack.sysctl = load_sysctl_files(&stack.sysctl, &opts.sysctl_files)?;
    let tun = tun::Tun::open(&tun::TunConfig {
        name: &opts.tun,
        mtu: opts.mtu,
        host: opts.configure.then_some(opts.host_address),
    })?;
    if tun.offloads {
        stack.set_offloads(netd_core::ip::Offloads {
            tso_max: tun::TSO_MAX,
            tx_csum: true,
        });
    }
    let listener = bind_control(&opts.control)?;
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;
    let timer = TimerFd::new(
        ClockId::CLOCK_MONOTONIC,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )
    .map_err(|e| format!("timerfd: {e}"))?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll: {e}"))?;
    let add = |fd: std::os::fd::BorrowedFd, token: u64| {
        epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .map_err(|e| format!("epoll_ctl: {e}"))
    };
    // SAFETY-free borrow: the Tun owns its fd for the daemon's lifetime.
    let tun_fd =
        unsafe { std::os::fd::BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&tun)) };
    add(tun_fd, TOKEN_TUN)?;
    add(listener.as_fd(), TOKEN_LISTENER)?;
    add(timer.as_fd(), TOKEN_TIMER)?;
    add(signals.as_fd(), TOKEN_SIGNAL)?;
    let notifier = Notifier::from_env();
    let mut d = Daemon {
        opts,
        stack,
        tun,
        listener,
        epoll,
        timer,
        clients: HashMap::new(),
        busy_clients: Default::default(),
        dumps: HashMap::new(),
        next_client: TOKEN_CLIENT0,
        notifier,
        last_watchdog: std::time::Instant::now(),
        endpoints: Endpoints::new(seed()),
        waiters: Vec::new(),
        woken: Vec::new(),
        last_status: (String::new(), std::time::Instant::now()),
        last_reap: std::time::Instant::now(),
        rx_buf: vec![0u8; tun::VNET_HDR_LEN + 65_536],
        armed: None,
        nofile,
        reserve: limits::Reserve::new(),
        listener_paused: false,
        mib: limits::DaemonMib::default(),
        fd_log: limits::RateLog::new(limits::LOG_EVERY),
        share_log: limits::RateLog::new(limits::LOG_EVERY),
    };
    if nofile_was != nofile {
        eprintln!("netd: raised RLIMIT_NOFILE from {nofile_was} to its hard limit {nofile}");
    } else {
        eprintln!("netd: RLIMIT_NOFILE is {nofile} (soft = hard)");
    }
    if d.opts.verbose {
        eprintln!(
            "netd: {} up as {}/{}, control socket {}",
            d.opts.tun,
            d.opts.address.0,
            d.opts.address.1,
            d.opts.control.display()
        );
    }
    d.notifier.send(&format!(
        "READY=1\nSTATUS=netd on {} ({}), control {}",
        d.opts.tun,
        d.opts.address.0,
        d.opts.control.display()
    ));
    let result = d.event_loop(&signals);
    d.notifier.send("STOPPING=1");
    if d.opts.verbose {
        eprintln!(
            "netd: stopping; {} libnet sockets closed",
            d.endpoints.len()
        );
    }
    // Programs see EOF/EPIPE on their sockets; peers get RSTs.
    d.endpoints.clear();
    d.stack.abort_all(now());
    d.flush_tun();
    let _ = std::fs::remove_file(&d.opts.control);
    result
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        return now().as_micros() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

fn bind_control(path: &std::path::Path) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
    }
    // A stale socket from a crash would make bind() fail with EADDRINUSE.
    if std::fs::symlink_metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_socket()
    }) {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("control socket: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    Ok(listener)
}

impl Daemon {
    fn event_loop(&mut self, signals: &SignalFd) -> Result<(), String> {
        let mut events = vec![EpollEvent::empty(); 64];
        let mut worked = false;
        loop {
            self.arm_timer();
            let n = match self.wait(&mut events, worked) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("epoll_wait: {e}")),
            };
            worked = n > 0;
            let mut stop = false;
            for ev in &events[..n] {
                match ev.data() {
                    TOKEN_TUN => self.read_tun(),
                    TOKEN_LISTENER => self.accept_clients(),
                    TOKEN_TIMER => {
                        // The fd is non-blocking: this only consumes the expiry count.
                        let _ = self.timer.wait();
                        // A one-shot timer that fired is disarmed.
                        self.armed = None;
                    }
                    TOKEN_SIGNAL => {
                        while let Ok(Some(info)) = signals.read_signal() {
                            match Signal::try_from(info.ssi_signo as i32) {
                                Ok(Signal::SIGHUP) => self.reload(),
                                Ok(_) => stop = true,
                                Err(_) => {}
                            }
                        }
                    }
                    token if token >= EP_BASE => {
                        let id = (token - EP_BASE) as u32;
                        self.endpoints.on_event(
                            id,
                            ev.events(),
                            &mut self.stack,
                            now(),
                            &self.epoll,
                        );
                    }
                    token => self.service_client(token, ev.events()),
                }
            }
            self.serve_busy_clients();
            self.stack.poll(now());
            self.pump_endpoints();
            self.answer_waiters();
            self.flush_tun();
            self.watchdog();
            self.reap_and_reclaim();
            self.status();
            if stop {
                return Ok(());
            }
        }
    }

    /// Wait for events. After a turn that had some (`worked`), and with
    /// `net.core.busy_poll` set, first poll without sleeping for up to that
    /// many microseconds, yielding the CPU between polls (Linux's busy loop
    /// likewise stops at need_resched()). A packet or a program's write that
    /// arrives within the window then costs no wake-up of netd, which is
    /// most of what a short exchange costs on a machine whose idle CPUs
    /// halt; the price is CPU time spent polling, as in Linux. An idle netd
    /// does not poll: the window opens only after work.
    fn wait(&self, events: &mut [EpollEvent], worked: bool) -> nix::Result<usize> {
        let busy_us = u64::try_from(self.stack.sysctl.busy_poll).unwrap_or(0);
        if worked && busy_us > 0 {
            let until = std::time::Instant::now() + std::time::Duration::from_micros(busy_us);
            loop {
                let n = self.epoll.wait(events, EpollTimeout::ZERO)?;
                if n > 0 || std::time::Instant::now() >= until {
                    return Ok(n);
                }
                // SAFETY: sched_yield takes no arguments and cannot fail on Linux.
                unsafe { nix::libc::sched_yield() };
            }
        }
        self.epoll.wait(events, self.epoll_timeout())
    }

    /// Move data for every socket the stack touched; pumping can touch more
    /// (an ACK opens the window), so repeat until quiet, bounded.
    fn pump_endpoints(&mut self) {
        let mut woken = std::mem::take(&mut self.woken);
        for _ in 0..8 {
            self.stack.take_wakeups(&mut woken);
            if woken.is_empty() {
                break;
            }
            let t = now();
            for &h in &woken {
                self.endpoints.wake(h, &mut self.stack, t, &self.epoll);
            }
            self.stack.poll(t);
        }
        self.woken = woken;
    }

    /// Reply to blocking connect()s whose handshake is over.
    fn answer_waiters(&mut self) {
        let mut i = 0;
        while i < self.waiters.len() {
            let (client, sock) = self.waiters[i];
            let resp = match self.endpoints.get(sock) {
                Err(e) => Some(err(e)),
                Ok(ep) => {
                    let h = ep.handle;
                    match self.stack.tcp_state(h) {
                        Some(State::SynSent) | Some(State::SynRcvd) => None,
                        _ => Some(self.connect_outcome(sock)),
                    }
                }
            };
            match resp {
                Some(r) => {
                    self.waiters.swap_remove(i);
                    if let Some(c) = self.clients.get_mut(&client) {
                        c.reply(&r);
                    }
                    self.write_client(client);
                }
                None => i += 1,
            }
        }
    }

    fn epoll_timeout(&self) -> EpollTimeout {
        // Requests are waiting to be served: look at the world, then go on.
        if !self.busy_clients.is_empty() {
            return EpollTimeout::ZERO;
        }
        // With libnet sockets open, wake once a second for the reaper (one
        // cheap wakeup; scanning for dead ones on every event would not be).
        // With control clients, the same once-a-second turn drops stuck ones.
        let reap = (!self.endpoints.is_empty() || !self.clients.is_empty()).then_some(REAP_EVERY);
        match (self.notifier.watchdog_every, reap) {
            (None, None) => EpollTimeout::NONE,
            (a, b) => {
                let d = a.into_iter().chain(b).min().unwrap_or(REAP_EVERY);
                EpollTimeout::from(d.as_millis().min(60_000) as u16)
            }
        }
    }

    /// Once a second: give back the buffers of connections idle for a second,
    /// and free dead endpoints whose program end no longer exists (see
    /// `Endpoints::reap_dead`), when some are dead.
    fn reap_and_reclaim(&mut self) {
        if self.last_reap.elapsed() < REAP_EVERY {
            return;
        }
        self.last_reap = std::time::Instant::now();
        self.drop_stuck_clients();
        self.resume_listener();
        self.endpoints
            .retry_starved(&mut self.stack, now(), &self.epoll);
        self.stack.reclaim_idle_buffers(now(), REAP_EVERY);
        if !self.endpoints.has_dead() {
            return;
        }
        if let Some(live) = live_unix_inodes() {
            let n = self.endpoints.reap_dead(&live, &mut self.stack, now());
            if n > 0 && self.opts.verbose {
                eprintln!("netd: released {n} socket(s) of programs that exited without closing");
            }
        }
    }

    /// Ping the systemd watchdog from the packet loop, so a stuck stack stops pinging.
    fn watchdog(&mut self) {
        if let Some(every) = self.notifier.watchdog_every {
            if self.last_watchdog.elapsed() >= every {
                self.notifier.send("WATCHDOG=1");
                self.last_watchdog = std::time::Instant::now();
            }
        }
    }

    /// STATUS= for `systemctl status`: connection counts, when they change, at most once a second.
    fn status(&mut self) {
        // Counting connections walks every socket: not on every loop turn.
        if self.last_status.1.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        let status = format!(
            "{} established connections, {} libnet sockets, control {}",
            self.stack.curr_estab(),
            self.endpoints.len(),
            self.opts.control.display()
        );
        if status != self.last_status.0 {
            self.notifier.send(&format!("STATUS={status}"));
            self.last_status.0 = status;
        }
        self.last_status.1 = std::time::Instant::now();
    }

    /// Arm the timerfd at the stack's next deadline, lazily: a syscall only
    /// when the deadline comes earlier than the armed one. A later or
    /// cancelled deadline leaves the timer as it is, and its early expiry
    /// costs one idle loop turn, which re-arms it; so the delayed-ACK and
    /// retransmission timers that every request/response moves cost no
    /// timerfd_settime() on the way.
    fn arm_timer(&mut self) {
        let Some(next) = self.stack.next_deadline() else {
            return;
        };
        if self.armed.is_some_and(|armed| armed <= next) {
            return;
        }
        self.armed = Some(next);
        let us = next.as_micros().max(1);
        let ts = TimeSpec::new((us / 1_000_000) as i64, ((us % 1_000_000) * 1000) as i64);
        let _ = self.timer.set(
            Expiration::OneShot(ts),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        );
    }

    /// Read every packet that is ready (up to TUN_BATCH) before anything is
    /// sent: ACKs and window updates go out once, after the batch.
    fn read_tun(&mut self) {
        let t = now();
        for _ in 0..TUN_BATCH {
            match self.tun.recv(&mut self.rx_buf) {
                // netd speaks IPv4 only; the kernel's IPv6 chatter on the link
                // (router solicitations, MLD) is not an IPv4 header error.
                Ok((start, end, _)) if end > start && self.rx_buf[start] >> 4 == 6 => {}
                Ok((start, end, info)) => {
                    self.stack
                        .receive_offloaded(t, &self.rx_buf[start..end], info.csum_ok)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::InvalidData => continue,
                Err(_) => break,
            }
        }
    }

    fn flush_tun(&mut self) {
        while let Some(pkt) = self.stack.poll_transmit_packet() {
            if self.tun.send(&pkt).is_err() {
                self.stack.mib.ip.out_discards += 1;
            }
            self.stack.recycle(pkt.data);
        }
    }

    fn reload(&mut self) {
        // systemd >= 253 pairs RELOADING=1 with the sender's CLOCK_MONOTONIC
        // time and ignores the message without it (sd_notify(3) MONOTONIC_USEC=).
        self.notifier.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            now().as_micros()
        ));
        match load_sysctl_files(&self.stack.sysctl, &self.opts.sysctl_files) {
            Ok(s) => {
                self.stack.sysctl = s;
                if self.opts.verbose {
                    eprintln!("netd: reloaded tunables");
                }
                self.notifier.send("READY=1\nSTATUS=reloaded tunables");
            }
            Err(e) => {
                eprintln!("netd: reload rejected, tunables unchanged: {e}");
                self.notifier
                    .send(&format!("READY=1\nSTATUS=reload rejected: {e}"));
            }
        }
    }

    /// Who holds each libnet socket, found as ss finds it: by scanning
    /// /proc/PID/fd for the socketpair ends' inodes.
    fn socket_users(&self) -> HashMap<netd_core::socket::SocketHandle, Vec<(String, i32, i32)>> {
        let inodes = self.endpoints.inodes();
        let mut users: HashMap<netd_core::socket::SocketHandle, Vec<(String, i32, i32)>> =
            HashMap::new();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return users;
        };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                continue;
            };
            let comm = std::fs::read_to_string(p.path().join("comm"))
                .unwrap_or_default()
                .trim()
                .to_string();
            for fd in fds.flatten() {
                let Ok(link) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let Some(ino) = link
                    .to_str()
                    .and_then(|l| l.strip_prefix("socket:["))
                    .and_then(|l| l.strip_suffix(']'))
                    .and_then(|l| l.parse::<u64>().ok())
                else {
                    continue;
                };
                if let (Some(h), Some(n)) = (
                    inodes.get(&ino),
                    fd.file_name().to_str().and_then(|n| n.parse().ok()),
                ) {
                    users.entry(*h).or_default().push((comm.clone(), pid, n));
                }
            }
        }
        users
    }

    fn handle_admin(&mut self, uid: u32, req: Request) -> Response {
        let denied = |what: &str| Response::Error {
            errno: nix::libc::EPERM,
            message: format!("permission denied on key \"{what}\""),
        };
        match req {
            Request::Hello { .. } => Response::Error {
                errno: nix::libc::EPROTO,
                message: "already greeted".into(),
            },
            Request::SysctlGet { name } => match self.stack.sysctl.get(&name) {
                Ok(v) => Response::Value(v),
                Err(e) => sysctl_error(&name, e),
            },
            Request::SysctlAll => Response::Sysctl(
                self.stack
                    .sysctl
                    .all()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
            Request::SysctlSet { name, value } => {
                if uid != 0 {
                    return denied(&name);
                }
                match self.stack.sysctl.set(&name, &value) {
                    Ok(()) => Response::Ok,
                    Err(e) => sysctl_error(&name, e),
                }
            }
            Request::Counters => Response::Counters(
                self.stack
                    .counter_lines()
                    .into_iter()
                    .chain(
                        self.mib
                            .lines(self.endpoints.sockets_refused, self.endpoints.accept_stalls),
                    )
                    .map(|(section, name, value)| Counter {
                        section: section.into(),
                        name: name.into(),
                        value,
                    })
                    .collect(),
            ),
            Request::SockStat => Response::SockStat(netd_proto::SockStat {
                sockets_used: self.endpoints.held() as u64,
                ..self.stack.sockstat()
            }),
            Request::Reload => {
                if uid != 0 {
                    return denied("reload");
                }
                match load_sysctl_files(&self.stack.sysctl, &self.opts.sysctl_files) {
                    Ok(s) => {
                        self.stack.sysctl = s;
                        Response::Ok
                    }
                    Err(e) => Response::Error {
                        errno: nix::libc::EINVAL,
                        message: e,
                    },
                }
            }
            _ => Response::Error {
                errno: nix::libc::EPROTO,
                message: "unexpected request".into(),
            },
        }
    }
}

fn sysctl_error(name: &str, e: netd_core::sysctl::SysctlError) -> Response {
    use netd_core::sysctl::SysctlError;
    let message = match e {
        SysctlError::UnknownKey => format!(
            "cannot stat /proc/sys/{}: No such file or directory",
            name.replace('.', "/")
        ),
        SysctlError::Invalid => format!("setting key \"{name}\": Invalid argument"),
        SysctlError::NoSuchAlgorithm => {
            format!("setting key \"{name}\": No such file or directory")
        }
    };
    Response::Error {
        errno: e.errno().code(),
        message,
    }
}
