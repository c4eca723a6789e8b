//! Payment records: contract section 4, the resolve half of section 5 and the form
//! e-mails of section 6.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sqlx::{Any, Executor};

use crate::AppState;
use crate::amount::{self, AmountError};
use crate::auth::{Caller, LinkBase};
use crate::db::{DbError, now};
use crate::email_templates::{self, FieldChange, FormDetails, Person, Recipient};
use crate::http::ApiError;
use crate::links::{LinkError, ResolveLink};
use crate::users::{self, User};
use crate::validate::{Input, schema_error};
use crate::{flask_import, outbox};

/// The last second of year 9999.
const MAX_TIME: i64 = 253_402_300_799;
const TIME_ERROR: &str = "time must be a valid Unix timestamp";

/// A form as stored, with its submitter's username.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Form {
    pub id: i64,
    pub submitter_id: i64,
    pub submitter: String,
    pub form_time: i64,
    pub customer_name: String,
    pub course: String,
    pub payment_method: String,
    pub amount_cents: i64,
    pub receipt: String,
    pub resolved_at: Option<i64>,
}

/// The contract's 9-key JSON.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FormJson {
    pub id: i64,
    pub submitter: String,
    pub time: i64,
    pub customer_name: String,
    pub course: String,
    pub payment_method: String,
    pub amount: String,
    pub receipt: String,
    pub resolved_at: Option<i64>,
}

impl From<Form> for FormJson {
    fn from(f: Form) -> Self {
        Self {
            id: f.id,
            submitter: f.submitter,
            time: f.form_time,
            customer_name: f.customer_name,
            course: f.course,
            payment_method: f.payment_method,
            amount: amount::format_cents(f.amount_cents),
            receipt: f.receipt,
            resolved_at: f.resolved_at,
        }
    }
}

macro_rules! select_forms {
    ($rest:literal) => {
        concat!(
            "SELECT f.id, f.submitter_id, u.username AS submitter, f.form_time, f.customer_name, ",
            "f.course, f.payment_method, f.amount_cents, f.receipt, f.resolved_at ",
            "FROM forms f JOIN users u ON u.id = f.submitter_id ",
            $rest
        )
    };
}

pub async fn find<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    id: i64,
) -> Result<Option<Form>, DbError> {
    Ok(sqlx::query_as(select_forms!("WHERE f.id = ?"))
        .bind(id)
        .fetch_optional(exec)
        .await?)
}

/// The fields a request may set; `None` where it did not supply one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FormFields {
    pub time: Option<i64>,
    pub customer_name: Option<String>,
    pub course: Option<String>,
    pub payment_method: Option<String>,
    pub amount_cents: Option<i64>,
    pub receipt: Option<String>,
}

/// Validates the form fields of a body (all `required` on POST). `time` is a whole-object
/// check: any value but an integer timestamp (null included) is the `_schema` error.
fn parse_fields(
    input: &mut Input,
    body: &Map<String, Value>,
    raw_body: &[u8],
    required: bool,
) -> (FormFields, bool) {
    let customer_name = input.string("customer_name", Some(128), required);
    let course = input.string("course", Some(256), required);
    let receipt = input.string("receipt", Some(128), required);
    let payment_method = match input.string("payment_method", None, required) {
        Some(m) if m == "cash" || m == "cheque" => Some(m),
        Some(_) => {
            input.fail("payment_method", "Not a valid choice.");
            None
        }
        None => None,
    };
    let amount_cents = parse_amount(input, body, raw_body, required);
    let (time, time_ok) = match body.get("time") {
        None => {
            if required {
                input.fail("time", crate::validate::MISSING);
            }
            (None, true)
        }
        // a JSON integer (not a float, string or bool) from 0 to the end of year 9999
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_i64() {
            Some(t) if (0..=MAX_TIME).contains(&t) => (Some(t), true),
            _ => (None, false),
        },
        Some(_) => (None, false),
    };
    (
        FormFields {
            time,
            customer_name,
            course,
            payment_method,
            amount_cents,
            receipt,
        },
        time_ok,
    )
}

fn parse_amount(
    input: &mut Input,
    body: &Map<String, Value>,
    raw_body: &[u8],
    required: bool,
) -> Option<i64> {
    let text = match body.get("amount") {
        None => {
            if required {
                input.fail("amount", crate::validate::MISSING);
            }
            return None;
        }
        Some(Value::Null) => {
            input.fail("amount", crate::validate::NOT_NULL);
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        // The number's own text: `Value` would already have turned it into a float.
        Some(Value::Number(_)) => raw_member(raw_body, "amount").unwrap_or_default(),
        Some(_) => String::new(),
    };
    match amount::parse_cents(&text) {
        Ok(cents) => Some(cents),
        Err(AmountError::NotANumber) => {
            input.fail("amount", "Not a valid number.");
            None
        }
        Err(AmountError::TooLarge) => {
            input.fail("amount", "Must be less than 100000000000000.");
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

/// A whole-object error wins: when `time` is refused, no field error is reported
/// (contract section 1), as the old service converted `time` before loading the fields.
fn finish(input: Input, time_ok: bool) -> Result<(), ApiError> {
    if !time_ok {
        return Err(schema_error(TIME_ERROR));
    }
    input.finish()
}

/// The id of a body that names a form.
fn parse_id(input: &mut Input) -> i64 {
    input.integer("id", true).unwrap_or_default()
}

/// `GET /form`: every form for an admin, the caller's own otherwise; one query.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<FormJson>, ApiError> {
    let forms: Vec<Form> = if caller.user.is_admin() {
        sqlx::query_as(select_forms!("ORDER BY f.id"))
            .fetch_all(&state.db.pool)
            .await?
    } else {
        sqlx::query_as(select_forms!("WHERE f.submitter_id = ? ORDER BY f.id"))
            .bind(caller.user.id)
            .fetch_all(&state.db.pool)
            .await?
    };
    Ok(forms.into_iter().map(FormJson::from).collect())
}

fn recipient(user: &User) -> Recipient<'_> {
    Recipient {
        first_name: &user.first_name,
        last_name: user.last_name.as_deref(),
        email: &user.email,
    }
}

fn resolve_link(state: &AppState, base: &LinkBase, admin: &User, form_id: i64) -> String {
    let token = state.links.sign_resolve(&ResolveLink {
        admin_id: admin.id,
        form_id,
        issued_at: now(),
    });
    base.url(state, "/resolve", &token)
}

fn details<'a>(
    form: &'a Form,
    submitter: &'a User,
    submitter_name: &'a str,
    amount: &'a str,
) -> FormDetails<'a> {
    FormDetails {
        id: form.id,
        submitter_name,
        submitter_email: &submitter.email,
        customer_name: &form.customer_name,
        course: &form.course,
        time: form.form_time,
        payment_method: &form.payment_method,
        amount,
        receipt: &form.receipt,
    }
}

/// `POST /form`: the form and one "new form" e-mail per admin, in one transaction.
pub async fn create(
    state: &AppState,
    base: &LinkBase,
    caller: &Caller,
    body: &Map<String, Value>,
    raw_body: &[u8],
) -> Result<i64, ApiError> {
    let mut input = Input::new(body);
    let (fields, time_ok) = parse_fields(&mut input, body, raw_body, true);
    finish(input, time_ok)?;

    let mut tx = state.db.begin_write().await?;
    let result = sqlx::query(
        "INSERT INTO forms (submitter_id, form_time, customer_name, course, payment_method, \
         amount_cents, receipt, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(caller.user.id)
    .bind(fields.time.unwrap_or_default())
    .bind(fields.customer_name.as_deref().unwrap_or_default())
    .bind(fields.course.as_deref().unwrap_or_default())
    .bind(fields.payment_method.as_deref().unwrap_or_default())
    .bind(fields.amount_cents.unwrap_or_default())
    .bind(fields.receipt.as_deref().unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    let id = match result.last_insert_id() {
        Some(id) => id,
        None => {
            sqlx::query_scalar("SELECT MAX(id) FROM forms WHERE submitter_id = ?")
                .bind(caller.user.id)
                .fetch_one(&mut *tx)
                .await?
        }
    };
    let form = find(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::internal("the form just inserted is missing"))?;
    let name = caller.user.full_name();
    let amount = amount::format_cents(form.amount_cents);
    let logo = base.logo(state);
    for admin in users::admins(&mut *tx).await? {
        let link = resolve_link(state, base, &admin, id);
        let email = email_templates::new_form(
            &recipient(&admin),
            &details(&form, &caller.user, &name, &amount),
            &link,
            &logo,
        );
        outbox::enqueue(&mut tx, &email, now()).await?;
    }
    tx.commit().await?;
    state.notifier.outbox_changed().await;
    Ok(id)
}

fn may_change(caller: &Caller, form: &Form) -> bool {
    caller.user.is_admin() || caller.user.id == form.submitter_id
}

/// `PATCH /form`: changes only the supplied fields. `Ok(None)` when nothing changed (no
/// e-mail); otherwise the form as it was, and one "edited form" e-mail per admin.
pub async fn update(
    state: &AppState,
    base: &LinkBase,
    caller: &Caller,
    body: &Map<String, Value>,
    raw_body: &[u8],
) -> Result<Option<FormJson>, ApiError> {
    let mut input = Input::new(body);
    let id = parse_id(&mut input);
    let (fields, time_ok) = parse_fields(&mut input, body, raw_body, false);
    finish(input, time_ok)?;

    let mut tx = state.db.begin_write().await?;
    let old = find(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("Form {id} does not exist")))?;
    if old.resolved_at.is_some() {
        return Err(ApiError::BadRequest(format!(
            "Form {id} has been resolved, it can no longer be edited"
        )));
    }
    if !may_change(caller, &old) {
        return Err(ApiError::Unauthorized(format!(
            "You must have either submitted form {id} or be an admin to update it"
        )));
    }
    let mut new = old.clone();
    let mut changes = Vec::new();
    let mut change = |label: &str, old_text: String, new_text: String| {
        changes.push(FieldChange {
            label: label.into(),
            new: new_text,
            old: old_text,
        })
    };
    if let Some(t) = fields.time.filter(|t| *t != old.form_time) {
        change(
            "Time",
            email_templates::format_time(old.form_time),
            email_templates::format_time(t),
        );
        new.form_time = t;
    }
    if let Some(v) = fields.customer_name.filter(|v| *v != old.customer_name) {
        change("Customer name", old.customer_name.clone(), v.clone());
        new.customer_name = v;
    }
    if let Some(v) = fields.course.filter(|v| *v != old.course) {
        change("Course", old.course.clone(), v.clone());
        new.course = v;
    }
    if let Some(v) = fields.payment_method.filter(|v| *v != old.payment_method) {
        change(
            "Payment method",
            email_templates::payment_method_label(&old.payment_method),
            email_templates::payment_method_label(&v),
        );
        new.payment_method = v;
    }
    if let Some(v) = fields.amount_cents.filter(|v| *v != old.amount_cents) {
        change(
            "Amount",
            email_templates::amount_label(&amount::format_cents(old.amount_cents)),
            email_templates::amount_label(&amount::format_cents(v)),
        );
        new.amount_cents = v;
    }
    if let Some(v) = fields.receipt.filter(|v| *v != old.receipt) {
        change("Receipt", old.receipt.clone(), v.clone());
        new.receipt = v;
    }
    if changes.is_empty() {
        return Ok(None);
    }
    // Conditional on the form still being open: a resolve that committed meanwhile wins.
    let updated = sqlx::query(
        "UPDATE forms SET form_time = ?, customer_name = ?, course = ?, payment_method = ?, \
         amount_cents = ?, receipt = ? WHERE id = ? AND resolved_at IS NULL",
    )
    .bind(new.form_time)
    .bind(&new.customer_name)
    .bind(&new.course)
    .bind(&new.payment_method)
    .bind(new.amount_cents)
    .bind(&new.receipt)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::BadRequest(format!(
            "Form {id} has been resolved, it can no longer be edited"
        )));
    }
    let submitter = users::find_by_id(&mut *tx, old.submitter_id)
        .await?
        .ok_or_else(|| ApiError::internal("a form's submitter is missing"))?;
    let editor_name = caller.user.full_name();
    let submitter_name = submitter.full_name();
    let editor = Person {
        name: &editor_name,
        email: &caller.user.email,
    };
    let original = Person {
        name: &submitter_name,
        email: &submitter.email,
    };
    let original = (submitter.id != caller.user.id).then_some(&original);
    let logo = base.logo(state);
    for admin in users::admins(&mut *tx).await? {
        let link = resolve_link(state, base, &admin, id);
        let email = email_templates::edited_form(
            &recipient(&admin),
            id,
            &editor,
            original,
            &changes,
            &link,
            &logo,
        );
        outbox::enqueue(&mut tx, &email, now()).await?;
    }
    tx.commit().await?;
    state.notifier.outbox_changed().await;
    Ok(Some(old.into()))
}

/// `DELETE /form`: returns the deleted form. Resolved forms can be deleted.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<FormJson, ApiError> {
    let mut input = Input::new(body);
    let id = parse_id(&mut input);
    input.finish()?;
    let mut tx = state.db.begin_write().await?;
    let form = find(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("Form {id} does not exist")))?;
    if !may_change(caller, &form) {
        return Err(ApiError::Unauthorized(format!(
            "You must have either submitted form {id} or be an admin to delete it"
        )));
    }
    sqlx::query("DELETE FROM forms WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(form.into())
}

/// Why a resolve was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveRefusal {
    Missing(i64),
    AlreadyResolved(i64),
}

impl From<ResolveRefusal> for ApiError {
    fn from(r: ResolveRefusal) -> Self {
        match r {
            ResolveRefusal::Missing(id) => {
                ApiError::BadRequest(format!("Form {id} does not exist"))
            }
            ResolveRefusal::AlreadyResolved(id) => {
                ApiError::BadRequest(format!("Form {id} is already resolved"))
            }
        }
    }
}

#[derive(Debug)]
pub enum ResolveError {
    Refused(ResolveRefusal),
    Internal(ApiError),
}

impl From<DbError> for ResolveError {
    fn from(e: DbError) -> Self {
        ResolveError::Internal(e.into())
    }
}

impl From<sqlx::Error> for ResolveError {
    fn from(e: sqlx::Error) -> Self {
        ResolveError::Internal(e.into())
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Refused(r) => r.into(),
            ResolveError::Internal(e) => e,
        }
    }
}

/// Marks a form resolved with a conditional update (two concurrent resolves: one wins),
/// and e-mails its submitter in the same transaction. Returns the resolved form and the
/// submitter.
pub async fn resolve(
    state: &AppState,
    base: &LinkBase,
    id: i64,
) -> Result<(Form, User), ResolveError> {
    let mut tx = state.db.begin_write().await?;
    let updated =
        sqlx::query("UPDATE forms SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    let form = find(&mut *tx, id).await?;
    let form = match (updated.rows_affected(), form) {
        (_, None) => return Err(ResolveError::Refused(ResolveRefusal::Missing(id))),
        (0, Some(_)) => return Err(ResolveError::Refused(ResolveRefusal::AlreadyResolved(id))),
        (_, Some(form)) => form,
    };
    let submitter = users::find_by_id(&mut *tx, form.submitter_id)
        .await?
        .ok_or_else(|| {
            ResolveError::Internal(ApiError::internal("a form's submitter is missing"))
        })?;
    let name = submitter.full_name();
    let amount = amount::format_cents(form.amount_cents);
    let email = email_templates::resolved(
        &recipient(&submitter),
        &details(&form, &submitter, &name, &amount),
        form.resolved_at.unwrap_or_else(now),
        &base.logo(state),
    );
    outbox::enqueue(&mut tx, &email, now()).await?;
    tx.commit().await?;
    state.notifier.outbox_changed().await;
    Ok((form, submitter))
}

/// `PUT /form/resolve` (admin).
pub async fn resolve_from_api(
    state: &AppState,
    base: &LinkBase,
    body: &Map<String, Value>,
) -> Result<FormJson, ApiError> {
    let mut input = Input::new(body);
    let id = parse_id(&mut input);
    input.finish()?;
    let (form, _) = resolve(state, base, id).await?;
    Ok(form.into())
}

/// Why a resolve link was refused: the 422 page's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveLinkRefusal {
    #[error("No token provided")]
    Missing,
    #[error("This token is invalid")]
    Invalid,
    #[error("This link was sent to an administrator who no longer exists")]
    AdminGone,
    #[error("This link was sent to a user who is no longer an administrator")]
    NotAdmin,
}

#[derive(Debug)]
pub enum ResolveLinkError {
    Link(ResolveLinkRefusal),
    Resolve(ResolveError),
}

/// `GET /resolve?token=`: the link's admin must still exist and still be an admin; then
/// exactly like the API.
pub async fn resolve_from_link(
    state: &AppState,
    base: &LinkBase,
    token: Option<&str>,
) -> Result<(Form, User), ResolveLinkError> {
    let token = token.unwrap_or_default();
    let internal = |e: DbError| ResolveLinkError::Resolve(e.into());
    let (admin, form_id) = match state.links.verify_resolve(token) {
        Ok(link) => (
            users::find_by_id(&state.db.pool, link.admin_id)
                .await
                .map_err(internal)?,
            link.form_id,
        ),
        Err(LinkError::Missing) => return Err(ResolveLinkError::Link(ResolveLinkRefusal::Missing)),
        // A link e-mailed by the Flask service, on a deployment imported from it. The
        // signature before the marker: a token that is no old link costs no query.
        Err(LinkError::Invalid) => {
            let invalid = || ResolveLinkError::Link(ResolveLinkRefusal::Invalid);
            let link = state
                .links
                .verify_legacy_resolve(token)
                .map_err(|_| invalid())?;
            if !flask_import::came_from_flask(&state.db.pool)
                .await
                .map_err(internal)?
            {
                return Err(invalid());
            }
            (
                users::find_by_username(&state.db.pool, &link.username)
                    .await
                    .map_err(internal)?,
                link.form_id,
            )
        }
    };
    let admin = admin.ok_or(ResolveLinkError::Link(ResolveLinkRefusal::AdminGone))?;
    if !admin.is_admin() {
        return Err(ResolveLinkError::Link(ResolveLinkRefusal::NotAdmin));
    }
    resolve(state, base, form_id)
        .await
        .map_err(ResolveLinkError::Resolve)
}
