//! netd on a real TUN device with the Linux kernel as the peer (needs root;
//! each test builds and removes its own network namespace).

mod support;
use netd_proto::client::{ClientError, ControlClient};
use netd_proto::codec;
use netd_proto::{Request, Response, PROTOCOL_VERSION};
use nix::sys::signal::Signal;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use support::*;

#[test]
fn kernel_pings_netd_and_the_replies_are_counted() {
    let ns = Netns::new("ping");
    let netd = Netd::start(&ns, &[]);
    let out = ns.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", NETD_ADDR]);
    assert!(
        out.status.success(),
        "ping failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 received"));
    assert_eq!(netd.counter("Icmp", "InEchos"), 3);
    assert_eq!(netd.counter("Icmp", "OutEchoReps"), 3);
    // netd raised the device's transmit queue so bursts are not dropped.
    let link = ns.exec(&["ip", "link", "show", "netd0"]);
    assert!(String::from_utf8_lossy(&link.stdout).contains("qlen 10000"));
}

#[test]
fn icmp_echo_ignore_all_set_over_the_control_socket_silences_ping() {
    let ns = Netns::new("noping");
    let netd = Netd::start(&ns, &[]);
    let mut c = netd.client();
    let set = Request::SysctlSet {
        name: "net.ipv4.icmp_echo_ignore_all".into(),
        value: "1".into(),
    };
    assert_eq!(c.request(&set).unwrap(), Response::Ok);
    let out = ns.exec(&["ping", "-c", "1", "-W", "1", NETD_ADDR]);
    assert!(!out.status.success(), "no reply expected");
    assert_eq!(netd.counter("Icmp", "InEchos"), 1);
    assert_eq!(netd.counter("Icmp", "OutEchoReps"), 0);
}

#[test]
fn control_socket_is_0660_and_removed_on_sigterm() {
    let ns = Netns::new("term");
    let mut netd = Netd::start(&ns, &[]);
    let mode = std::fs::metadata(&netd.control)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
    netd.signal(Signal::SIGTERM);
    let st = netd
        .wait_exit(Duration::from_secs(10))
        .expect("netd exits on SIGTERM");
    assert!(st.success());
    assert!(!exists(&netd.control), "control socket removed");
    assert!(netd.notify_log.iter().any(|m| m.contains("READY=1")));
    assert!(
        netd.wait_notify("STOPPING=1", Duration::from_secs(2))
            || netd.notify_log.iter().any(|m| m.contains("STOPPING=1"))
    );
}

#[test]
fn sysctl_files_load_at_start_and_reload_on_sighup_all_or_nothing() {
    let ns = Netns::new("hup");
    let file = ns.dir.join("50-netd.conf");
    std::fs::write(&file, "# test\nnet.ipv4.tcp_sack = 0\n").unwrap();
    let f = file.to_string_lossy().into_owned();
    let mut netd = Netd::start(&ns, &["--sysctl-file", &f]);
    let get = Request::SysctlGet {
        name: "net.ipv4.tcp_sack".into(),
    };
    assert_eq!(
        netd.client().request(&get).unwrap(),
        Response::Value("0".into())
    );
    std::fs::write(
        &file,
        "net.ipv4.tcp_sack = 1\nnet.ipv4.tcp_fin_timeout = 30\n",
    )
    .unwrap();
    netd.signal(Signal::SIGHUP);
    assert!(netd.wait_notify("RELOADING=1\nMONOTONIC_USEC=", Duration::from_secs(10)));
    assert!(netd.wait_notify("READY=1", Duration::from_secs(10)));
    assert_eq!(
        netd.client().request(&get).unwrap(),
        Response::Value("1".into())
    );
    // A bad line rejects the whole file: nothing changes.
    std::fs::write(&file, "net.ipv4.tcp_sack = 0\nnet.ipv4.tcp_tw_reuse = 7\n").unwrap();
    netd.signal(Signal::SIGHUP);
    assert!(netd.wait_notify("reload rejected", Duration::from_secs(10)));
    assert_eq!(
        netd.client().request(&get).unwrap(),
        Response::Value("1".into())
    );
}

#[test]
fn a_malformed_frame_closes_only_that_client() {
    let ns = Netns::new("junk");
    let netd = Netd::start(&ns, &[]);
    let mut good = netd.client();
    let mut bad = netd.client();
    bad.send_raw(&[5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff])
        .unwrap();
    match bad.read_response() {
        Ok(Response::Error { errno, .. }) => assert_eq!(errno, nix::libc::EPROTO),
        other => panic!("expected an error reply, got {other:?}"),
    }
    assert!(matches!(
        bad.read_response(),
        Err(ClientError::Disconnected)
    ));
    // An absurd length prefix too.
    let mut huge = netd.client();
    huge.send_raw(&u32::MAX.to_le_bytes()).unwrap();
    assert!(matches!(huge.read_response(), Ok(Response::Error { .. })));
    // The well-behaved client is unaffected.
    let get = Request::SysctlGet {
        name: "net.core.somaxconn".into(),
    };
    assert_eq!(good.request(&get).unwrap(), Response::Value("4096".into()));
}

#[test]
fn another_protocol_version_is_refused_clearly() {
    let ns = Netns::new("ver");
    let netd = Netd::start(&ns, &[]);
    let mut raw = netd.client();
    // A second Hello on a greeted connection is an error, not a crash.
    let again = raw
        .request(&Request::Hello {
            version: PROTOCOL_VERSION,
            client: "x".into(),
        })
        .unwrap();
    assert!(matches!(again, Response::Error { .. }));
    let mut s = std::os::unix::net::UnixStream::connect(&netd.control).unwrap();
    let mut frame = Vec::new();
    codec::encode(
        &Request::Hello {
            version: PROTOCOL_VERSION + 1,
            client: "future".into(),
        },
        &mut frame,
    )
    .unwrap();
    std::io::Write::write_all(&mut s, &frame).unwrap();
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut buf).unwrap();
    match codec::decode::<Response>(&mut buf).unwrap() {
        Some(Response::Error { errno, message }) => {
            assert_eq!(errno, nix::libc::EPROTONOSUPPORT);
            assert!(message.contains("version"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_daemon_is_a_clear_error_not_a_hang() {
    let dir = std::env::temp_dir().join(format!("netd-none-{}", std::process::id()));
    let err = ControlClient::connect(&dir.join("netd.sock"), "e2e")
        .err()
        .expect("no daemon");
    assert!(matches!(err, ClientError::NoSocket(_)));
    assert!(err.to_string().contains("is netd running"));
}

#[test]
fn unknown_key_and_invalid_value_get_procps_messages() {
    let ns = Netns::new("keys");
    let netd = Netd::start(&ns, &[]);
    let mut c = netd.client();
    match c
        .request(&Request::SysctlGet {
            name: "net.ipv4.tcp_tw_recycle".into(),
        })
        .unwrap()
    {
        Response::Error { errno, message } => {
            assert_eq!(errno, nix::libc::ENOENT);
            assert_eq!(
                message,
                "cannot stat /proc/sys/net/ipv4/tcp_tw_recycle: No such file or directory"
            );
        }
        other => panic!("{other:?}"),
    }
    match c
        .request(&Request::SysctlSet {
            name: "net.ipv4.tcp_tw_reuse".into(),
            value: "3".into(),
        })
        .unwrap()
    {
        Response::Error { errno, message } => {
            assert_eq!(errno, nix::libc::EINVAL);
            assert_eq!(
                message,
                "setting key \"net.ipv4.tcp_tw_reuse\": Invalid argument"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A supervisor that stops reading its notify socket (its queue full at
/// net.unix.max_dgram_qlen, 10 in a new namespace) must not stop netd:
/// netd's sends do not wait. Here the watchdog pings every 100 ms and
/// nobody reads after READY=1; netd used to block in sendto() after ten.
#[test]
fn a_notify_socket_nobody_reads_never_blocks_netd() {
    let ns = Netns::new("notifyfull");
    let netd = Netd::start_env(&ns, &[], &[("WATCHDOG_USEC", "200000")]);
    std::thread::sleep(Duration::from_secs(3));
    let out = ns.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", NETD_ADDR]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 received"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let get = Request::SysctlGet {
        name: "net.core.somaxconn".into(),
    };
    assert_eq!(
        netd.client().request(&get).unwrap(),
        Response::Value("4096".into())
    );
}

#[test]
fn watchdog_pings_come_from_the_loop_when_systemd_asks() {
    let ns = Netns::new("watchdog");
    let notify_path = ns.dir.join("notify.sock");
    let control = ns.dir.join("netd.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let ctl = control.to_string_lossy().into_owned();
    let mut child = ns
        .command(&[env!("CARGO_BIN_EXE_netd"), "--control", &ctl])
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "400000")
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 512];
    while std::time::Instant::now() < end
        && seen
            .iter()
            .filter(|m: &&String| m.contains("WATCHDOG=1"))
            .count()
            < 3
    {
        if let Ok(n) = notify.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().any(|m| m.starts_with("READY=1")), "{seen:?}");
    assert!(
        seen.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 3,
        "{seen:?}"
    );
}

/// CPU time (utime + stime, in clock ticks) of process `pid`.
/// net.core.busy_poll: after traffic netd keeps polling for the window
/// (CPU time spent) and then sleeps (none spent while idle); the pings in
/// between are all answered. Generous bounds for a shared machine: a 300 ms
/// window must show at least 20 ms of CPU, a quiet second at most 50 ms.
#[test]
fn busy_poll_window_spends_cpu_after_traffic_and_none_when_idle() {
    let ns = Netns::new("busypoll");
    // No IPv6 chatter from the kernel (router solicitations) to open a window.
    for conf in ["all", "default"] {
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{conf}.disable_ipv6=1"),
        ]);
    }
    let netd = Netd::start(&ns, &[]);
    let pid = netd.child.id();
    let mut c = netd.client();
    let set = Request::SysctlSet {
        name: "net.core.busy_poll".into(),
        value: "300000".into(),
    };
    assert_eq!(c.request(&set).unwrap(), Response::Ok);
    drop(c);
    std::thread::sleep(Duration::from_millis(500));
    let quiet = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_ticks(pid) - quiet;
    let out = ns.exec(&["ping", "-c", "1", "-W", "2", NETD_ADDR]);
    assert!(out.status.success(), "ping answered");
    let t0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(700));
    let polling = cpu_ticks(pid) - t0;
    std::thread::sleep(Duration::from_millis(400));
    let t1 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let after = cpu_ticks(pid) - t1;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    let ms = |ticks: u64| ticks * 1000 / hz;
    assert!(
        ms(idle) <= 50,
        "idle netd used {} ms of CPU in 1 s",
        ms(idle)
    );
    assert!(
        ms(polling) >= 20,
        "a 300 ms busy-poll window used only {} ms",
        ms(polling)
    );
    assert!(
        ms(after) <= 50,
        "after the window netd used {} ms in 1 s",
        ms(after)
    );
    assert_eq!(netd.counter("Icmp", "OutEchoReps"), 1);
}

/// Two kernel clients, each reading once: "reset", "eof", "data" or "timeout".
const TWO_READERS: &str = r#"
import socket, sys
cs = [socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10) for _ in range(2)]
print("connected", flush=True)
for c in cs:
    try:
        print("eof" if c.recv(1) == b"" else "data", flush=True)
    except ConnectionResetError:
        print("reset", flush=True)
    except socket.timeout:
        print("timeout", flush=True)
"#;

/// A listener closed with its accept records unread (the program said so
/// with CloseHint) resets every connection still in its accept queue, as
/// Linux's close of a listener does (`inet_csk_listen_stop()`). The program
/// here takes the connections' descriptors out of the records and keeps
/// them, so nothing but the listener's close can end those connections.
/// netd used to drop such a listener alone: its connections stayed
/// established, and the clients waited for ever.
#[test]
fn closing_a_listener_with_records_unread_resets_its_queued_connections() {
    use netd_proto::{WireAddr, ACCEPT_RECORD};
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;

    let ns = Netns::new("lstabort");
    let netd = Netd::start(&ns, &[]);
    let mut program = Program::connect(&netd);
    let Response::Socket { sock } = program.call(&Request::Socket { stream: true }) else {
        panic!("no socket");
    };
    let addr = WireAddr {
        ip: [10, 77, 0, 2],
        port: 7300,
    };
    assert_eq!(program.call(&Request::Bind { sock, addr }), Response::Ok);
    let listen = Request::Listen { sock, backlog: 16 };
    assert_eq!(program.call(&listen), Response::Ok);
    let script = ns.command(&["python3", "-c", TWO_READERS, NETD_ADDR, "7300"]);
    let (mut clients, mut out) = spawn_until(script, "connected");

    // Take both connections' descriptors from the listener's records,
    // sending no receipt: they stay in netd's accept queue.
    let fd = program.socks[0]
        .1
        .take()
        .expect("the listener's descriptor");
    let listener = UnixStream::from(fd);
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut children: Vec<OwnedFd> = Vec::new();
    let mut records = 0;
    while children.len() < 2 {
        let mut buf = [0u8; ACCEPT_RECORD];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            listener.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .expect("an accept record");
        assert_eq!(msg.bytes, ACCEPT_RECORD, "a whole record");
        records += 1;
        for c in msg.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel just installed these descriptors for us.
                children.extend(
                    fds.into_iter()
                        .map(|raw| unsafe { OwnedFd::from_raw_fd(raw) }),
                );
            }
        }
        assert!(records <= 2, "more records than connections");
    }

    let hint = Request::CloseHint { sock, unread: true };
    assert_eq!(program.call(&hint), Response::Ok);
    drop(listener);
    assert_eq!(next_line(&mut out), "reset", "first client");
    assert_eq!(next_line(&mut out), "reset", "second client");
    assert!(clients.wait().expect("wait").success());
    drop(children);
    // Nothing of port 7300 is left in netd (an RST leaves no TIME-WAIT).
    let mut left = usize::MAX;
    for _ in 0..50 {
        let rows = netd.client().sockets(false).expect("the socket list");
        left = rows.iter().filter(|r| r.local.port == 7300).count();
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(left, 0, "sockets on port 7300 left in netd");
}
