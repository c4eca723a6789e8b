//! One-shot: check the configuration, bring the schema up to date and make sure the root
//! user exists. `make run` and the test harness call it before serving; in AWS every cold
//! start does the same (see README, "Migrations").
//!
//! `migrate --import-flask <mysql://... URL of the Flask service's database>
//! [--allow-non-empty]` first copies the Flask service's data in (README, "Moving from
//! the Flask deployment"; `shared::store::flask_import`).

use std::process::ExitCode;

const USAGE: &str = "usage: migrate [--import-flask <mysql://user:password@host:port/database> [--allow-non-empty]]";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Migrate,
    ImportFlask { url: String, allow_non_empty: bool },
}

pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let (mut url, mut allow_non_empty) = (None, false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--import-flask" => match args.next() {
                Some(value) if !value.trim().is_empty() => url = Some(value.trim().to_string()),
                _ => {
                    return Err(format!(
                        "--import-flask needs the old database's URL\n{USAGE}"
                    ));
                }
            },
            "--allow-non-empty" => allow_non_empty = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    match url {
        Some(url) => Ok(Command::ImportFlask {
            url,
            allow_non_empty,
        }),
        None if allow_non_empty => Err(format!(
            "--allow-non-empty goes with --import-flask\n{USAGE}"
        )),
        None => Ok(Command::Migrate),
    }
}

/// The whole command: `args` without the program name. Configuration and start-up problems
/// print one line and exit with status 1 (`shared::web::runtime::exit_with`); a failed import
/// is `ExitCode::FAILURE`.
pub async fn run(args: &[String]) -> ExitCode {
    match parse_args(args) {
        Ok(Command::Migrate) => migrate().await,
        Ok(Command::ImportFlask {
            url,
            allow_non_empty,
        }) => import_flask(&url, allow_non_empty).await,
        Err(message) => shared::web::runtime::exit_with(message),
    }
}

async fn migrate() -> ExitCode {
    match shared::web::runtime::prepare_and_bootstrap().await {
        Ok(state) => {
            println!(
                "database ready ({:?}): {}",
                state.db.backend,
                shared::store::db::redacted_url(state.config.database.url.expose())
            );
            ExitCode::SUCCESS
        }
        Err(message) => shared::web::runtime::exit_with(message),
    }
}

async fn import_flask(url: &str, allow_non_empty: bool) -> ExitCode {
    // Before anything connects: migrating the target must never touch the old database.
    match shared::Config::load() {
        Ok(config)
            if shared::store::flask_import::same_database(url, config.database.url.expose()) =>
        {
            shared::web::runtime::exit_with(
                "the configured database (DATABASE_URL / MYSQL_*) is the old one: point it at a \
                 new database, the import only reads the old one",
            )
        }
        Ok(_) => {}
        Err(e) => shared::web::runtime::exit_with(e),
    }
    let state = match shared::web::runtime::prepare_schema_only().await {
        Ok(state) => state,
        Err(message) => shared::web::runtime::exit_with(message),
    };
    println!(
        "importing the Flask service's database {} (read only) into {:?}: {}",
        shared::store::db::redacted_url(url),
        state.db.backend,
        shared::store::db::redacted_url(state.config.database.url.expose())
    );
    let mut progress = |line: String| println!("{line}");
    let summary = match shared::store::flask_import::run(
        &state.db,
        url,
        allow_non_empty,
        &mut progress,
    )
    .await
    {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("import failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The old `root` is the root now; an old database without one gets the usual root.
    if let Err(e) = shared::app::accounts::ensure_root(&state).await {
        eprintln!("cannot create the root user: {e}");
        return ExitCode::FAILURE;
    }
    if summary.changed_nothing() {
        println!(
            "nothing to import: every row was already there, nothing changed ({:.1} s)",
            summary.elapsed.as_secs_f64()
        );
    } else {
        println!(
            "import complete: {} users, {} forms, {} revoked tokens copied in {:.1} s",
            summary.users_copied,
            summary.forms_copied,
            summary.revoked_copied,
            summary.elapsed.as_secs_f64()
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]), Ok(Command::Migrate));
        assert_eq!(
            parse_args(&args(&[
                "--import-flask",
                "mysql://u:p@h/db",
                "--allow-non-empty"
            ])),
            Ok(Command::ImportFlask {
                url: "mysql://u:p@h/db".into(),
                allow_non_empty: true
            })
        );
        assert!(parse_args(&args(&["--import-flask"])).is_err());
        assert!(parse_args(&args(&["--allow-non-empty"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }
}
