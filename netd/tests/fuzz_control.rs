//! Property tests for what netd parses besides packets: control-protocol
//! frames from any local program, `sysctl -w` values, and sysctl.conf files.
//! No input may panic netd, and a refused tunable changes nothing.

use netd_core::sysctl::Sysctl;
use netd_proto::codec::{self, CodecError};
use netd_proto::sysctl_conf::{self, Line};
use netd_proto::{Request, Response, SockRef, WireAddr};
use proptest::prelude::*;

fn sock_ref() -> impl Strategy<Value = SockRef> {
    (any::<u32>(), any::<u64>()).prop_map(|(id, token)| SockRef { id, token })
}

fn wire_addr() -> impl Strategy<Value = WireAddr> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| WireAddr { ip, port })
}

/// Requests of every shape that carries fields, with any values in them.
fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u32>(), ".{0,12}").prop_map(|(version, client)| Request::Hello { version, client }),
        ".{0,40}".prop_map(|name| Request::SysctlGet { name }),
        (".{0,40}", ".{0,20}").prop_map(|(name, value)| Request::SysctlSet { name, value }),
        Just(Request::SysctlAll),
        Just(Request::Counters),
        any::<bool>().prop_map(|processes| Request::Sockets { processes }),
        Just(Request::SockStat),
        any::<bool>().prop_map(|stream| Request::Socket { stream }),
        (sock_ref(), wire_addr()).prop_map(|(sock, addr)| Request::Bind { sock, addr }),
        (sock_ref(), any::<i32>()).prop_map(|(sock, backlog)| Request::Listen { sock, backlog }),
        (sock_ref(), wire_addr(), any::<u32>()).prop_map(|(sock, addr, plug)| Request::Connect {
            sock,
            addr,
            plug
        }),
        (sock_ref(), any::<u8>()).prop_map(|(sock, how)| Request::Shutdown { sock, how }),
        (sock_ref(), any::<bool>()).prop_map(|(sock, unread)| Request::CloseHint { sock, unread }),
        sock_ref().prop_map(|sock| Request::TakeError { sock }),
    ]
}

/// Decode `buf` as the daemon does, message after message, until it needs
/// more bytes or the stream is unusable. Every message consumes bytes.
fn drain<T: serde::de::DeserializeOwned>(buf: &mut Vec<u8>) -> (Vec<T>, Option<CodecError>) {
    let mut out = Vec::new();
    loop {
        let before = buf.len();
        match codec::decode::<T>(buf) {
            Ok(Some(m)) => {
                assert!(buf.len() < before, "a decoded message consumed no bytes");
                out.push(m);
            }
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A client may send anything: netd decodes a message, reports an error
    /// (and drops that client), or waits for more, and never panics.
    #[test]
    fn any_bytes_are_a_message_an_error_or_a_wait(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut req = bytes.clone();
        let _ = drain::<Request>(&mut req);
        let mut resp = bytes;
        let _ = drain::<Response>(&mut resp);
    }

    /// Valid frames with a few bytes changed (lengths, tags, string bytes).
    #[test]
    fn damaged_request_frames_never_panic(
        reqs in proptest::collection::vec(request(), 1..4),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut buf = Vec::new();
        for r in &reqs {
            codec::encode(r, &mut buf).unwrap();
        }
        for (at, b) in flips {
            let i = at % buf.len();
            buf[i] ^= b;
        }
        let _ = drain::<Request>(&mut buf);
    }

    /// A stream socket delivers frames in pieces of any size: the requests
    /// come out whole and in order however the bytes were split.
    #[test]
    fn requests_split_anywhere_decode_unchanged(
        reqs in proptest::collection::vec(request(), 1..6),
        cuts in proptest::collection::vec(1usize..64, 1..40),
    ) {
        let mut wire = Vec::new();
        for r in &reqs {
            codec::encode(r, &mut wire).unwrap();
        }
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= wire.len() {
                break;
            }
            let end = (at + cut).min(wire.len());
            buf.extend_from_slice(&wire[at..end]);
            at = end;
            let (msgs, err) = drain::<Request>(&mut buf);
            prop_assert!(err.is_none(), "{err:?}");
            got.extend(msgs);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, reqs);
    }

    /// `sysctl -w` with any name and value: accepted, or refused with every
    /// tunable left as it was ("an invalid tunable changes nothing").
    #[test]
    fn a_refused_sysctl_write_changes_nothing(
        pick in any::<prop::sample::Index>(),
        known in any::<bool>(),
        other_name in ".{0,40}",
        value in prop_oneof![
            ".{0,24}",
            "-?[0-9]{1,12}",
            "[0-9]{1,8} [0-9]{1,8} [0-9]{1,8}",
            "0x[0-9a-fA-F]{1,10}",
        ],
    ) {
        let mut s = Sysctl::default();
        let names: Vec<&str> = s.all().iter().map(|(n, _)| *n).collect();
        let name = if known { names[pick.index(names.len())].to_string() } else { other_name };
        let before = s.all();
        if s.set(&name, &value).is_err() {
            prop_assert_eq!(s.all(), before);
        } else {
            prop_assert!(s.get(&name).is_ok());
        }
    }

    /// Any text as a `--sysctl-file`: settings and syntax errors, numbered
    /// by line, keys in dotted form, never a panic.
    #[test]
    fn any_sysctl_conf_text_parses(text in "(.{0,30}\n){0,12}") {
        let lines = text.lines().count();
        for l in sysctl_conf::parse(&text) {
            match l {
                Line::Setting(s) => {
                    prop_assert!(s.line >= 1 && s.line <= lines);
                    prop_assert!(!s.key.contains('/'));
                    prop_assert_eq!(s.key.trim(), s.key.as_str());
                }
                Line::InvalidSyntax(n) => prop_assert!(n >= 1 && n <= lines),
            }
        }
    }
}
