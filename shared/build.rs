//! Embeds migrations/ into the crate as sqlx's `migrate!` macro would: a `Migrator` per
//! engine (store/migrations.rs), one entry per `<version>_<description>.sql` file, named,
//! ordered and checksummed (SHA-384 of the file) as sqlx's own resolver does. The macro
//! needs sqlx's `migrate` feature, which would also compile sqlx-mysql's migration code,
//! unused here (store/migrations.rs says why). A test holds the two equal.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

use sha2::{Digest, Sha384};

fn main() {
    // Adding, removing or editing a migration rebuilds the crate (cargo scans the directory).
    println!("cargo:rerun-if-changed=../migrations");
    let mut out = String::new();
    for (name, dir) in [
        ("MYSQL", "../migrations/mysql"),
        ("SQLITE", "../migrations/sqlite"),
    ] {
        let mut files: Vec<(i64, String, String, String)> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|entry| entry.expect("migrations directory entry").path())
            .filter_map(|path| {
                let file = path.file_name()?.to_str()?.to_owned();
                let (version, rest) = file.split_once('_')?;
                let description = rest.strip_suffix(".sql")?.replace('_', " ");
                let version = version
                    .parse()
                    .unwrap_or_else(|_| panic!("{file}: expected `<version>_<description>.sql`"));
                let sql = fs::read_to_string(&path).expect("migration file");
                let path = fs::canonicalize(&path).expect("migration path");
                Some((version, description, sql, path.display().to_string()))
            })
            .collect();
        files.sort_by_key(|(version, ..)| *version);
        writeln!(out, "pub static {name}: Migrator = Migrator {{").unwrap();
        writeln!(out, "    migrations: Cow::Borrowed(&[").unwrap();
        for (version, description, sql, path) in files {
            let checksum = Sha384::digest(sql.as_bytes());
            writeln!(
                out,
                "        Migration {{ version: {version}, description: Cow::Borrowed({description:?}), \
                 migration_type: MigrationType::Simple, sql: SqlStr::from_static(include_str!({path:?})), \
                 no_tx: {no_tx}, checksum: Cow::Borrowed(&{checksum:?}) }},",
                no_tx = sql.starts_with("-- no-transaction"),
                checksum = checksum.as_slice(),
            )
            .unwrap();
        }
        writeln!(out, "    ]),\n    ..Migrator::DEFAULT\n}};").unwrap();
    }
    let out_dir = env::var("OUT_DIR").expect("OUT_DIR");
    fs::write(Path::new(&out_dir).join("migrations.rs"), out).expect("write migrations.rs");
}
