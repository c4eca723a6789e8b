//! The edge: Lambda wiring, request parsing into typed values, and the one mapping of
//! every outcome to a JSON answer (`http`) or an HTML page (`pages`).

pub mod auth;
pub mod form_json;
pub mod http;
pub mod input;
pub mod pages;
pub mod requests;
pub mod runtime;
pub mod spare;
pub mod wire;
