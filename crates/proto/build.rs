//! Compiles the schemas in the workspace's proto/ folder with protox (pure Rust, no protoc).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "cairn/v1/report.proto",
        "cairn/v1/store.proto",
        "cairn/v1/wire.proto",
        "cairn/v1/identity.proto",
        "cairn/v1/bundle.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
