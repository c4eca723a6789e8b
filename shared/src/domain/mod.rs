//! Types and rules, no I/O: what a payment record, a user, an amount, a token and an
//! e-mail are, and what may be done with them. Everything here is testable without a
//! database or a network.

/// A row id of one table, which the compiler will not take for another's.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub mod amount;
pub mod email_templates;
pub mod form;
pub mod html;
pub mod jwt;
pub mod legacy;
pub mod links;
pub mod outbox;
pub mod passwords;
pub mod refusal;
pub mod user;

/// The clock, in whole seconds since the epoch (what every stored time is).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
