//! `migrate --import-flask <mysql://...>`: copies the Flask service's users, forms and
//! revoked tokens into this deployment's database, keeping every id.
//!
//! The old database is only read: one `READ ONLY` transaction with a consistent snapshot,
//! read in keyset batches. Each target batch is one transaction; a row whose id (or `jti`)
//! is already there is left as it is, so a second run changes nothing, and a run cut short
//! resumes. Before anything is written: old users colliding under the case-insensitive
//! keys, and rows the new schema cannot hold, are reported and nothing is copied. After:
//! counts per table and the sum of all amounts, old vs new.
//!
//! The `flask_import` row (written first) marks the deployment as coming from the Flask
//! service: only then are the old password hashes and e-mailed links accepted.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{Any, Connection, Executor};

use crate::domain::amount::format_cents;
use crate::domain::form::{FormFields, FormId};
use crate::domain::now;
use crate::domain::user::key;
use crate::store::db::{Db, DbError, Tx};
use crate::store::forms::{self, FieldsRow, bind_fields};

/// Rows per read and per target transaction.
const BATCH: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the old database ({url}): {source}")]
    Source { url: String, source: sqlx::Error },
    #[error("{0}")]
    Target(#[from] DbError),
    #[error(
        "the target database already holds {users} user(s) and {forms} form(s) that did not come \
         from an import; import into a new, empty database, or pass --allow-non-empty to add the \
         old rows beside them (a row whose id is already taken is left as it is)"
    )]
    NotEmpty { users: i64, forms: i64 },
    #[error("nothing was imported: {0}")]
    Refused(String),
    #[error("verification failed: the copy differs from the old database (see the table above)")]
    Mismatch,
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Target(e.into())
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub users_copied: u64,
    pub forms_copied: u64,
    pub revoked_copied: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn changed_nothing(&self) -> bool {
        self.users_copied == 0 && self.forms_copied == 0 && self.revoked_copied == 0
    }
}

/// True when this deployment's data came from the Flask service (the import's marker).
pub async fn came_from_flask<'c, E: Executor<'c, Database = Any>>(
    exec: E,
) -> Result<bool, DbError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM flask_import WHERE id = 1")
        .fetch_optional(exec)
        .await?;
    Ok(found.is_some())
}

/// True when two database URLs name the same MariaDB database (host, port, name): the
/// import refuses to run into the database it reads, which migrating would write to.
pub fn same_database(source: &str, target: &str) -> bool {
    fn identity(url: &str) -> Option<(String, u16, String)> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let (address, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match address.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (address, 3306),
        };
        let host = match host.to_ascii_lowercase().as_str() {
            "localhost" | "::1" | "[::1]" => "127.0.0.1".to_string(),
            other => other.to_string(),
        };
        Some((host, port, database.to_string()))
    }
    matches!((identity(source), identity(target)), (Some(a), Some(b)) if a == b)
}

/// An old user row, as the new schema stores it.
#[derive(Debug, sqlx::FromRow)]
struct OldUser {
    id: i64,
    username: String,
    email: String,
    first_name: String,
    last_name: Option<String>,
    password: Option<String>,
    registration_time: i64,
    is_admin: i64,
    current_pw_token: i64,
}

#[derive(sqlx::FromRow)]
struct OldForm {
    id: i64,
    submitter: i64,
    #[sqlx(flatten)]
    fields: FieldsRow,
    resolved_at: Option<i64>,
}

/// A naive UTC DATETIME column as epoch seconds, whatever the session's time zone (and
/// unlike `UNIX_TIMESTAMP`, before 1970 and after 2038 too).
macro_rules! epoch {
    ($column:literal) => {
        concat!(
            "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', ",
            $column,
            ")"
        )
    };
}

const SELECT_USERS: &str = concat!(
    "SELECT CAST(id AS SIGNED) AS id, username, email, first_name, last_name, password, ",
    epoch!("registration_time"),
    " AS registration_time, CAST(is_admin AS SIGNED) AS is_admin, ",
    "CAST(current_pw_token AS SIGNED) AS current_pw_token ",
    "FROM users WHERE id > ? ORDER BY id LIMIT ?"
);
// Amounts as integer cents, computed by the database in exact DECIMAL arithmetic (no
// float, no text to parse): exact, since SELECT_UNFIT_FORMS refused any third decimal.
const SELECT_FORMS: &str = concat!(
    "SELECT CAST(id AS SIGNED) AS id, CAST(submitter AS SIGNED) AS submitter, ",
    epoch!("time"),
    " AS form_time, customer_name, course, CAST(payment_method AS CHAR) AS payment_method, ",
    "CAST(amount * 100 AS SIGNED) AS amount_cents, receipt, ",
    epoch!("resolved_at"),
    " AS resolved_at FROM forms WHERE id > ? ORDER BY id LIMIT ?"
);
// `jti` is not unique in the old table: one row per jti, the latest expiry.
const SELECT_REVOKED: &str = concat!(
    "SELECT jti, ",
    epoch!("MAX(expiry)"),
    " FROM revoked_tokens WHERE jti > ? GROUP BY jti ORDER BY jti LIMIT ?"
);
// Rows the new schema cannot hold (NOT NULL columns, the two payment methods, a submitter,
// whole cents).
const SELECT_UNFIT_FORMS: &str = "SELECT CAST(id AS SIGNED) FROM forms WHERE customer_name IS NULL \
     OR course IS NULL OR receipt IS NULL OR amount IS NULL OR payment_method IS NULL \
     OR payment_method NOT IN ('cash', 'cheque') OR amount <> ROUND(amount, 2) \
     OR submitter NOT IN (SELECT id FROM users) ORDER BY id LIMIT 20";
// The database's own sum, in cents, as an integer string (it may exceed 64 bits).
const SELECT_OLD_SUM: &str =
    "SELECT CAST(CAST(SUM(amount) * 100 AS DECIMAL(65, 0)) AS CHAR) FROM forms";

/// Runs the import into `db` (already migrated). `progress` gets one line per batch.
pub async fn run(
    db: &Db,
    source_url: &str,
    allow_non_empty: bool,
    progress: &mut dyn FnMut(String),
) -> Result<Summary, ImportError> {
    let started = Instant::now();
    let shown_url = crate::store::db::redacted_url(source_url);
    let source_err = |source: sqlx::Error| ImportError::Source {
        url: shown_url.clone(),
        source,
    };
    let mut old = open_source(source_url).await.map_err(source_err)?;

    let marked = check_target(db, allow_non_empty).await?;
    let old_users = read_users(&mut old, progress).await.map_err(source_err)?;
    check_users(db, &old_users).await?;
    check_old_forms(&mut old).await.map_err(|e| match e {
        UnfitOrSource::Source(e) => source_err(e),
        UnfitOrSource::Unfit(refusal) => refusal,
    })?;

    if !marked {
        mark_started(db, &shown_url).await?;
    }

    let users_copied = copy_users(db, &old_users, progress).await?;
    let (forms_copied, old_form_ids, old_cents) =
        copy_forms(db, &mut old, &source_err, progress).await?;
    let (revoked_copied, old_jtis) = copy_revoked(db, &mut old, &source_err, progress).await?;
    let old_sum: Option<String> = sqlx::query_scalar(SELECT_OLD_SUM)
        .fetch_one(&mut old)
        .await
        .map_err(source_err)?;
    let _ = old.close().await;

    let old_user_ids: HashSet<i64> = old_users.iter().map(|u| u.id).collect();
    let verified = verify(
        db,
        &old_user_ids,
        &old_form_ids,
        &old_jtis,
        old_sum
            .as_deref()
            .map_or(Some(0), |cents| cents.parse().ok()),
        old_cents,
        progress,
    )
    .await?;
    if !verified {
        return Err(ImportError::Mismatch);
    }
    mark_finished(db).await?;
    Ok(Summary {
        users_copied,
        forms_copied,
        revoked_copied,
        elapsed: started.elapsed(),
    })
}

/// The marker of an imported deployment (old links work there), written before the copy.
async fn mark_started(db: &Db, source: &str) -> Result<(), DbError> {
    sqlx::query("INSERT INTO flask_import (id, source, started_at) VALUES (1, ?, ?)")
        .bind(source)
        .bind(now())
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn mark_finished(db: &Db) -> Result<(), DbError> {
    sqlx::query("UPDATE flask_import SET finished_at = ? WHERE id = 1 AND finished_at IS NULL")
        .bind(now())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The target is empty, or holds an earlier run of this import, or the operator said it
/// may hold data. Whether an earlier run marked it.
async fn check_target(db: &Db, allow_non_empty: bool) -> Result<bool, ImportError> {
    let marked = came_from_flask(&db.pool).await?;
    let (users, forms): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM forms)")
            .fetch_one(&db.pool)
            .await?;
    if (users > 0 || forms > 0) && !marked && !allow_non_empty {
        return Err(ImportError::NotEmpty { users, forms });
    }
    Ok(marked)
}

enum UnfitOrSource {
    Source(sqlx::Error),
    Unfit(ImportError),
}

/// Refuses the import, before anything is written, when an old form cannot be held.
async fn check_old_forms(old: &mut MySqlConnection) -> Result<(), UnfitOrSource> {
    let unfit: Vec<i64> = sqlx::query_scalar(SELECT_UNFIT_FORMS)
        .fetch_all(&mut *old)
        .await
        .map_err(UnfitOrSource::Source)?;
    if unfit.is_empty() {
        return Ok(());
    }
    Err(UnfitOrSource::Unfit(ImportError::Refused(format!(
        "forms the new schema cannot hold (a NULL field, a payment method other than cash or \
         cheque, an amount with more than two decimal places, or a submitter that does not \
         exist), ids {unfit:?}{}",
        if unfit.len() == 20 { " and more" } else { "" }
    ))))
}

/// One connection in one read-only transaction over a consistent snapshot: the old
/// database is never written, and every batch sees the same moment.
async fn open_source(url: &str) -> Result<MySqlConnection, sqlx::Error> {
    let url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_string(),
    };
    let options: MySqlConnectOptions = url.parse()?;
    let mut conn = MySqlConnection::connect_with(&options).await?;
    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    conn.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
    Ok(conn)
}

async fn read_users(
    old: &mut MySqlConnection,
    progress: &mut dyn FnMut(String),
) -> Result<Vec<OldUser>, sqlx::Error> {
    let mut users: Vec<OldUser> = Vec::new();
    loop {
        let after = users.last().map_or(0, |u| u.id);
        let batch: Vec<OldUser> = sqlx::query_as(SELECT_USERS)
            .bind(after)
            .bind(BATCH)
            .fetch_all(&mut *old)
            .await?;
        let done = (batch.len() as i64) < BATCH;
        users.extend(batch);
        if users.len() as i64 > BATCH {
            progress(format!("users: {} read", users.len()));
        }
        if done {
            return Ok(users);
        }
    }
}

/// Refuses old users whose case-insensitive keys collide with each other (the old database
/// may have compared case-sensitively) or with a different user already in the target.
async fn check_users(db: &Db, old_users: &[OldUser]) -> Result<(), ImportError> {
    /// A field's name, its value in an old user, and the target's keys of it.
    type Field = (&'static str, fn(&OldUser) -> &str, &'static str);
    let fields: [Field; 2] = [
        (
            "username",
            |u| &u.username,
            "SELECT id, username_key FROM users",
        ),
        ("email", |u| &u.email, "SELECT id, email_key FROM users"),
    ];
    let mut report = String::new();
    for (field, pick, held_in_target) in fields {
        let mut seen: HashMap<String, &OldUser> = HashMap::new();
        for user in old_users {
            if let Some(first) = seen.insert(key(pick(user)), user) {
                let _ = write!(
                    report,
                    "\n  {field} {:?} (user {}) and {:?} (user {}) are the same ignoring case",
                    pick(first),
                    first.id,
                    pick(user),
                    user.id
                );
            }
        }
        let held: Vec<(i64, String)> = sqlx::query_as(held_in_target).fetch_all(&db.pool).await?;
        for (id, held) in &held {
            if let Some(user) = seen.get(held)
                && user.id != *id
            {
                let _ = write!(
                    report,
                    "\n  {field} {:?} (old user {}) is already taken by user {id} of the target",
                    pick(user),
                    user.id
                );
            }
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Refused(format!(
            "users that collide under the case-insensitive keys (rename one of each in the old \
             database, then run the import again):{report}"
        )))
    }
}

async fn existing_ids(db: &Db, sql: &'static str) -> Result<HashSet<i64>, DbError> {
    let ids: Vec<i64> = sqlx::query_scalar(sql).fetch_all(&db.pool).await?;
    Ok(ids.into_iter().collect())
}

async fn copy_users(
    db: &Db,
    old_users: &[OldUser],
    progress: &mut dyn FnMut(String),
) -> Result<u64, ImportError> {
    let present = existing_ids(db, "SELECT id FROM users").await?;
    let mut copied = 0;
    for (n, chunk) in old_users.chunks(BATCH as usize).enumerate() {
        let mut tx = db.begin_write().await?;
        for user in chunk.iter().filter(|u| !present.contains(&u.id)) {
            sqlx::query(
                "INSERT INTO users (id, username, username_key, email, email_key, first_name, \
                 last_name, password_hash, is_admin, registration_time, password_link_counter) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(user.id)
            .bind(&user.username)
            .bind(key(&user.username))
            .bind(&user.email)
            .bind(key(&user.email))
            .bind(&user.first_name)
            .bind(&user.last_name)
            .bind(&user.password)
            .bind(i64::from(user.is_admin != 0))
            .bind(user.registration_time)
            .bind(user.current_pw_token)
            .execute(&mut *tx)
            .await?;
            copied += 1;
        }
        tx.commit().await?;
        if old_users.len() as i64 > BATCH {
            progress(format!(
                "users: {} of {} done",
                n * BATCH as usize + chunk.len(),
                old_users.len()
            ));
        }
    }
    progress(format!(
        "users: {} read, {copied} copied, {} already there",
        old_users.len(),
        old_users.len() as u64 - copied
    ));
    Ok(copied)
}

/// Copies the forms; returns how many were new, every old id, and the old amounts' sum.
async fn copy_forms(
    db: &Db,
    old: &mut MySqlConnection,
    source_err: &dyn Fn(sqlx::Error) -> ImportError,
    progress: &mut dyn FnMut(String),
) -> Result<(u64, HashSet<i64>, i128), ImportError> {
    let present = existing_ids(db, "SELECT id FROM forms").await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM forms")
        .fetch_one(&mut *old)
        .await
        .map_err(source_err)?;
    let (mut copied, mut ids, mut sum, mut after) = (0, HashSet::new(), 0i128, 0i64);
    loop {
        let batch: Vec<OldForm> = sqlx::query_as(SELECT_FORMS)
            .bind(after)
            .bind(BATCH)
            .fetch_all(&mut *old)
            .await
            .map_err(source_err)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        let mut tx = db.begin_write().await?;
        let read = batch.len() as i64;
        for OldForm {
            id,
            submitter,
            fields,
            resolved_at,
        } in batch
        {
            let fields = fields.into_fields(id)?;
            ids.insert(id);
            sum += i128::from(fields.amount.0);
            if present.contains(&id) {
                continue;
            }
            let kept = KeptForm {
                id,
                submitter,
                resolved_at,
            };
            insert_form(&mut tx, &kept, &fields).await?;
            copied += 1;
        }
        forms::count_change(&mut tx, FormId(after)).await?;
        tx.commit().await?;
        if total > BATCH {
            progress(format!("forms: {} of {total} done", ids.len()));
        }
        if read < BATCH {
            break;
        }
    }
    progress(format!(
        "forms: {} read, {copied} copied, {} already there",
        ids.len(),
        ids.len() as u64 - copied
    ));
    Ok((copied, ids, sum))
}

/// What an old form keeps besides its fields: its id, submitter and resolution.
struct KeptForm {
    id: i64,
    submitter: i64,
    resolved_at: Option<i64>,
}

/// One old form, with its id.
async fn insert_form(tx: &mut Tx, form: &KeptForm, fields: &FormFields) -> Result<(), DbError> {
    let insert = sqlx::query(
        "INSERT INTO forms (id, submitter_id, form_time, customer_name, course, \
         payment_method, amount_cents, receipt, resolved_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(form.id)
    .bind(form.submitter);
    bind_fields(insert, fields)
        .bind(form.resolved_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn copy_revoked(
    db: &Db,
    old: &mut MySqlConnection,
    source_err: &dyn Fn(sqlx::Error) -> ImportError,
    progress: &mut dyn FnMut(String),
) -> Result<(u64, HashSet<String>), ImportError> {
    let present: Vec<String> = sqlx::query_scalar("SELECT jti FROM revoked_tokens")
        .fetch_all(&db.pool)
        .await?;
    let present: HashSet<String> = present.into_iter().collect();
    let (mut copied, mut jtis, mut after) = (0, HashSet::new(), String::new());
    loop {
        let batch: Vec<(String, i64)> = sqlx::query_as(SELECT_REVOKED)
            .bind(&after)
            .bind(BATCH)
            .fetch_all(&mut *old)
            .await
            .map_err(source_err)?;
        let Some((last, _)) = batch.last() else { break };
        after = last.clone();
        let mut tx = db.begin_write().await?;
        for (jti, expires_at) in &batch {
            if jtis.insert(jti.clone()) && !present.contains(jti) {
                sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)")
                    .bind(jti)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                copied += 1;
            }
        }
        tx.commit().await?;
        if (batch.len() as i64) < BATCH {
            break;
        }
        progress(format!("revoked tokens: {} done", jtis.len()));
    }
    progress(format!(
        "revoked tokens: {} read, {copied} copied, {} already there",
        jtis.len(),
        jtis.len() as u64 - copied
    ));
    Ok((copied, jtis))
}

/// Counts per table and the sum of all amounts, old vs what the target holds under the
/// old ids. Prints the table; true when everything matches.
async fn verify(
    db: &Db,
    old_users: &HashSet<i64>,
    old_forms: &HashSet<i64>,
    old_jtis: &HashSet<String>,
    old_sum: Option<i128>,
    old_cents_read: i128,
    progress: &mut dyn FnMut(String),
) -> Result<bool, ImportError> {
    let users = existing_ids(db, "SELECT id FROM users").await?;
    let forms: Vec<(i64, i64)> = sqlx::query_as("SELECT id, amount_cents FROM forms")
        .fetch_all(&db.pool)
        .await?;
    let jtis: Vec<String> = sqlx::query_scalar("SELECT jti FROM revoked_tokens")
        .fetch_all(&db.pool)
        .await?;
    let new_users = old_users.iter().filter(|id| users.contains(id)).count();
    let (mut new_forms, mut new_sum) = (0usize, 0i128);
    for (id, cents) in &forms {
        if old_forms.contains(id) {
            new_forms += 1;
            new_sum += i128::from(*cents);
        }
    }
    let new_jtis = jtis.iter().filter(|j| old_jtis.contains(*j)).count();
    let rows = [
        ("users", old_users.len().to_string(), new_users.to_string()),
        ("forms", old_forms.len().to_string(), new_forms.to_string()),
        (
            "revoked tokens (distinct jti)",
            old_jtis.len().to_string(),
            new_jtis.to_string(),
        ),
        (
            "sum of all amounts",
            old_sum.map_or_else(|| "?".into(), format_cents),
            format_cents(new_sum),
        ),
    ];
    progress(format!(
        "verification: {:<30} {:>22} {:>22}",
        "", "old", "new"
    ));
    let mut all_equal = true;
    for (what, old, new) in rows {
        let equal = old == new;
        all_equal &= equal;
        progress(format!(
            "verification: {what:<30} {old:>22} {new:>22}  {}",
            if equal { "ok" } else { "DIFFERENT" }
        ));
    }
    // The database's own SUM and the sum of what was read must agree too.
    Ok(all_equal && old_sum == Some(old_cents_read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_database_is_never_the_target() {
        assert!(same_database(
            "mysql://old:pw@db:3306/flask",
            "mariadb://root:x@db/flask?ssl-mode=disabled"
        ));
        assert!(same_database(
            "mysql://a@localhost/x",
            "mysql://b@127.0.0.1:3306/x"
        ));
        assert!(!same_database(
            "mysql://a@db/flask",
            "mysql://a@db/briefthreat"
        ));
        assert!(!same_database(
            "mysql://a@db/flask",
            "sqlite://data/briefthreat.db"
        ));
    }

    /// The verification's sums go past one amount's limit (and past 64 bits).
    #[test]
    fn sums_are_shown_exactly() {
        assert_eq!(format_cents(-50), "-0.50");
        assert_eq!(
            format_cents(9_999_999_999_999_999_i128 * 3),
            "299999999999999.97"
        );
        // 1,000 forms at the largest amount: MariaDB's sum, as SELECT_OLD_SUM gives it
        let sum: i128 = "9999999999999999000".parse().unwrap();
        assert!(sum > i128::from(i64::MAX));
        assert_eq!(format_cents(sum), "99999999999999990.00");
    }
}
