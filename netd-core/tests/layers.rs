//! The core's modules form layers, and each imports only from layers below
//! its own (ARCHITECTURE.md draws them): so no two modules depend on each
//! other, the socket layer sits on the protocols and not the reverse, and
//! the wire formats know nothing of TCP. This reads the source, as Cargo
//! cannot check arrows inside one crate.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every top-level module of the core, lowest layer first.
const LAYERS: &[&[&str]] = &[
    // Vocabulary and parsing: nothing else of the crate.
    &["time", "sock", "sysctl", "mib", "wire"],
    &["timer"],
    // IP output and reassembly, ICMP messages, the bind rules.
    &["ip", "icmp", "inet"],
    // What the protocols share in one stack.
    &["net"],
    // The protocols, each owning its sockets; neither uses the other.
    &["udp", "tcp"],
    // The namespace: IP input, ICMP error routing, timers.
    &["stack"],
    // The socket calls.
    &["socket"],
    // The simulator drives whole stacks.
    &["sim"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The crate-level modules each module's source names (`crate::x`), from
/// every line that is not a comment.
fn imports() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            if rel == "lib.rs" || !rel.ends_with(".rs") {
                continue;
            }
            let module = rel
                .split('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".rs")
                .to_string();
            let text = fs::read_to_string(&p).expect("read source");
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for part in line.split("crate::").skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        let at = format!("{rel}:{}", n + 1);
                        out.entry(module.clone())
                            .or_default()
                            .entry(name)
                            .or_insert(at);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in fs::read_dir(&src).expect("read src").flatten() {
        let name = e
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if name != "lib" {
            assert!(
                layer(&name).is_some(),
                "module `{name}` is in no layer of LAYERS"
            );
        }
    }
}

#[test]
fn modules_import_only_from_layers_below() {
    let mut wrong = Vec::new();
    for (module, names) in imports() {
        let Some(own) = layer(&module) else { continue };
        for (name, at) in names {
            match layer(&name) {
                Some(l) if l < own => {}
                Some(_) => wrong.push(format!(
                    "{at}: `{module}` imports `{name}`, which is not below it"
                )),
                None => wrong.push(format!(
                    "{at}: `{module}` imports `{name}`, a module in no layer"
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
