//! The `forms` table.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Executor};

use crate::domain::amount::Cents;
use crate::domain::form::{Form, FormFields, FormId, PaymentMethod};
use crate::domain::user::UserId;
use crate::store::db::DbError;

/// The columns a submitter fills in, as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct FieldsRow {
    form_time: i64,
    customer_name: String,
    course: String,
    payment_method: String,
    amount_cents: i64,
    receipt: String,
}

impl FieldsRow {
    /// The domain's fields of form `id` (named in the error).
    pub(crate) fn into_fields(self, id: i64) -> Result<FormFields, DbError> {
        let payment_method = PaymentMethod::parse(&self.payment_method).ok_or_else(|| {
            DbError::Corrupt(format!(
                "form {id} has payment method {:?}",
                self.payment_method
            ))
        })?;
        Ok(FormFields {
            time: self.form_time,
            customer_name: self.customer_name,
            course: self.course,
            payment_method,
            amount: Cents(self.amount_cents),
            receipt: self.receipt,
        })
    }
}

/// A `forms` row joined with its submitter's username.
#[derive(sqlx::FromRow)]
struct FormRow {
    id: i64,
    submitter_id: i64,
    submitter: String,
    #[sqlx(flatten)]
    fields: FieldsRow,
    resolved_at: Option<i64>,
}

impl TryFrom<FormRow> for Form {
    type Error = DbError;

    fn try_from(r: FormRow) -> Result<Self, DbError> {
        Ok(Form {
            id: FormId(r.id),
            submitter_id: UserId(r.submitter_id),
            submitter: r.submitter,
            fields: r.fields.into_fields(r.id)?,
            resolved_at: r.resolved_at,
        })
    }
}

/// Binds a form's fields, in the order `form_time, customer_name, course,
/// payment_method, amount_cents, receipt`.
pub(crate) fn bind_fields<'q>(
    query: Query<'q, Any, AnyArguments>,
    fields: &'q FormFields,
) -> Query<'q, Any, AnyArguments> {
    query
        .bind(fields.time)
        .bind(&fields.customer_name)
        .bind(&fields.course)
        .bind(fields.payment_method.as_str())
        .bind(fields.amount.0)
        .bind(&fields.receipt)
}

fn forms(rows: Vec<FormRow>) -> Result<Vec<Form>, DbError> {
    rows.into_iter().map(Form::try_from).collect()
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
    id: FormId,
) -> Result<Option<Form>, DbError> {
    let row: Option<FormRow> = sqlx::query_as(select_forms!("WHERE f.id = ?"))
        .bind(id.0)
        .fetch_optional(exec)
        .await?;
    row.map(Form::try_from).transpose()
}

/// Every form, oldest first.
pub async fn all<'c, E: Executor<'c, Database = Any>>(exec: E) -> Result<Vec<Form>, DbError> {
    forms(
        sqlx::query_as(select_forms!("ORDER BY f.id"))
            .fetch_all(exec)
            .await?,
    )
}

/// The forms one user submitted, oldest first.
pub async fn submitted_by<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    user: UserId,
) -> Result<Vec<Form>, DbError> {
    forms(
        sqlx::query_as(select_forms!("WHERE f.submitter_id = ? ORDER BY f.id"))
            .bind(user.0)
            .fetch_all(exec)
            .await?,
    )
}

pub async fn insert(
    conn: &mut AnyConnection,
    submitter: UserId,
    form: &FormFields,
) -> Result<FormId, DbError> {
    let insert = sqlx::query(
        "INSERT INTO forms (submitter_id, form_time, customer_name, course, payment_method, \
         amount_cents, receipt, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(submitter.0);
    let result = bind_fields(insert, form).execute(&mut *conn).await?;
    let id = match result.last_insert_id() {
        Some(id) => id,
        None => {
            sqlx::query_scalar("SELECT MAX(id) FROM forms WHERE submitter_id = ?")
                .bind(submitter.0)
                .fetch_one(&mut *conn)
                .await?
        }
    };
    Ok(FormId(id))
}

/// Writes an edit, on condition that the form is still open (a resolve that committed
/// meanwhile wins). Whether it was written.
pub async fn update_open(conn: &mut AnyConnection, form: &Form) -> Result<bool, DbError> {
    let update = sqlx::query(
        "UPDATE forms SET form_time = ?, customer_name = ?, course = ?, payment_method = ?, \
         amount_cents = ?, receipt = ? WHERE id = ? AND resolved_at IS NULL",
    );
    let updated = bind_fields(update, &form.fields)
        .bind(form.id.0)
        .execute(conn)
        .await?;
    Ok(updated.rows_affected() == 1)
}

pub async fn delete(conn: &mut AnyConnection, id: FormId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM forms WHERE id = ?")
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks an open form resolved at `at`; whether this call did (two concurrent resolves:
/// one wins).
pub async fn resolve_open(conn: &mut AnyConnection, id: FormId, at: i64) -> Result<bool, DbError> {
    let updated =
        sqlx::query("UPDATE forms SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL")
            .bind(at)
            .bind(id.0)
            .execute(conn)
            .await?;
    Ok(updated.rows_affected() == 1)
}
