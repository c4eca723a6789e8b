//! The `forms` table.

use futures_util::TryStreamExt;
use sqlx::any::AnyArguments;
use sqlx::mysql::MySql;
use sqlx::query::Query;
use sqlx::{
    Any, AnyConnection, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type,
};

use crate::domain::amount::Cents;
use crate::domain::form::{Form, FormFields, FormId, FormView, PaymentMethod};
use crate::domain::user::UserId;
use crate::store::db::{Db, DbError};

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
        let payment_method = payment_method(id, &self.payment_method)?;
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

/// Form `id`'s stored payment method (named in the error).
fn payment_method(id: i64, stored: &str) -> Result<PaymentMethod, DbError> {
    PaymentMethod::parse(stored)
        .ok_or_else(|| DbError::Corrupt(format!("form {id} has payment method {stored:?}")))
}

/// A `forms` row with its submitter's username, in [`select_forms`]'s column order, owned
/// (one form; the list borrows its rows instead, [`view_of`]).
type FormRow = (
    i64,
    i64,
    String,
    i64,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
);

fn form_from_row(row: FormRow) -> Result<Form, DbError> {
    let (
        id,
        submitter_id,
        submitter,
        form_time,
        customer_name,
        course,
        payment_method,
        amount_cents,
        receipt,
        resolved_at,
    ) = row;
    let fields = FieldsRow {
        form_time,
        customer_name,
        course,
        payment_method,
        amount_cents,
        receipt,
    };
    Ok(Form {
        id: FormId(id),
        submitter_id: UserId(submitter_id),
        submitter,
        fields: fields.into_fields(id)?,
        resolved_at,
    })
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

/// A form with its submitter's username. A LEFT JOIN keeps `forms` the outer table, so
/// MariaDB reads the forms in key order and looks each username up by primary key. An
/// inner join let it start from `users` and sort every row in a temporary table (10,000
/// forms: 43 ms of server time, not 12). The correlated subquery that was here before went
/// through MariaDB's subquery cache and cost more: 326 against 273 µs for 100 forms.
macro_rules! select_forms {
    ($rest:literal) => {
        concat!("SELECT f.id, f.submitter_id, ", select_forms!(@shown), $rest)
    };
    // A list's rows: what a list shows, without `f.submitter_id`. One value fewer in each
    // row MariaDB sends and sqlx parses (80 KB fewer per 10,000-form list); its effect on
    // MariaDB's CPU per list was within the noise (-16% to +9% over seven A/B readings).
    (list $rest:literal) => {
        concat!("SELECT f.id, ", select_forms!(@shown), $rest)
    };
    (@shown) => {
        concat!(
            "u.username AS submitter, f.form_time, f.customer_name, f.course, ",
            "f.payment_method, f.amount_cents, f.receipt, f.resolved_at ",
            "FROM forms f LEFT JOIN users u ON u.id = f.submitter_id "
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
    row.map(form_from_row).transpose()
}

/// Every form (`submitter` `None`) or the forms one user submitted, oldest first, each
/// handed to `each` as its row arrives, borrowed from it: no list of every row is ever
/// held, nor a copy of their texts. On MariaDB through the typed driver
/// ([`TypedMySql`](crate::store::db::TypedMySql)).
pub async fn for_each(
    db: &Db,
    submitter: Option<UserId>,
    mut each: impl FnMut(FormView<'_>),
) -> Result<(), DbError> {
    match db.typed_mysql() {
        Some(mysql) => {
            mysql
                .run(async |conn| stream_forms::<MySql>(conn, submitter, &mut each).await)
                .await
        }
        None => {
            db.run(async |conn| stream_forms::<Any>(conn, submitter, &mut each).await)
                .await
        }
    }
}

async fn stream_forms<DB: Database>(
    conn: &mut DB::Connection,
    submitter: Option<UserId>,
    each: &mut impl FnMut(FormView<'_>),
) -> Result<(), DbError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> &'r str: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let query = match submitter {
        None => sqlx::query::<DB>(select_forms!(list "ORDER BY f.id")),
        Some(user) => {
            sqlx::query(select_forms!(list "WHERE f.submitter_id = ? ORDER BY f.id")).bind(user.0)
        }
    };
    let mut rows = query.fetch(conn);
    while let Some(row) = rows.try_next().await? {
        each(view_of(&row)?);
    }
    Ok(())
}

/// A row of [`select_forms`]`(list ..)`, by position (the list reads ten thousand), its texts
/// borrowed.
fn view_of<'r, R: Row>(row: &'r R) -> Result<FormView<'r>, DbError>
where
    i64: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    let id = row.try_get(0)?;
    Ok(FormView {
        id: FormId(id),
        submitter: row.try_get(1)?,
        time: row.try_get(2)?,
        customer_name: row.try_get(3)?,
        course: row.try_get(4)?,
        payment_method: payment_method(id, row.try_get(5)?)?,
        amount: Cents(row.try_get(6)?),
        receipt: row.try_get(7)?,
        resolved_at: row.try_get(8)?,
    })
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
    count_change(conn, FormId(id)).await?;
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
        .execute(&mut *conn)
        .await?;
    let written = updated.rows_affected() == 1;
    if written {
        count_change(conn, form.id).await?;
    }
    Ok(written)
}

pub async fn delete(conn: &mut AnyConnection, id: FormId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM forms WHERE id = ?")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    count_change(conn, id).await
}

/// Marks an open form resolved at `at`; whether this call did (two concurrent resolves:
/// one wins).
pub async fn resolve_open(conn: &mut AnyConnection, id: FormId, at: i64) -> Result<bool, DbError> {
    let updated =
        sqlx::query("UPDATE forms SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL")
            .bind(at)
            .bind(id.0)
            .execute(&mut *conn)
            .await?;
    let won = updated.rows_affected() == 1;
    if won {
        count_change(conn, id).await?;
    }
    Ok(won)
}

/// The rows of `forms_version`, whose sum is the forms' version
/// (migrations/mysql/0004_forms_version.sql).
const VERSION_ROWS: i64 = 64;

/// Raises the forms' version (`forms_version`; `GET /form` reads it with the caller's
/// token, [`find_for_token_with_forms_version`](crate::store::users::find_for_token_with_forms_version))
/// in the transaction that changes form `id`, so the change and the number commit together.
/// Every writer of `forms` in this module calls it, and the Flask import. The row raised
/// stays locked until the commit; it is one of 64, by the form's id, so forms written at
/// once seldom wait for each other's commits, as they all did on one row.
pub(crate) async fn count_change(conn: &mut AnyConnection, id: FormId) -> Result<(), DbError> {
    sqlx::query("UPDATE forms_version SET version = version + 1 WHERE id = ?")
        .bind(id.0.rem_euclid(VERSION_ROWS))
        .execute(conn)
        .await?;
    Ok(())
}
