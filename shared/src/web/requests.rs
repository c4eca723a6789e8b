//! Request bodies parsed once into typed values, with the contract's exact 422 field
//! maps and messages. What comes out of here needs no further checking.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::domain::amount::Cents;
use crate::domain::form::{FormFields, FormId, FormPatch, MAX_TIME, PaymentMethod};
use crate::domain::user::{
    AccessChange, AddressError, Credentials, EmailAddress, MAX_PASSWORD_CHARS, NewPassword,
    Registration,
};
use crate::web::http::ApiError;
use crate::web::input::{Input, MISSING, NOT_NULL, schema_error};

const TIME_ERROR: &str = "time must be a valid Unix timestamp";
const NOT_A_CHOICE: &str = "Not a valid choice.";

/// `POST /auth/login`.
pub fn credentials(body: &Map<String, Value>) -> Result<Credentials, ApiError> {
    let mut input = Input::new(body);
    let username = input.string("username", Some(128), true);
    let password = input.string("password", None, true);
    let parsed = username
        .zip(password)
        .map(|(username, password)| Credentials { username, password });
    input.finish_with(parsed)
}

/// A body naming a user (`PATCH /auth/login`).
pub fn username(body: &Map<String, Value>) -> Result<String, ApiError> {
    let mut input = Input::new(body);
    let username = input.string("username", None, true);
    input.finish_with(username)
}

/// A new password in a JSON body (`PUT /auth/login`).
pub fn new_password(body: &Map<String, Value>) -> Result<NewPassword, ApiError> {
    let mut input = Input::new(body);
    let password = input
        .string("password", Some(MAX_PASSWORD_CHARS), true)
        .and_then(|raw| match NewPassword::parse(raw) {
            Ok(password) => Some(password),
            Err(message) => {
                input.fail("password", message);
                None
            }
        });
    input.finish_with(password)
}

/// `POST /auth/register`. An address that is not valid is a whole-object error, and
/// those hide field errors.
pub fn registration(body: &Map<String, Value>) -> Result<Registration, ApiError> {
    let mut input = Input::new(body);
    let username = input.name("username", Some(128), true);
    let email = input.string("email", Some(128), true);
    let is_admin = input.boolean("is_admin", true);
    let first_name = input.name("first_name", Some(64), true);
    let last_name = input.nullable_name("last_name", Some(64));
    let email = match email.map(|raw| EmailAddress::parse(&raw)) {
        Some(Ok(address)) => Some(address),
        Some(Err(AddressError::Field(message))) => {
            input.fail("email", message);
            None
        }
        Some(Err(AddressError::Syntax(why))) => return Err(schema_error(why)),
        None => None,
    };
    let parsed = (|| {
        Some(Registration {
            username: username?,
            email: email?,
            first_name: first_name?,
            last_name: last_name.flatten(),
            is_admin: is_admin?,
        })
    })();
    input.finish_with(parsed)
}

/// `PATCH /auth/access`.
pub fn access_change(body: &Map<String, Value>) -> Result<AccessChange, ApiError> {
    let mut input = Input::new(body);
    let username = input.string("username", None, true);
    let is_admin = input.boolean("is_admin", false);
    let parsed = username.map(|username| AccessChange { username, is_admin });
    input.finish_with(parsed)
}

/// A body naming a form (`DELETE /form`, `PUT /form/resolve`).
pub fn form_id(body: &Map<String, Value>) -> Result<FormId, ApiError> {
    let mut input = Input::new(body);
    let id = input.integer("id", true).map(FormId);
    input.finish_with(id)
}

/// `POST /form`: every field required.
pub fn new_form(body: &Map<String, Value>, raw_body: &[u8]) -> Result<FormFields, ApiError> {
    let mut input = Input::new(body);
    let (patch, time_ok) = form_fields(&mut input, body, raw_body, true);
    whole_object_first(time_ok)?;
    let parsed = (|| {
        Some(FormFields {
            time: patch.time?,
            customer_name: patch.customer_name?,
            course: patch.course?,
            payment_method: patch.payment_method?,
            amount: patch.amount?,
            receipt: patch.receipt?,
        })
    })();
    input.finish_with(parsed)
}

/// `PATCH /form`: the form's id and whichever fields the body supplies.
pub fn form_patch(
    body: &Map<String, Value>,
    raw_body: &[u8],
) -> Result<(FormId, FormPatch), ApiError> {
    let mut input = Input::new(body);
    let id = input.integer("id", true).map(FormId);
    let (patch, time_ok) = form_fields(&mut input, body, raw_body, false);
    whole_object_first(time_ok)?;
    input.finish_with(id.map(|id| (id, patch)))
}

/// A whole-object error wins: when `time` is refused, no field error is reported
/// (contract section 1), as the old service converted `time` before loading the fields.
fn whole_object_first(time_ok: bool) -> Result<(), ApiError> {
    match time_ok {
        true => Ok(()),
        false => Err(schema_error(TIME_ERROR)),
    }
}

/// Reads the form fields of a body (all `required` on POST). `time` is a whole-object
/// check: any value but an integer timestamp (null included) is the `_schema` error, so
/// it comes back as the flag `time_ok`.
fn form_fields(
    input: &mut Input,
    body: &Map<String, Value>,
    raw_body: &[u8],
    required: bool,
) -> (FormPatch, bool) {
    let customer_name = input.string("customer_name", Some(128), required);
    let course = input.string("course", Some(256), required);
    let receipt = input.string("receipt", Some(128), required);
    let payment_method = input
        .string("payment_method", None, required)
        .and_then(|m| {
            let method = PaymentMethod::parse(&m);
            if method.is_none() {
                input.fail("payment_method", NOT_A_CHOICE);
            }
            method
        });
    let amount = amount(input, body, raw_body, required);
    let (time, time_ok) = time(input, body, required);
    let patch = FormPatch {
        time,
        customer_name,
        course,
        payment_method,
        amount,
        receipt,
    };
    (patch, time_ok)
}

/// `time`: a JSON integer (not a float, string or bool) from 0 to the end of year 9999.
fn time(input: &mut Input, body: &Map<String, Value>, required: bool) -> (Option<i64>, bool) {
    match body.get("time") {
        None => {
            if required {
                input.fail("time", MISSING);
            }
            (None, true)
        }
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_i64() {
            Some(t) if (0..=MAX_TIME).contains(&t) => (Some(t), true),
            _ => (None, false),
        },
        Some(_) => (None, false),
    }
}

/// `amount`: a number or a string holding one, read from its own JSON text (never
/// through a float).
fn amount(
    input: &mut Input,
    body: &Map<String, Value>,
    raw_body: &[u8],
    required: bool,
) -> Option<Cents> {
    let text = match body.get("amount") {
        None => {
            if required {
                input.fail("amount", MISSING);
            }
            return None;
        }
        Some(Value::Null) => {
            input.fail("amount", NOT_NULL);
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        // The number's own text: `Value` would already have turned it into a float.
        Some(Value::Number(_)) => raw_member(raw_body, "amount").unwrap_or_default(),
        Some(_) => String::new(),
    };
    match Cents::parse(&text) {
        Ok(cents) => Some(cents),
        Err(e) => {
            input.fail("amount", Cents::error_message(e));
            None
        }
    }
}

/// The raw JSON text of one top-level member of an object body.
fn raw_member(raw_body: &[u8], key: &str) -> Option<String> {
    let members: std::collections::HashMap<String, &RawValue> =
        serde_json::from_slice(raw_body).ok()?;
    members.get(key).map(|v| v.get().to_string())
}
