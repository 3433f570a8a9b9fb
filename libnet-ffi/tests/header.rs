//! include/libnet.h is committed; this fails when it no longer matches the
//! crate. Regenerate with: UPDATE_HEADER=1 cargo test -p libnet-ffi --test header

#[test]
fn committed_header_matches_cbindgen_output() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses the crate")
        .write(&mut fresh);
    let path = format!("{dir}/../include/libnet.h");
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/libnet.h is stale: run UPDATE_HEADER=1 cargo test -p libnet-ffi --test header and commit it"
    );
}
