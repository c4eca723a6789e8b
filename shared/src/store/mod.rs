//! Persistence: the only code that names `sqlx` (and Redis). One module per table or
//! aggregate; every function takes a pool or a transaction from its caller, so a use
//! case decides where its transaction begins and ends.

pub mod db;
pub mod flask_import;
pub mod forms;
pub mod migrations;
pub mod outbox;
pub mod ratelimit;
pub mod revoked;
pub mod users;
