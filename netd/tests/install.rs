//! The install path: dist/install.sh into a temporary prefix, then a C
//! program built with `pkg-config --cflags --libs libnet` runs against the
//! installed libnet.so (by its rpath, not Debian's libnet1).

use std::path::Path;
use std::process::Command;

#[test]
fn install_into_a_prefix_and_build_with_pkg_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let prefix = std::env::temp_dir().join(format!("netd-prefix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    // A debug build in its own target directory: no contention with this cargo.
    let out = Command::new(root.join("dist/install.sh"))
        .arg(&prefix)
        .env("PROFILE", "debug")
        .env("CARGO_TARGET_DIR", root.join("target/e2e-libnet"))
        .env("CARGO", option_env!("CARGO").unwrap_or("cargo"))
        .output()
        .expect("run dist/install.sh");
    assert!(
        out.status.success(),
        "install.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "sbin/netd",
        "bin/netctl",
        "lib/libnet.so",
        "lib/libnet.a",
        "include/libnet.h",
        "lib/pkgconfig/libnet.pc",
        "lib/systemd/system/netd.service",
        "share/man/man8/netd.8",
        "share/man/man8/netctl.8",
        "share/bash-completion/completions/netctl",
        "lib/python3/dist-packages/libnet.py",
    ] {
        assert!(prefix.join(f).exists(), "{f} not installed");
    }
    let man = std::fs::read_to_string(prefix.join("share/man/man8/netd.8")).unwrap();
    assert!(man.contains(".TH netd 8"), "netd.8 is not roff");
    assert!(man.contains("sysctl\\-file"), "netd.8 lacks --sysctl-file");
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/netd.service")).unwrap();
    assert!(unit.contains(&format!("ExecStart={}/sbin/netd", prefix.display())));
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libnet"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .output()
        .expect("pkg-config");
    let flags = String::from_utf8(flags.stdout).unwrap();
    assert!(
        !flags.split_whitespace().any(|f| f == "-lnet"),
        "never a bare -lnet: {flags}"
    );
    let exe = prefix.join("version");
    let cc = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gcc -o {} {} {}",
            exe.display(),
            root.join("tests/c/version.c").display(),
            flags.trim()
        ))
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let ldd = String::from_utf8(Command::new("ldd").arg(&exe).output().unwrap().stdout).unwrap();
    assert!(
        ldd.contains(&format!("{}/lib/libnet.so", prefix.display())),
        "{ldd}"
    );
    let run = Command::new(&exe).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );
    // The installed Python module loads this prefix's libnet.so by path.
    let py = Command::new("python3")
        .args(["-c", "import libnet; print(libnet._path)"])
        .env("PYTHONPATH", prefix.join("lib/python3/dist-packages"))
        .env_remove("LIBNET")
        .output()
        .expect("python3");
    assert!(
        py.status.success(),
        "import libnet: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        prefix.join("lib/libnet.so").to_str().unwrap()
    );
    let _ = std::fs::remove_dir_all(&prefix);
}
