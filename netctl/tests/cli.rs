//! netctl's own interface: help, completions and the man page come from the
//! clap definitions; no daemon is needed for them.

use std::process::Command;

fn netctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netctl"))
        .args(args)
        .output()
        .expect("run netctl")
}

#[test]
fn help_lists_every_subcommand_and_option() {
    let out = String::from_utf8(netctl(&["--help"]).stdout).unwrap();
    for word in [
        "ss",
        "netstat",
        "nstat",
        "sysctl",
        "reload",
        "completions",
        "manpage",
        "--control",
        "--json",
    ] {
        assert!(out.contains(word), "--help lacks {word}:\n{out}");
    }
    let ss = String::from_utf8(netctl(&["ss", "--help"]).stdout).unwrap();
    for flag in ["-t", "-u", "-l", "-a", "-n", "-o", "-s", "-H"] {
        assert!(ss.contains(flag), "ss --help lacks {flag}");
    }
}

#[test]
fn bash_completion_and_man_page_are_generated() {
    let bash = String::from_utf8(netctl(&["completions", "bash"]).stdout).unwrap();
    assert!(
        bash.contains("_netctl()") && bash.contains("sysctl"),
        "{bash}"
    );
    let man = String::from_utf8(netctl(&["manpage"]).stdout).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH netctl 8"),
        "{}",
        &man[..man.len().min(200)]
    );
}

#[test]
fn an_unknown_ss_state_is_refused_like_ss() {
    let out = netctl(&["--control", "/nonexistent", "ss", "state", "bogus"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "netctl: ss: wrong state name: bogus"
    );
    assert_eq!(out.status.code(), Some(1));
}
