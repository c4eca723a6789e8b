//! Every reason the API refuses a well-formed request, in words the contract fixes. The
//! web layer gives each its status code in one place (`web::http`).

use crate::domain::form::FormId;
use crate::domain::jwt::TokenError;

/// What an edit or a delete was refused for (the words differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Update,
    Delete,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Update => "update",
            Change::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    // Who is calling.
    #[error("Missing Authorization Header")]
    MissingAuthorization,
    #[error("Bad Authorization header. Expected value 'Bearer <JWT>'")]
    BadAuthorization,
    #[error("{0}")]
    Token(TokenError),
    #[error("Token has been revoked")]
    TokenRevoked,
    #[error("User {0} specified by token does not exist")]
    TokenUserGone(String),
    #[error("This endpoint requires admin status")]
    AdminRequired,
    // Accounts.
    #[error("Invalid credentials")]
    InvalidCredentials,
    #[error("Your password is not set")]
    OwnPasswordNotSet,
    #[error("User {0} does not exist")]
    NoSuchUser(String),
    #[error("User '{0}' does not exist")]
    NoSuchUserQuoted(String),
    #[error("User {0}'s password has not been set")]
    PasswordNotSet(String),
    #[error("User {0} already exists")]
    UsernameTaken(String),
    #[error("A user with email {0} already exists")]
    EmailTaken(String),
    // Forms.
    #[error("Form {0} does not exist")]
    NoSuchForm(FormId),
    #[error("Form {0} has been resolved, it can no longer be edited")]
    FormClosed(FormId),
    #[error("Form {0} is already resolved")]
    AlreadyResolved(FormId),
    #[error("You must have either submitted form {0} or be an admin to {verb} it", verb = .1.verb())]
    NotYours(FormId, Change),
}

/// Why an e-mailed link (password or resolve) was refused: the 422 page's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("No token provided")]
    Missing,
    #[error("This token is invalid")]
    Invalid,
    #[error("This token has already been used")]
    Used,
    #[error("This token has expired")]
    Expired,
    #[error("This link was sent to an administrator who no longer exists")]
    AdminGone,
    #[error("This link was sent to a user who is no longer an administrator")]
    NotAdmin,
}
