//! Writes the WGSL kernels without their comments into `OUT_DIR/shaders/`, which is what
//! `src/gpu/kernel.rs` includes: the comments explain the shaders in `shaders/`, and cost the
//! page's wasm module 7 KB gzipped (half of the shaders' text) for nothing the device reads.
//! WGSL has no string literals, so `//` always starts a comment; the shaders use no `/* */`.

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=shaders");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("shaders");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/shaders");
    for entry in std::fs::read_dir("shaders").expect("read shaders/") {
        let path = entry.expect("read shaders/").path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a shader");
        assert!(
            !text.contains("/*"),
            "{}: a block comment; build.rs strips only line comments",
            path.display()
        );
        let stripped: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or("").trim())
            .filter(|line| !line.is_empty())
            .flat_map(|line| [line, "\n"])
            .collect();
        std::fs::write(out.join(path.file_name().expect("a file name")), stripped)
            .expect("write a stripped shader");
    }
}
