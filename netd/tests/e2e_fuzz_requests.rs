//! Random socket calls from one program to a live netd: whatever it asks, in
//! whatever order, on its own sockets or made-up ones, netd answers every
//! request and keeps serving another client (needs root: its own network
//! namespace and TUN device). Traffic goes only to the namespace's two
//! addresses, and every run is a bounded number of requests.

mod support;
use netd_proto::sockopt::{SockOpt, SockOptName};
use netd_proto::{Request, Response, SockRef, WireAddr};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use support::*;

/// One call, naming its socket by index into those created so far (or,
/// past the end, a made-up reference netd never issued).
#[derive(Clone, Debug)]
enum Op {
    Socket(bool),
    Bind(usize, u8, u16),
    Listen(usize, i32),
    Connect(usize, u8, u16),
    Shutdown(usize, u8),
    CloseHint(usize, bool),
    SetOpt(usize, SockOpt),
    GetOpt(usize, SockOptName),
    LocalAddr(usize),
    PeerAddr(usize),
    TakeError(usize),
    /// The program closes its descriptor of that socket.
    Close(usize),
    Sockets(bool),
    SockStat,
}

fn sock_opt() -> impl Strategy<Value = SockOpt> {
    prop_oneof![
        any::<bool>().prop_map(SockOpt::ReuseAddr),
        any::<bool>().prop_map(SockOpt::KeepAlive),
        proptest::option::of(any::<u32>()).prop_map(SockOpt::Linger),
        any::<i32>().prop_map(SockOpt::RcvBuf),
        any::<i32>().prop_map(SockOpt::SndBuf),
        any::<bool>().prop_map(SockOpt::NoDelay),
        any::<bool>().prop_map(SockOpt::QuickAck),
        any::<i32>().prop_map(SockOpt::MaxSeg),
        any::<i32>().prop_map(SockOpt::SynCnt),
        any::<i32>().prop_map(SockOpt::UserTimeout),
        any::<i32>().prop_map(SockOpt::KeepIdle),
        any::<i32>().prop_map(SockOpt::KeepIntvl),
        any::<i32>().prop_map(SockOpt::KeepCnt),
    ]
}

fn opt_name() -> impl Strategy<Value = SockOptName> {
    use SockOptName::*;
    proptest::sample::select(vec![
        ReuseAddr,
        KeepAlive,
        Linger,
        RcvBuf,
        SndBuf,
        Error,
        Type,
        AcceptConn,
        NoDelay,
        QuickAck,
        MaxSeg,
        SynCnt,
        UserTimeout,
        KeepIdle,
        KeepIntvl,
        KeepCnt,
    ])
}

/// Ports that matter (any, a closed one, one the ops may listen on) and any.
fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(0u16),
        Just(9u16),
        Just(7000u16),
        Just(7001u16),
        any::<u16>()
    ]
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly sockets the program has (each case starts with three).
    let i = 0usize..7;
    prop_oneof![
        3 => any::<bool>().prop_map(Op::Socket),
        2 => (i.clone(), 0u8..4, port()).prop_map(|(s, a, p)| Op::Bind(s, a, p)),
        2 => (i.clone(), prop_oneof![Just(0), Just(1), Just(128), any::<i32>()])
            .prop_map(|(s, b)| Op::Listen(s, b)),
        2 => (i.clone(), 0u8..4, port()).prop_map(|(s, a, p)| Op::Connect(s, a, p)),
        1 => (i.clone(), any::<u8>()).prop_map(|(s, h)| Op::Shutdown(s, h)),
        1 => (i.clone(), any::<bool>()).prop_map(|(s, u)| Op::CloseHint(s, u)),
        1 => (i.clone(), sock_opt()).prop_map(|(s, o)| Op::SetOpt(s, o)),
        1 => (i.clone(), opt_name()).prop_map(|(s, n)| Op::GetOpt(s, n)),
        1 => i.clone().prop_map(Op::LocalAddr),
        1 => i.clone().prop_map(Op::PeerAddr),
        1 => i.clone().prop_map(Op::TakeError),
        1 => i.prop_map(Op::Close),
        1 => any::<bool>().prop_map(Op::Sockets),
        1 => Just(Op::SockStat),
    ]
}

/// Only the namespace's own addresses (and two netd does not have).
fn addr(which: u8, port: u16) -> WireAddr {
    let ip = match which {
        0 => [0, 0, 0, 0],
        1 => [10, 77, 0, 2],
        2 => [10, 77, 0, 1],
        _ => [127, 0, 0, 1],
    };
    WireAddr { ip, port }
}

impl Program {
    /// The socket an op names: one of ours, or a reference netd never issued.
    fn sock(&self, i: usize) -> SockRef {
        match self.socks.get(i) {
            Some((s, _)) => *s,
            None => SockRef {
                id: i as u32 + 1,
                token: 0x5eed_0000 + i as u64,
            },
        }
    }

    fn run(&mut self, op: &Op) {
        let req = match *op {
            Op::Socket(stream) => Request::Socket { stream },
            Op::Bind(i, a, p) => Request::Bind {
                sock: self.sock(i),
                addr: addr(a, p),
            },
            Op::Listen(i, backlog) => Request::Listen {
                sock: self.sock(i),
                backlog,
            },
            Op::Connect(i, a, p) => Request::Connect {
                sock: self.sock(i),
                addr: addr(a, p),
                plug: 0,
            },
            Op::Shutdown(i, how) => Request::Shutdown {
                sock: self.sock(i),
                how,
            },
            Op::CloseHint(i, unread) => Request::CloseHint {
                sock: self.sock(i),
                unread,
            },
            Op::SetOpt(i, opt) => Request::SetOpt {
                sock: self.sock(i),
                opt,
            },
            Op::GetOpt(i, name) => Request::GetOpt {
                sock: self.sock(i),
                name,
            },
            Op::LocalAddr(i) => Request::LocalAddr { sock: self.sock(i) },
            Op::PeerAddr(i) => Request::PeerAddr { sock: self.sock(i) },
            Op::TakeError(i) => Request::TakeError { sock: self.sock(i) },
            Op::Close(i) => {
                if let Some((_, fd)) = self.socks.get_mut(i) {
                    fd.take();
                }
                return;
            }
            Op::Sockets(processes) => Request::Sockets { processes },
            Op::SockStat => Request::SockStat,
        };
        let resp = self.call(&req);
        if let Response::Error { errno, message } = &resp {
            assert!(*errno > 0, "{req:?}: errno {errno}");
            assert!(!message.is_empty(), "{req:?}: an error without words");
        }
    }
}

#[test]
fn random_socket_calls_leave_netd_serving_everyone() {
    let ns = Netns::new("fuzzreq");
    let mut netd = Netd::start(&ns, &[]);
    let mut other = netd.client();
    // One netd for every case, so state left by one program meets the next;
    // no shrinking (it would replay against that state): a failure names
    // the request that got no answer or a bad one.
    let mut runner = TestRunner::new(Config::default());
    let ops = proptest::collection::vec(op(), 1..60);
    for _ in 0..40 {
        let ops = ops.new_tree(&mut runner).expect("ops").current();
        let mut program = Program::connect(&netd);
        let start = [Op::Socket(true), Op::Socket(true), Op::Socket(false)];
        for op in start.iter().chain(&ops) {
            program.run(op);
        }
        // Another client, connected all along, is still answered.
        let get = Request::SysctlGet {
            name: "net.core.somaxconn".into(),
        };
        assert!(
            matches!(other.request(&get), Ok(Response::Value(_))),
            "the other client lost netd after {ops:?}"
        );
    }
    assert!(
        netd.child.try_wait().expect("wait").is_none(),
        "netd exited"
    );
    // Every program is gone; netd answers a fresh client too.
    assert!(netd.client().sockets(true).is_ok());
    assert!(matches!(
        netd.client().request(&Request::SockStat),
        Ok(Response::SockStat(_))
    ));
}
