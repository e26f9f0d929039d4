//! Embeds the shipped rule pack (every `rules/*.toml`) so the binary works from any
//! directory. The list is the folder: adding a rule file is all it takes.

use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=rules");
    let mut names: Vec<String> = std::fs::read_dir("rules")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let mut out = String::from("/// The shipped rule files, `(file name, contents)`.\npub const SHIPPED: &[(&str, &str)] = &[\n");
    for n in &names {
        let _ = writeln!(
            out,
            "    ({n:?}, include_str!({:?})),",
            format!("{root}/rules/{n}")
        );
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default())
        .join("shipped_rules.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}
