//! The core must stay sans-I/O: no clocks, threads, sockets, files or
//! randomness of its own (ARCHITECTURE.md). Cargo enforces most of it: the
//! crate depends on no nix, tun, clap or libc. What it cannot see is the
//! standard library, so this reads the source and fails on the first use of
//! std's clocks, threads, sockets, files, processes or environment.

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::time::Instant",
    "SystemTime",
    "std::thread",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::os::",
    "std::io::stdin",
    "std::fs",
    "std::process",
    "std::env",
    // The control client does I/O; the core may use the protocol's types only.
    "netd_proto::client",
    "static mut",
];

fn scan(dir: &Path, hits: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            scan(&p, hits);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = fs::read_to_string(&p).unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                for f in FORBIDDEN {
                    if line.contains(f) && !line.trim_start().starts_with("//") {
                        hits.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
}

#[test]
fn core_has_no_syscalls_clocks_or_threads() {
    let mut hits = Vec::new();
    scan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut hits,
    );
    assert!(
        hits.is_empty(),
        "I/O in the sans-I/O core:\n{}",
        hits.join("\n")
    );
}

/// The manifest is what keeps nix, tun, clap and libc out; a dependency
/// added there would bring syscalls back in without any source line above.
#[test]
fn core_manifest_has_no_io_crates() {
    let manifest = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .expect("read Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or_default();
    for line in deps.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let name = line
            .split(['=', ' ', '.'])
            .next()
            .unwrap_or_default()
            .trim();
        assert!(
            !["nix", "tun", "clap", "libc", "tokio", "mio"].contains(&name),
            "netd-core depends on an I/O crate: {line}"
        );
    }
}
