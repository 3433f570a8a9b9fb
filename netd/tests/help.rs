//! netd's help and its man page say what every tunable does in netd: an
//! operator who finds a key in `netctl sysctl -a` can look it up, including
//! the ones Linux has and netd cannot act on.

use std::process::Command;

fn netd(arg: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_netd"))
        .arg(arg)
        .output()
        .expect("run netd");
    assert!(out.status.success(), "netd {arg}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn help_and_man_page_describe_every_tunable() {
    let help = netd("--help");
    let man = netd("--manpage");
    assert!(
        man.contains(".SH TUNABLES"),
        "netd(8) has a TUNABLES section"
    );
    for (name, default, description) in netd_core::sysctl::reference() {
        assert!(
            help.contains(&format!("{name} = {default}\n      {description}")),
            "--help: {name}"
        );
        assert!(
            man.contains(&format!("\\fB{name}\\fR = {default}\n{description}")),
            "netd(8): {name}"
        );
    }
    assert!(
        help.contains("so nothing acts on it"),
        "tcp_retries1 says it is inert"
    );
}
