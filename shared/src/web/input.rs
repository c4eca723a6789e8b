//! Input validation with the old service's exact messages (marshmallow's): every field is
//! checked, all failures are reported together, unknown keys are ignored.

use serde_json::{Map, Value};

use crate::domain::user::Name;
use crate::web::http::{ApiError, FieldErrors};

pub use crate::domain::user::CONTROL_CHARACTERS;

pub const MISSING: &str = "Missing data for required field.";
pub const NOT_STRING: &str = "Not a valid string.";
pub const NOT_INTEGER: &str = "Not a valid integer.";
pub const NOT_BOOLEAN: &str = "Not a valid boolean.";
pub const NOT_NULL: &str = "Field may not be null.";

/// A request body being validated: typed getters record failures and carry on.
pub struct Input<'a> {
    body: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl<'a> Input<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            errors: FieldErrors::default(),
        }
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add(field, message);
    }

    /// The value of a non-nullable field: `None` when absent (recording
    /// `Missing data...` if required) or null (recording `Field may not be null.`).
    fn present(&mut self, field: &str, required: bool) -> Option<&'a Value> {
        match self.body.get(field) {
            None => {
                if required {
                    self.fail(field, MISSING);
                }
                None
            }
            Some(Value::Null) => {
                self.fail(field, NOT_NULL);
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A string of at most `max` characters.
    pub fn string(&mut self, field: &str, max: Option<usize>, required: bool) -> Option<String> {
        let value = self.present(field, required)?;
        self.check_string(field, value, max)
    }

    /// An optional string that may also be null: `Some(None)` for an explicit null.
    pub fn nullable_string(&mut self, field: &str, max: Option<usize>) -> Option<Option<String>> {
        match self.body.get(field) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => self.check_string(field, v, max).map(Some),
        }
    }

    /// A name or an address that is stored and later written into e-mail headers: a
    /// string as [`Input::string`], with no control character (CR/LF would inject headers).
    pub fn name(&mut self, field: &str, max: Option<usize>, required: bool) -> Option<Name> {
        let value = self.string(field, max, required)?;
        self.refuse_control_characters(field, value)
    }

    /// [`Input::name`] that may also be null: `Some(None)` for an explicit null.
    pub fn nullable_name(&mut self, field: &str, max: Option<usize>) -> Option<Option<Name>> {
        match self.nullable_string(field, max)? {
            Some(value) => self.refuse_control_characters(field, value).map(Some),
            None => Some(None),
        }
    }

    fn refuse_control_characters(&mut self, field: &str, value: String) -> Option<Name> {
        match Name::parse(value) {
            Ok(name) => Some(name),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    fn check_string(&mut self, field: &str, value: &Value, max: Option<usize>) -> Option<String> {
        let Value::String(s) = value else {
            self.fail(field, NOT_STRING);
            return None;
        };
        if let Some(max) = max
            && s.chars().count() > max
        {
            self.fail(field, format!("Longer than maximum length {max}."));
            return None;
        }
        Some(s.clone())
    }

    /// A boolean, accepting the spellings the old service accepted ("true", 1, "yes", ...).
    pub fn boolean(&mut self, field: &str, required: bool) -> Option<bool> {
        let value = self.present(field, required)?;
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_f64() {
                Some(1.0) => Some(true),
                Some(0.0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "t" | "T" | "true" | "True" | "TRUE" | "1" | "on" | "On" | "ON" | "y" | "Y"
                | "yes" | "Yes" | "YES" => Some(true),
                "f" | "F" | "false" | "False" | "FALSE" | "0" | "off" | "Off" | "OFF" | "n"
                | "N" | "no" | "No" | "NO" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.fail(field, NOT_BOOLEAN);
        }
        parsed
    }

    /// An integer id: a JSON integer or a string of digits.
    pub fn integer(&mut self, field: &str, required: bool) -> Option<i64> {
        let value = self.present(field, required)?;
        let parsed = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.fail(field, NOT_INTEGER);
        }
        parsed
    }

    /// `Err(422)` with every failing field, or `Ok` when all passed.
    pub fn finish(self) -> Result<(), ApiError> {
        self.errors.into_result()
    }

    /// `Err(422)` with every failing field, or the typed value built from the fields
    /// read. A field that failed recorded why, so `None` without errors is a bug.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, ApiError> {
        self.errors.into_result()?;
        value.ok_or_else(|| ApiError::internal("a field was refused without a message"))
    }
}

/// A whole-object error: `{"_schema": [message]}`.
pub fn schema_error(message: impl Into<String>) -> ApiError {
    let mut errors = FieldErrors::default();
    errors.add("_schema", message);
    ApiError::Validation(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_every_failing_field_with_the_old_messages() {
        let body = json!({"username": 5, "is_admin": "maybe", "first_name": "x".repeat(65), "last_name": null});
        let map = body.as_object().unwrap();
        let mut input = Input::new(map);
        input.string("username", Some(128), true);
        input.string("email", Some(128), true);
        input.boolean("is_admin", true);
        input.string("first_name", Some(64), true);
        assert_eq!(input.nullable_string("last_name", Some(64)), Some(None));
        let ApiError::Validation(errors) = input.finish().unwrap_err() else {
            panic!("expected a field map")
        };
        assert_eq!(errors.0["username"], vec![NOT_STRING]);
        assert_eq!(errors.0["email"], vec![MISSING]);
        assert_eq!(errors.0["is_admin"], vec![NOT_BOOLEAN]);
        assert_eq!(
            errors.0["first_name"],
            vec!["Longer than maximum length 64."]
        );
        assert_eq!(errors.0.len(), 4);
    }

    #[test]
    fn names_refuse_control_characters() {
        let body = json!({"first_name": "Eve\r\nBcc: x@evil.example", "last_name": "N\u{0}l",
                          "username": "tab\tbed", "email": "ok@example.org"});
        let mut input = Input::new(body.as_object().unwrap());
        assert_eq!(input.name("first_name", Some(64), true), None);
        assert_eq!(input.nullable_name("last_name", Some(64)), None);
        assert_eq!(input.name("username", Some(128), true), None);
        assert_eq!(
            input
                .name("email", Some(128), true)
                .as_ref()
                .map(Name::as_str),
            Some("ok@example.org")
        );
        let ApiError::Validation(errors) = input.finish().unwrap_err() else {
            panic!("expected a field map")
        };
        for field in ["first_name", "last_name", "username"] {
            assert_eq!(errors.0[field], vec![CONTROL_CHARACTERS], "{field}");
        }
        assert_eq!(errors.0.len(), 3);
    }

    #[test]
    fn null_is_refused_where_not_allowed() {
        let body = json!({"is_admin": null});
        let mut input = Input::new(body.as_object().unwrap());
        assert_eq!(input.boolean("is_admin", false), None);
        let ApiError::Validation(errors) = input.finish().unwrap_err() else {
            panic!()
        };
        assert_eq!(errors.0["is_admin"], vec![NOT_NULL]);
    }
}
