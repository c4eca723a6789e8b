//! The use cases: one function per thing a caller can do (log in, register, submit a
//! form, resolve it...), each one transaction over the store, returning domain values or
//! an [`error::AppError`]. No HTTP here: the web layer parses and renders.

pub mod accounts;
pub mod auth;
pub mod cleanup;
pub mod error;
pub mod form_lists;
pub mod forms;
pub mod health;
pub mod mail;
pub mod password_links;
pub mod resolve;
