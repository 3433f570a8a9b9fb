//! The core must stay sans-I/O: no clocks, threads, sockets, files or
//! randomness of its own (ARCHITECTURE.md). This reads the source and fails
//! on the first forbidden use, so a slip shows up in review and in CI.

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::time::Instant",
    "SystemTime",
    "std::thread",
    "std::net::TcpStream",
    "std::net::UdpSocket",
    "std::fs",
    "std::process",
    "std::env",
    "libc::",
    "nix::",
    "rand::",
    "static mut",
];

fn scan(dir: &Path, hits: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        // The daemon shell (when it exists) is the one place allowed to do I/O.
        if p.ends_with("daemon") || p.ends_with("main.rs") {
            continue;
        }
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
