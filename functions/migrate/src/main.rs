//! One-shot: check the configuration, bring the schema up to date and make sure the root
//! user exists. `make run` and the test harness call it before serving; in AWS every cold
//! start does the same (see README, "Migrations").

#[tokio::main]
async fn main() {
    shared::runtime::init_process();
    match shared::runtime::prepare_and_bootstrap().await {
        Ok(state) => println!(
            "database ready ({:?}): {}",
            state.db.backend,
            shared::runtime::redacted_url(&state.config.database_url)
        ),
        Err(message) => shared::runtime::exit_with(message),
    }
}
