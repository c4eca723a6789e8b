//! `migrate`: the command is `migrate::run` (src/lib.rs).

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    shared::web::runtime::init_process();
    let args: Vec<String> = std::env::args().skip(1).collect();
    migrate::run(&args).await
}
