//! The users table. Usernames and e-mails are unique case-insensitively on every engine
//! through the `*_key` columns, which hold the lower-cased value.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, FromRow, Row};

use crate::domain::form::FormsVersion;
use crate::domain::user::{NewUser, User, UserId, key};
use crate::store::db::DbError;

/// A `users` row; [`User`] is what the rest of the crate sees.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    email: String,
    first_name: String,
    last_name: Option<String>,
    password_hash: Option<String>,
    is_admin: i64,
    registration_time: i64,
    password_link_counter: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId(r.id),
            username: r.username,
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            password_hash: r.password_hash,
            is_admin: r.is_admin != 0,
            registration_time: r.registration_time,
            password_link_counter: r.password_link_counter,
        }
    }
}

macro_rules! user_columns {
    () => {
        "id, username, email, first_name, last_name, password_hash, is_admin, \
         registration_time, password_link_counter"
    };
}

/// `SELECT <every user column> FROM users <rest>`, as a static string (sqlx only runs
/// audited, static SQL).
macro_rules! select_users {
    ($rest:literal) => {
        concat!("SELECT ", user_columns!(), " FROM users ", $rest)
    };
}

pub async fn find_by_username<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    username: &str,
) -> Result<Option<User>, DbError> {
    let row: Option<UserRow> = sqlx::query_as(select_users!("WHERE username_key = ?"))
        .bind(key(username))
        .fetch_optional(exec)
        .await?;
    Ok(row.map(User::from))
}

/// The user named `?` (last placeholder) beside a count, in one row: the probe keeps
/// the row when no user matches. The probe is a derived table, which MariaDB builds for
/// every statement (~20 µs of its CPU), so only logins use it; token lookups use
/// [`token_user!`].
macro_rules! user_beside {
    ($count:literal) => {
        concat!(
            "SELECT ",
            user_columns!(),
            ", ",
            $count,
            " AS beside FROM (SELECT 1 AS probe) AS one LEFT JOIN users ON username_key = ?"
        )
    };
}

/// How often a token (its `jti`) was revoked: 0 or 1.
macro_rules! revoked_count {
    () => {
        "SELECT COUNT(*) FROM revoked_tokens WHERE jti = ?"
    };
}

/// The user a token names (`?`, the last placeholder) beside whether the token (the first)
/// was revoked, as `beside`: no row when no user matches.
macro_rules! token_user {
    ($more_columns:literal) => {
        concat!(
            "SELECT ",
            user_columns!(),
            ", (",
            revoked_count!(),
            ") AS beside",
            $more_columns,
            " FROM users WHERE username_key = ?"
        )
    };
}

/// Whether the token `jti` was revoked: all a token lookup still needs once its user is
/// gone, since a revoked token is refused as revoked even then.
async fn revoked(conn: &mut AnyConnection, jti: &str) -> Result<bool, DbError> {
    let count: i64 = sqlx::query_scalar(revoked_count!())
        .bind(jti)
        .fetch_one(conn)
        .await?;
    Ok(count != 0)
}

/// A row of [`user_beside!`] or [`token_user!`]: the user, if one matched, and whether the
/// count was not 0.
fn user_and_flag(row: &AnyRow) -> Result<(Option<User>, bool), DbError> {
    let user = match row.try_get::<Option<i64>, _>("id")? {
        Some(_) => Some(UserRow::from_row(row)?.into()),
        None => None,
    };
    Ok((user, row.try_get::<i64, _>("beside")? != 0))
}

/// [`find_by_username`] for a login, and in the same round trip whether this deployment
/// came from the Flask service (the `flask_import` marker, see `crate::store::flask_import`). The
/// answer decides what the password check costs, unknown users included, so every login
/// needs it: asked here it costs no query of its own, and an import made while the
/// functions run counts from the next login on.
pub async fn find_for_login<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    username: &str,
) -> Result<(Option<User>, bool), DbError> {
    let row = sqlx::query(user_beside!("(SELECT COUNT(*) FROM flask_import)"))
        .bind(key(username))
        .fetch_one(exec)
        .await?;
    user_and_flag(&row)
}

/// What a [`token_user!`] statement found: its row, or no user (and then whether the token
/// was revoked).
enum TokenRow {
    Matched(AnyRow),
    NoUser { revoked: bool },
}

/// Runs `sql`, a [`token_user!`] statement, for `username` and the token `jti`; when no
/// user matched, asks whether the token was revoked (the only second query).
async fn token_row(
    conn: &mut AnyConnection,
    sql: &'static str,
    username: &str,
    jti: &str,
) -> Result<TokenRow, DbError> {
    let row = sqlx::query(sql)
        .bind(jti)
        .bind(key(username))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(row) => TokenRow::Matched(row),
        None => TokenRow::NoUser {
            revoked: revoked(conn, jti).await?,
        },
    })
}

/// The user a token names, and in the same round trip whether the token (`jti`) was
/// revoked: one query per authenticated request; a second only when the user is gone.
pub async fn find_for_token(
    conn: &mut AnyConnection,
    username: &str,
    jti: &str,
) -> Result<(Option<User>, bool), DbError> {
    Ok(
        match token_row(conn, token_user!(""), username, jti).await? {
            TokenRow::Matched(row) => user_and_flag(&row)?,
            TokenRow::NoUser { revoked } => (None, revoked),
        },
    )
}

/// [`find_for_token`] and, in the same round trip, the forms' version (`GET /form`, which
/// keeps the list it wrote for each version). `None` when no user matched.
pub async fn find_for_token_with_forms_version(
    conn: &mut AnyConnection,
    username: &str,
    jti: &str,
) -> Result<((Option<User>, bool), Option<FormsVersion>), DbError> {
    let sql =
        token_user!(", (SELECT CAST(SUM(version) AS SIGNED) FROM forms_version) AS forms_version");
    Ok(match token_row(conn, sql, username, jti).await? {
        TokenRow::Matched(row) => {
            let version = row.try_get::<Option<i64>, _>("forms_version")?;
            (user_and_flag(&row)?, version.map(FormsVersion))
        }
        TokenRow::NoUser { revoked } => ((None, revoked), None),
    })
}

/// [`find_for_token`] and the ids of the forms the user submitted, ascending, in the same
/// round trip (`GET /auth/login`). The ids come as one `GROUP_CONCAT` beside their sum:
/// should MariaDB ever cut the list at `group_concat_max_len` (1 MiB, some 150,000 ids),
/// what is left sums to less (ids are positive; a cut id is smaller), and they are read
/// again on their own.
pub async fn find_for_token_with_forms(
    conn: &mut AnyConnection,
    username: &str,
    jti: &str,
) -> Result<((Option<User>, bool), Vec<i64>), DbError> {
    let sql = token_user!(
        ", (SELECT CAST(GROUP_CONCAT(f.id) AS CHAR) FROM forms f WHERE f.submitter_id = users.id) \
         AS form_ids, (SELECT CAST(SUM(f.id) AS SIGNED) FROM forms f \
         WHERE f.submitter_id = users.id) AS form_id_sum"
    );
    let row = match token_row(conn, sql, username, jti).await? {
        TokenRow::Matched(row) => row,
        TokenRow::NoUser { revoked } => return Ok(((None, revoked), Vec::new())),
    };
    let found = user_and_flag(&row)?;
    let Some(user_id) = found.0.as_ref().map(|user| user.id) else {
        return Ok((found, Vec::new()));
    };
    let listed: Option<String> = row.try_get("form_ids")?;
    let sum: Option<i64> = row.try_get("form_id_sum")?;
    let parsed: Option<Vec<i64>> = listed
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| id.parse().ok())
        .collect();
    let ids = match parsed {
        Some(mut ids)
            if ids.iter().try_fold(0i64, |a, &id| a.checked_add(id)) == Some(sum.unwrap_or(0)) =>
        {
            ids.sort_unstable();
            ids
        }
        _ => form_ids(conn, user_id).await?,
    };
    Ok((found, ids))
}

pub async fn find_by_id<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    id: UserId,
) -> Result<Option<User>, DbError> {
    let row: Option<UserRow> = sqlx::query_as(select_users!("WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(exec)
        .await?;
    Ok(row.map(User::from))
}

pub async fn email_taken<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    email: &str,
) -> Result<bool, DbError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email_key = ?")
        .bind(key(email))
        .fetch_optional(exec)
        .await?;
    Ok(found.is_some())
}

pub async fn admins<'c, E: Executor<'c, Database = Any>>(exec: E) -> Result<Vec<User>, DbError> {
    let rows: Vec<UserRow> = sqlx::query_as(select_users!("WHERE is_admin = 1 ORDER BY id"))
        .fetch_all(exec)
        .await?;
    Ok(rows.into_iter().map(User::from).collect())
}

/// Inserts a user; a lost race on a unique key comes back as a unique violation.
pub async fn insert(conn: &mut AnyConnection, user: &NewUser<'_>) -> Result<UserId, DbError> {
    let result = sqlx::query(
        "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, \
         password_hash, is_admin, registration_time, password_link_counter) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
    )
    .bind(user.username)
    .bind(key(user.username))
    .bind(user.email)
    .bind(key(user.email))
    .bind(user.first_name)
    .bind(user.last_name)
    .bind(user.password_hash)
    .bind(i64::from(user.is_admin))
    .bind(user.registration_time)
    .execute(&mut *conn)
    .await?;
    match result.last_insert_id() {
        Some(id) => Ok(UserId(id)),
        None => Ok(UserId(
            sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
                .bind(key(user.username))
                .fetch_one(&mut *conn)
                .await?,
        )),
    }
}

/// Sets a new password and moves the link counter on, so every outstanding link dies.
/// With `expected_counter`, only while the counter still has that value (a link being
/// used): returns false when another request got there first.
pub async fn set_password(
    conn: &mut AnyConnection,
    user_id: UserId,
    password_hash: &str,
    expected_counter: Option<i64>,
) -> Result<bool, DbError> {
    let result = match expected_counter {
        Some(counter) => sqlx::query(
            "UPDATE users SET password_hash = ?, password_link_counter = password_link_counter + 1 \
                 WHERE id = ? AND password_link_counter = ?",
        )
        .bind(password_hash)
        .bind(user_id.0)
        .bind(counter)
        .execute(conn)
        .await?,
        None => sqlx::query(
            "UPDATE users SET password_hash = ?, password_link_counter = password_link_counter + 1 \
                 WHERE id = ?",
        )
        .bind(password_hash)
        .bind(user_id.0)
        .execute(conn)
        .await?,
    };
    Ok(result.rows_affected() == 1)
}

/// Replaces a legacy hash with an argon2id hash of the same password (first login after
/// the import). Not a password change: the link counter stays, links stay valid. Only
/// while the stored hash is still `old_hash`.
pub async fn upgrade_password_hash<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    user_id: UserId,
    old_hash: &str,
    new_hash: &str,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
        .bind(new_hash)
        .bind(user_id.0)
        .bind(old_hash)
        .execute(exec)
        .await?;
    Ok(())
}

/// Moves the link counter on (a new link supersedes every older one) and returns it.
pub async fn next_link_counter(conn: &mut AnyConnection, user_id: UserId) -> Result<i64, DbError> {
    sqlx::query("UPDATE users SET password_link_counter = password_link_counter + 1 WHERE id = ?")
        .bind(user_id.0)
        .execute(&mut *conn)
        .await?;
    Ok(
        sqlx::query_scalar("SELECT password_link_counter FROM users WHERE id = ?")
            .bind(user_id.0)
            .fetch_one(&mut *conn)
            .await?,
    )
}

pub async fn set_admin<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    user_id: UserId,
    is_admin: bool,
) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET is_admin = ? WHERE id = ?")
        .bind(i64::from(is_admin))
        .bind(user_id.0)
        .execute(exec)
        .await?;
    Ok(())
}

/// Ids of the forms a user submitted, ascending.
pub async fn form_ids<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    user_id: UserId,
) -> Result<Vec<i64>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM forms WHERE submitter_id = ? ORDER BY id")
            .bind(user_id.0)
            .fetch_all(exec)
            .await?,
    )
}
