//! The e-mail outbox: every e-mail is a row written in the transaction of the change
//! that causes it, then delivered (at least once) by the `email` function.

/// Where a message stands. Stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Waiting to be sent (again, after a temporary failure).
    Pending,
    Delivered,
    /// Failed for good: listed by `/health` until retried or dismissed.
    Dead,
    /// A dead letter an operator chose to forget.
    Dismissed,
}

impl OutboxStatus {
    pub const fn code(self) -> i64 {
        match self {
            OutboxStatus::Pending => 0,
            OutboxStatus::Delivered => 1,
            OutboxStatus::Dead => 2,
            OutboxStatus::Dismissed => 3,
        }
    }
}

/// A message claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    pub attempts: i64,
}
