//! The shipped unit file passes `systemd-analyze verify` with no output at
//! all (parse warnings alone leave its exit status 0, so any output fails).

use std::process::Command;

#[test]
fn unit_file_verifies_without_any_warning() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let unit = std::fs::read_to_string(root.join("dist/netd.service")).unwrap();
    // Point ExecStart at the built binary so verify finds an executable.
    let unit = unit.replace("/usr/sbin/netd", env!("CARGO_BIN_EXE_netd"));
    let dir = std::env::temp_dir().join(format!("netd-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("netd.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (from the systemd package) is needed");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
}
