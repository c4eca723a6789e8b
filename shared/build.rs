//! Embeds migrations/ into the crate (store/migrations.rs): one `(version, description,
//! SQL)` entry per file, named and ordered as sqlx's own resolver names and orders them
//! (`<version>_<description>.sql`, `_` read as a space). sqlx's `migrate!` macro did this
//! before; it needs sqlx's `migrate` feature, which would also compile sqlx's MySQL
//! migration code, unused here (store/migrations.rs says why). A test holds the two equal.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    // Adding, removing or editing a migration rebuilds the crate.
    println!("cargo:rerun-if-changed=../migrations");
    let mut out = String::new();
    for (constant, dir) in [
        ("MYSQL", "../migrations/mysql"),
        ("SQLITE", "../migrations/sqlite"),
    ] {
        println!("cargo:rerun-if-changed={dir}");
        let mut files: Vec<(i64, String, String)> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|entry| entry.expect("migrations directory entry").path())
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?.to_owned();
                let (version, rest) = name.split_once('_')?;
                let description = rest.strip_suffix(".sql")?.replace('_', " ");
                let version = version
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: expected `<version>_<description>.sql`"));
                let path = fs::canonicalize(&path).expect("migration path");
                Some((version, description, path.display().to_string()))
            })
            .collect();
        files.sort();
        writeln!(out, "const {constant}_FILES: &[(i64, &str, &str)] = &[").unwrap();
        for (version, description, path) in files {
            writeln!(
                out,
                "    ({version}, {description:?}, include_str!({path:?})),"
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let out_dir = env::var("OUT_DIR").expect("OUT_DIR");
    fs::write(Path::new(&out_dir).join("migrations.rs"), out).expect("write migrations.rs");
}
