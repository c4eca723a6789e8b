//! Users: who may log in, who is an admin, and the values that name them.

row_id!(
    /// A user's row id.
    UserId
);

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub registration_time: i64,
    pub password_link_counter: i64,
}

impl User {
    /// "First Last", or the first name alone when there is no last name.
    pub fn full_name(&self) -> String {
        match self.last_name.as_deref().map(str::trim) {
            Some(last) if !last.is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        }
    }

    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }
}

/// The key usernames and addresses are unique by (case-insensitive, as the old service).
pub fn key(value: &str) -> String {
    value.to_lowercase()
}

/// The built-in administrator (contract section 8).
pub const ROOT: &str = "root";

/// Why a name or address was refused: the field's message.
pub const CONTROL_CHARACTERS: &str = "Must not contain control characters.";

/// A name stored and later written into e-mail headers (username, first and last name):
/// no control character, since CR/LF would inject headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.chars().any(char::is_control) {
            return Err(CONTROL_CHARACTERS);
        }
        Ok(Name(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A checked e-mail address, its domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The field's own rule (control characters), then the syntax: the syntax error is
    /// the whole-object message the contract gives.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        if raw.chars().any(char::is_control) {
            return Err(AddressError::Field(CONTROL_CHARACTERS));
        }
        normalize_email(raw)
            .map(EmailAddress)
            .map_err(AddressError::Syntax)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// A field error (reported with the other fields).
    Field(&'static str),
    /// The address is not valid: a whole-object error, which hides field errors.
    Syntax(String),
}

/// A user about to be inserted.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: Option<&'a str>,
    pub is_admin: bool,
    pub password_hash: Option<&'a str>,
    pub registration_time: i64,
}

/// `POST /auth/login`'s body.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `POST /auth/register`'s body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub username: Name,
    pub email: EmailAddress,
    pub first_name: Name,
    pub last_name: Option<Name>,
    pub is_admin: bool,
}

/// `PATCH /auth/access`'s body: whose flag, and its new value if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChange {
    pub username: String,
    pub is_admin: Option<bool>,
}

/// Passwords longer than this are refused before hashing, to bound the work one request
/// can ask for.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A new password: not empty, at most [`MAX_PASSWORD_CHARS`] characters.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// The field's message when refused (the length is checked where it is read).
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("Shorter than minimum length 1.");
        }
        Ok(NewPassword(raw))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// Checks an e-mail address's syntax (no DNS) and normalises it: the domain lower-cased.
/// The error says why the address is invalid (email-validator's words, as the old service).
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let address = raw.trim();
    let one_at = "The email address is not valid. It must have exactly one @-sign.";
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(one_at.into());
    };
    if local.contains('@') {
        return Err(one_at.into());
    }
    check_local_part(local)?;
    let domain = domain.to_lowercase();
    check_domain(&domain)?;
    Ok(format!("{local}@{domain}"))
}

fn check_local_part(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("There must be something before the @-sign.".into());
    }
    if local.len() > 64 {
        return Err("The email address is too long before the @-sign.".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("The email address contains a period in an invalid position.".into());
    }
    let local_ok = local.chars().all(|c| {
        c.is_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~.".contains(c)
            || (!c.is_ascii() && !c.is_control())
    });
    if !local_ok {
        return Err("The email address contains invalid characters before the @-sign.".into());
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("There must be something after the @-sign.".into());
    }
    if !domain.contains('.') {
        return Err("The part after the @-sign is not valid. It should have a period.".into());
    }
    domain.split('.').try_for_each(check_label)?;
    if domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(
            "The part after the @-sign is not valid. It is not within a valid top-level domain."
                .into(),
        );
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err(
            "An email address cannot have a period in an invalid position after the @-sign.".into(),
        );
    }
    if label.len() > 63 {
        return Err("The part after the @-sign is too long.".into());
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(
            "An email address cannot have a hyphen immediately before or after a period.".into(),
        );
    }
    if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
        return Err("The part after the @-sign contains invalid characters.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_control_characters() {
        assert_eq!(Name::parse("Eve\r\nBcc: x".into()), Err(CONTROL_CHARACTERS));
        assert_eq!(Name::parse("N\u{0}l".into()), Err(CONTROL_CHARACTERS));
        assert_eq!(Name::parse("Zoë".into()).unwrap().as_str(), "Zoë");
        assert_eq!(
            EmailAddress::parse("a\r\n@x.org"),
            Err(AddressError::Field(CONTROL_CHARACTERS))
        );
        assert!(matches!(
            EmailAddress::parse("plain"),
            Err(AddressError::Syntax(_))
        ));
    }

    #[test]
    fn emails_are_checked_and_normalised() {
        assert_eq!(
            normalize_email("Jane.Doe@Example.ORG").unwrap(),
            "Jane.Doe@example.org"
        );
        for bad in [
            "plain",
            "a@b",
            "@x.org",
            "a@",
            "a..b@x.org",
            "a@-x.org",
            "a b@x.org",
            "a@x..org",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
