//! The Python module's pytest suite, inside a namespace with netd and the
//! kernel as the peer (needs root and pytest; .ci/run installs pytest).

mod support;
use support::*;

#[test]
fn python_module_pytest_suite_passes_against_the_kernel() {
    let ns = Netns::new("pytest");
    let _netd = Netd::start(&ns, &[]);
    let root = workspace_root();
    let out = ns
        .command(&[
            "python3",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            root.join("python/tests").to_str().unwrap(),
        ])
        .env("NETD_SOCKET", ns.dir.join("netd.sock"))
        .env("LIBNET", libnet_dir().join("libnet.so"))
        .env("PYTHONPATH", root.join("python"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pytest:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("7 passed"), "{stdout}");
}
