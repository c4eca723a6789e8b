//! Database tests, run against both engines: the embedded SQLite file and the throwaway
//! MariaDB that `make test` starts (`TEST_MYSQL_URL`).

use std::collections::HashMap;

use shared::app::accounts;
use shared::domain::amount::Cents;
use shared::domain::email_templates::RenderedEmail;
use shared::domain::form::{Form, FormFields, PaymentMethod};
use shared::domain::user::{NewUser, User, UserId};
use shared::store::db::{Backend, DbError};
use shared::store::{forms, migrations, outbox, revoked, users};
use shared::{AppState, Config, Db};
use sqlx_core::migrate::MigrateError;

/// Each test gets its own database: a temp SQLite file, or a fresh MariaDB database.
async fn state_for(backend: Backend, name: &str, extra: &[(&str, &str)]) -> Option<AppState> {
    let url = empty_database(backend, name).await?;
    let mut vars: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("DATABASE_URL".into(), url.clone());
    let config = Config::from_vars(vars).unwrap();
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(db.backend, backend);
    db.migrate().await.unwrap();
    Some(AppState::new(config, db).expect("state"))
}

/// A new, empty database's URL; `None` when MariaDB is not configured (outside CI).
async fn empty_database(backend: Backend, name: &str) -> Option<String> {
    let url = match backend {
        Backend::Sqlite => {
            let dir =
                std::env::temp_dir().join(format!("bt-db-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}?mode=rwc", dir.join("bt.db").display())
        }
        Backend::MySql => {
            let Ok(base) = std::env::var("TEST_MYSQL_URL") else {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "TEST_MYSQL_URL must be set in CI (make test starts MariaDB)"
                );
                eprintln!("TEST_MYSQL_URL not set: skipping the MariaDB half of {name}");
                return None;
            };
            let admin = Db::connect(&base).await.unwrap();
            let database = format!("bt_rs_{}_{name}", std::process::id());
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}"
            )))
            .execute(&admin.pool)
            .await
            .unwrap();
            let server = base.rsplit_once('/').unwrap().0;
            format!("{server}/{database}")
        }
    };
    Some(url)
}

async fn on_both_engines<F, Fut>(name: &str, test: F)
where
    F: Fn(AppState) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::MySql] {
        if let Some(state) = state_for(backend, name, &[("ROOT_PASSWORD", "pw")]).await {
            eprintln!("{name}: {backend:?}");
            test(state).await;
        }
    }
}

fn new_user<'a>(username: &'a str, email: &'a str) -> NewUser<'a> {
    NewUser {
        username,
        email,
        first_name: "Test",
        last_name: None,
        is_admin: false,
        password_hash: None,
        registration_time: 1_700_000_000,
    }
}

/// A form's fields, all fixed but the receipt.
fn fields(receipt: &str) -> FormFields {
    FormFields {
        time: 1_700_000_000,
        customer_name: "Zoë".into(),
        course: "k".into(),
        payment_method: PaymentMethod::Cash,
        amount: Cents(100),
        receipt: receipt.into(),
    }
}

/// A form written in SQL by hand, past the store (which raises the forms' version).
async fn insert_form_by_hand(conn: &mut sqlx::AnyConnection, submitter: UserId, receipt: &str) {
    sqlx::query(
        "INSERT INTO forms (submitter_id, form_time, customer_name, course, payment_method, \
         amount_cents, receipt, resolved_at) VALUES (?, 1, 'c', 'k', 'cash', 100, ?, NULL)",
    )
    .bind(submitter.0)
    .bind(receipt)
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn migrations_are_idempotent() {
    on_both_engines("migrate", |state| async move {
        state.db.migrate().await.unwrap();
        state.db.migrate().await.unwrap();
        state.db.ping().await.unwrap();
    })
    .await;
}

/// What the migration table holds after a run: sqlx's own format (MariaDB's rows are
/// written by store/migrations.rs, SQLite's by sqlx), so sqlx's migrators and ours agree.
#[tokio::test]
async fn migrations_are_recorded_as_sqlx_records_them() {
    on_both_engines("migration_rows", |state| async move {
        let expected: Vec<(i64, String, Vec<u8>)> = match state.db.backend {
            Backend::MySql => &migrations::MYSQL,
            Backend::Sqlite => &migrations::SQLITE,
        }
        .iter()
        .map(|m| (m.version, m.description.to_string(), m.checksum.to_vec()))
        .collect();
        // `success` is a BOOLEAN, which the `any` driver does not decode on SQLite.
        let rows: Vec<(i64, String, i64, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT version, description, CASE WHEN success THEN 1 ELSE 0 END, checksum, \
             execution_time FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&state.db.pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), expected.len());
        for (row, (version, description, checksum)) in rows.iter().zip(&expected) {
            assert_eq!(
                (row.0, &row.1, row.2, &row.3),
                (*version, description, 1, checksum)
            );
            assert!(row.4 >= 0, "execution time recorded: {row:?}");
        }
    })
    .await;
}

/// A migration edited after it ran, or one that failed halfway, stops the next run
/// before it touches the schema.
#[tokio::test]
async fn modified_or_failed_migrations_stop_the_run() {
    on_both_engines("migration_checks", |state| async move {
        sqlx::query("UPDATE _sqlx_migrations SET checksum = ? WHERE version = 1")
            .bind(vec![0u8; 48])
            .execute(&state.db.pool)
            .await
            .unwrap();
        let err = state.db.migrate().await.unwrap_err();
        assert!(
            matches!(err, DbError::Migrate(MigrateError::VersionMismatch(1))),
            "{err}"
        );

        let last: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&state.db.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET success = ? WHERE version = ?")
            .bind(false)
            .bind(last)
            .execute(&state.db.pool)
            .await
            .unwrap();
        let err = state.db.migrate().await.unwrap_err();
        assert!(
            matches!(err, DbError::Migrate(MigrateError::Dirty(v)) if v == last),
            "{err}"
        );
    })
    .await;
}

/// Instances that start together on an empty MariaDB migrate one after the other (sqlx's
/// lock): every run succeeds, each migration runs once, and the lock is free afterwards.
#[tokio::test]
async fn concurrent_first_starts_migrate_once() {
    let Some(url) = empty_database(Backend::MySql, "migration_race").await else {
        return;
    };
    let (a, b, c) = tokio::join!(Db::connect(&url), Db::connect(&url), Db::connect(&url));
    let dbs = [a.unwrap(), b.unwrap(), c.unwrap()];
    let (ra, rb, rc) = tokio::join!(dbs[0].migrate(), dbs[1].migrate(), dbs[2].migrate());
    for result in [ra, rb, rc] {
        result.unwrap();
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&dbs[0].pool)
            .await
            .unwrap();
    let expected: Vec<i64> = migrations::MYSQL.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
    let database: String = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&dbs[0].pool)
        .await
        .unwrap();
    let free: i64 = sqlx::query_scalar("SELECT IS_FREE_LOCK(?)")
        .bind(migrations::lock_name(&database))
        .fetch_one(&dbs[0].pool)
        .await
        .unwrap();
    assert_eq!(free, 1, "the migration lock is released");
}

#[tokio::test]
async fn usernames_and_emails_are_unique_case_insensitively() {
    on_both_engines("unique", |state| async move {
        let mut conn = state.db.pool.acquire().await.unwrap();
        let id = users::insert(&mut conn, &new_user("Alice", "alice@example.org"))
            .await
            .unwrap();
        let err = users::insert(&mut conn, &new_user("ALICE", "other@example.org"))
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        let err = users::insert(&mut conn, &new_user("bob", "ALICE@example.org"))
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        let found = users::find_by_username(&state.db.pool, "aLiCe")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.id, found.username.as_str()), (id, "Alice"));
        assert!(
            users::email_taken(&state.db.pool, "Alice@Example.org")
                .await
                .unwrap()
        );
        // non-ASCII folds the same way on both engines
        users::insert(&mut conn, &new_user("Élodie", "elodie@example.org"))
            .await
            .unwrap();
        assert!(
            users::find_by_username(&state.db.pool, "élodie")
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn a_link_sets_a_password_only_once() {
    on_both_engines("link_once", |state| async move {
        let mut conn = state.db.pool.acquire().await.unwrap();
        let id = users::insert(&mut conn, &new_user("carol", "carol@example.org"))
            .await
            .unwrap();
        assert!(
            users::set_password(&mut conn, id, "h1", Some(0))
                .await
                .unwrap()
        );
        assert!(
            !users::set_password(&mut conn, id, "h2", Some(0))
                .await
                .unwrap()
        );
        let user = users::find_by_id(&state.db.pool, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.password_hash.as_deref(), Some("h1"));
        assert_eq!(user.password_link_counter, 1);
        assert_eq!(users::next_link_counter(&mut conn, id).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn outbox_rows_roll_back_with_their_transaction() {
    on_both_engines("outbox_tx", |state| async move {
        let email = RenderedEmail {
            to_address: "a@example.org".into(),
            to_name: "Ä Ñame".into(),
            subject: "s".into(),
            text: "t €".into(),
            html: "<p>h</p>".repeat(20_000),
        };
        let mut tx = state.db.begin_write().await.unwrap();
        outbox::enqueue(&mut tx, &email, 1).await.unwrap();
        tx.rollback().await.unwrap();
        let mut tx = state.db.begin_write().await.unwrap();
        outbox::enqueue(&mut tx, &email, 1).await.unwrap();
        tx.commit().await.unwrap();
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT to_name, text_body, html_body FROM email_outbox")
                .fetch_all(&state.db.pool)
                .await
                .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, "Ä Ñame");
        assert_eq!(rows[0].1, "t €");
        assert_eq!(rows[0].2.len(), email.html.len());
    })
    .await;
}

#[tokio::test]
async fn root_bootstrap_is_idempotent_and_race_safe() {
    on_both_engines("root", |state| async move {
        let state = std::sync::Arc::new(state);
        let (a, b) = tokio::join!(accounts::ensure_root(&state), accounts::ensure_root(&state));
        a.unwrap();
        b.unwrap();
        accounts::ensure_root(&state).await.unwrap();
        let roots: Vec<i64> =
            sqlx::query_scalar("SELECT is_admin FROM users WHERE username = 'root'")
                .fetch_all(&state.db.pool)
                .await
                .unwrap();
        assert_eq!(roots, vec![1]);
        let root = users::find_by_username(&state.db.pool, "root")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(root.first_name, "Administrator");
        assert_eq!(root.last_name, None);
        assert!(root.has_password());
        // with ROOT_PASSWORD set, no e-mail
        let mails: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_outbox")
            .fetch_one(&state.db.pool)
            .await
            .unwrap();
        assert_eq!(mails, 0);
    })
    .await;
}

#[tokio::test]
async fn root_without_password_gets_the_registration_email() {
    for backend in [Backend::Sqlite, Backend::MySql] {
        let Some(state) = state_for(
            backend,
            "root_mail",
            &[
                ("ROOT_EMAIL", "Ops@Example.ORG"),
                ("PUBLIC_HOST", "bt.example.org"),
            ],
        )
        .await
        else {
            continue;
        };
        accounts::ensure_root(&state).await.unwrap();
        accounts::ensure_root(&state).await.unwrap();
        let root = users::find_by_username(&state.db.pool, "root")
            .await
            .unwrap()
            .unwrap();
        assert!(!root.has_password());
        assert_eq!(root.email, "Ops@example.org");
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT to_address, subject, html_body FROM email_outbox")
                .fetch_all(&state.db.pool)
                .await
                .unwrap();
        assert_eq!(rows.len(), 1, "{backend:?}");
        assert_eq!(rows[0].0, "Ops@example.org");
        assert_eq!(rows[0].1, "BriefThreat registration");
        assert!(
            rows[0]
                .2
                .contains("http://bt.example.org/reset-password?token=")
        );
    }
}

#[tokio::test]
async fn two_workers_never_claim_the_same_message() {
    on_both_engines("claims", |state| async move {
        let email = RenderedEmail {
            to_address: "a@example.org".into(),
            to_name: "A".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        };
        let mut tx = state.db.begin_write().await.unwrap();
        for _ in 0..40 {
            outbox::enqueue(&mut tx, &email, 100).await.unwrap();
        }
        tx.commit().await.unwrap();
        let (a, b) = tokio::join!(
            outbox::claim_due(&state.db, "worker-a", 100, 60, 30),
            outbox::claim_due(&state.db, "worker-b", 100, 60, 30)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut ids: Vec<i64> = a.iter().chain(b.iter()).map(|m| m.id).collect();
        let claimed = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), claimed, "a message was claimed twice");
        assert!(claimed >= 30, "only {claimed} claimed");
        // claims hold until the lease runs out, then another worker may take over
        assert!(
            outbox::claim_due(&state.db, "worker-c", 100, 60, 100)
                .await
                .unwrap()
                .len()
                == 40 - claimed
        );
        let taken_over = outbox::claim_due(&state.db, "worker-c", 161, 60, 100)
            .await
            .unwrap();
        assert_eq!(taken_over.len(), 40);
        // delivered and dead messages are never claimed again
        outbox::mark_delivered(&state.db, taken_over[0].id, "worker-c", 162)
            .await
            .unwrap();
        outbox::mark_failed(&state.db, taken_over[1].id, "worker-c", "550 no", 0, true)
            .await
            .unwrap();
        let again = outbox::claim_due(&state.db, "worker-d", 999, 60, 100)
            .await
            .unwrap();
        assert_eq!(again.len(), 38);
        assert_eq!(outbox::retry_dead(&state.db, &[], 1000).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_login_lookup_also_tells_whether_the_deployment_was_imported() {
    on_both_engines("login", |state| async move {
        let db = &state.db;
        let mut conn = db.pool.acquire().await.unwrap();
        let zoe = NewUser {
            first_name: "Zoë",
            is_admin: true,
            password_hash: Some("$argon2id$x"),
            ..new_user("Zoë", "zoe@example.test")
        };
        let id = users::insert(&mut conn, &zoe).await.unwrap();
        let zoe = users::find_by_id(&db.pool, id).await.unwrap();
        assert!(zoe.as_ref().is_some_and(|u: &User| u.is_admin));
        assert_eq!(
            users::find_for_login(&db.pool, "ZOË").await.unwrap(),
            (zoe.clone(), false)
        );
        assert_eq!(
            users::find_for_login(&db.pool, "nobody").await.unwrap(),
            (None, false)
        );
        // the marker `migrate --import-flask` writes, seen from the next login on
        sqlx::query("INSERT INTO flask_import (id, source, started_at) VALUES (1, 'x', 0)")
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            users::find_for_login(&db.pool, "zoë").await.unwrap(),
            (zoe, true)
        );
        assert_eq!(
            users::find_for_login(&db.pool, "nobody").await.unwrap(),
            (None, true)
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_lookup_also_tells_whether_the_token_was_revoked() {
    on_both_engines("token", |state| async move {
        let db = &state.db;
        let mut conn = db.pool.acquire().await.unwrap();
        let id = users::insert(&mut conn, &new_user("Amy", "amy@example.test"))
            .await
            .unwrap();
        let amy = users::find_by_id(&db.pool, id).await.unwrap();
        assert!(amy.is_some());
        assert_eq!(
            users::find_for_token(&mut conn, "AMY", "jti-1")
                .await
                .unwrap(),
            (amy.clone(), false)
        );
        revoked::revoke(&db.pool, "jti-1", i64::MAX).await.unwrap();
        assert_eq!(
            users::find_for_token(&mut conn, "amy", "jti-1")
                .await
                .unwrap(),
            (amy.clone(), true)
        );
        assert_eq!(
            users::find_for_token(&mut conn, "amy", "jti-2")
                .await
                .unwrap(),
            (amy, false)
        );
        assert_eq!(
            users::find_for_token(&mut conn, "nobody", "jti-1")
                .await
                .unwrap(),
            (None, true)
        );
        assert_eq!(
            users::find_for_token(&mut conn, "nobody", "jti-3")
                .await
                .unwrap(),
            (None, false)
        );
    })
    .await;
}

#[tokio::test]
async fn whoami_reads_the_user_and_their_form_ids_in_one_statement() {
    on_both_engines("whoami", |state| async move {
        let db = &state.db;
        let mut conn = db.pool.acquire().await.unwrap();
        let amy = users::insert(&mut conn, &new_user("Amy", "amy@example.test"))
            .await
            .unwrap();
        let bob = users::insert(&mut conn, &new_user("Bob", "bob@example.test"))
            .await
            .unwrap();
        users::insert(&mut conn, &new_user("Cy", "cy@example.test"))
            .await
            .unwrap();
        // interleaved, so that Amy's ids are not one run; her last one has two digits
        let mut submitters = vec![amy, bob, amy, amy, bob, amy];
        submitters.extend([bob; 6]);
        submitters.push(amy);
        for submitter in submitters {
            insert_form_by_hand(&mut conn, submitter, "r").await;
        }
        let expected = users::form_ids(&mut *conn, amy).await.unwrap();
        assert_eq!(expected, [1, 3, 4, 6, 13]);
        let ((user, revoked), ids) = users::find_for_token_with_forms(&mut conn, "AMY", "j")
            .await
            .unwrap();
        assert_eq!(user.map(|u| u.id), Some(amy));
        assert!(!revoked);
        assert_eq!(ids, expected);
        let ((user, _), ids) = users::find_for_token_with_forms(&mut conn, "cy", "j")
            .await
            .unwrap();
        assert!(user.is_some());
        assert_eq!(ids, Vec::<i64>::new());
        revoked::revoke(&mut *conn, "j", i64::MAX).await.unwrap();
        let found = users::find_for_token_with_forms(&mut conn, "nobody", "j")
            .await
            .unwrap();
        assert_eq!(found, ((None, true), vec![]));
        if db.backend == Backend::MySql {
            // a list cut short by the server ("1,3,", or "1,3,4,6,1" with a cut id) is read
            // again in full
            for cut_at in [4, 9] {
                sqlx::query("SET SESSION group_concat_max_len = ?")
                    .bind(cut_at)
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                let (_, ids) = users::find_for_token_with_forms(&mut conn, "amy", "j")
                    .await
                    .unwrap();
                assert_eq!(ids, expected, "cut at {cut_at}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_form_list_reads_every_column_in_id_order_on_either_driver() {
    on_both_engines("form_list", |state| async move {
        let db = &state.db;
        // MariaDB's list goes through sqlx's MySQL driver, SQLite's through `any`.
        assert_eq!(db.typed_mysql().is_some(), db.backend == Backend::MySql);
        let mut conn = db.pool.acquire().await.unwrap();
        let amy = users::insert(&mut conn, &new_user("Amy", "amy@example.test"))
            .await
            .unwrap();
        let bob = users::insert(&mut conn, &new_user("Bob", "bob@example.test"))
            .await
            .unwrap();
        let fields = |n: i64| FormFields {
            time: 1_700_000_000 + n,
            customer_name: format!("Zoë \"{n}\""),
            course: format!("course {n}"),
            payment_method: if n % 2 == 0 {
                PaymentMethod::Cash
            } else {
                PaymentMethod::Cheque
            },
            amount: Cents(-5 + n * 12_345),
            receipt: format!("R{n}"),
        };
        let mut expected = Vec::new();
        for (n, submitter) in [amy, bob, amy].into_iter().enumerate() {
            let n = n as i64;
            let id = forms::insert(&mut conn, submitter, &fields(n))
                .await
                .unwrap();
            expected.push(Form {
                id,
                submitter_id: submitter,
                submitter: if submitter == amy { "Amy" } else { "Bob" }.into(),
                fields: fields(n),
                resolved_at: None,
            });
        }
        forms::resolve_open(&mut conn, expected[1].id, 1_800_000_000)
            .await
            .unwrap();
        expected[1].resolved_at = Some(1_800_000_000);
        drop(conn);

        // Listed forms are borrowed from their rows: compared as the contract shows them.
        let list = async |submitter| {
            let mut listed = Vec::new();
            forms::for_each(db, submitter, |form| {
                listed.push(serde_json::to_value(form).unwrap())
            })
            .await
            .unwrap();
            listed
        };
        let shown = |forms: &[&Form]| -> Vec<serde_json::Value> {
            forms
                .iter()
                .map(|form| serde_json::to_value(form).unwrap())
                .collect()
        };
        assert_eq!(
            list(None).await,
            shown(&expected.iter().collect::<Vec<_>>())
        );
        assert_eq!(list(Some(amy)).await, shown(&[&expected[0], &expected[2]]));
        // twice in a row: the second call reuses the connection the first one kept
        assert_eq!(list(Some(bob)).await, shown(&[&expected[1]]));
        assert_eq!(list(Some(bob)).await, shown(&[&expected[1]]));

        // a stored value the domain cannot hold is an error, not a form
        sqlx::query("UPDATE forms SET payment_method = 'gold' WHERE id = ?")
            .bind(expected[2].id.0)
            .execute(&db.pool)
            .await
            .unwrap();
        let mut seen = 0;
        let refused = forms::for_each(db, None, |_| seen += 1).await;
        assert!(matches!(refused, Err(DbError::Corrupt(_))), "{refused:?}");
        assert_eq!(seen, 2, "the rows before the corrupt one were handed out");
    })
    .await;
}

/// The forms' version as the token lookup of `GET /form` reads it.
async fn forms_version(conn: &mut sqlx::AnyConnection) -> i64 {
    let ((user, _), version) = users::find_for_token_with_forms_version(conn, "amy", "j")
        .await
        .unwrap();
    assert!(user.is_some());
    version.expect("the forms_version row").0
}

#[tokio::test]
async fn every_change_to_a_form_raises_the_forms_version_with_it() {
    on_both_engines("forms_version", |state| async move {
        let db = &state.db;
        let mut conn = db.pool.acquire().await.unwrap();
        let amy = users::insert(&mut conn, &new_user("Amy", "amy@example.test"))
            .await
            .unwrap();
        let start = forms_version(&mut conn).await;

        let id = forms::insert(&mut conn, amy, &fields("a")).await.unwrap();
        assert_eq!(forms_version(&mut conn).await, start + 1, "insert");
        let mut form = forms::find(&mut *conn, id).await.unwrap().unwrap();
        form.fields = fields("b");
        assert!(forms::update_open(&mut conn, &form).await.unwrap());
        assert_eq!(forms_version(&mut conn).await, start + 2, "edit");
        assert!(forms::resolve_open(&mut conn, id, 1).await.unwrap());
        assert_eq!(forms_version(&mut conn).await, start + 3, "resolve");
        // nothing written, nothing raised
        assert!(!forms::resolve_open(&mut conn, id, 2).await.unwrap());
        assert!(!forms::update_open(&mut conn, &form).await.unwrap());
        assert_eq!(forms_version(&mut conn).await, start + 3, "nothing written");
        forms::delete(&mut conn, id).await.unwrap();
        assert_eq!(forms_version(&mut conn).await, start + 4, "delete");

        // the number commits with the change, or not at all
        let mut tx = db.begin_write().await.unwrap();
        forms::insert(&mut tx, amy, &fields("c")).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(forms_version(&mut conn).await, start + 4, "rolled back");

        // no user, no version: the request is refused anyway
        let found = users::find_for_token_with_forms_version(&mut conn, "nobody", "j")
            .await
            .unwrap();
        assert_eq!(found, ((None, false), None));
    })
    .await;
}

#[tokio::test]
async fn a_kept_form_list_answers_until_a_form_changes() {
    on_both_engines("kept_lists", |state| async move {
        use shared::app::forms::list;
        use shared::domain::jwt::TokenType;
        use shared::web::http::JsonArray;

        let db = &state.db;
        let mut conn = db.pool.acquire().await.unwrap();
        let mut ada = new_user("Ada", "ada@example.test");
        ada.is_admin = true;
        let ada_id = users::insert(&mut conn, &ada).await.unwrap();
        let bob = users::insert(&mut conn, &new_user("Bob", "bob@example.test"))
            .await
            .unwrap();
        let token = |name: &str| {
            let now = shared::domain::now();
            state.jwt.issue(name, TokenType::Access, 900, now).unwrap()
        };
        let (ada_token, bob_token) = (token("ada"), token("bob"));
        let receipts = async |token: &str| -> Vec<String> {
            let text = list(&state, token, Box::<JsonArray>::default())
                .await
                .unwrap();
            let listed: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
            listed
                .iter()
                .map(|form| form["receipt"].as_str().unwrap().to_owned())
                .collect()
        };

        forms::insert(&mut conn, bob, &fields("first"))
            .await
            .unwrap();
        assert_eq!(receipts(&ada_token).await, ["first"]);
        assert_eq!(receipts(&bob_token).await, ["first"]);
        // Written by hand, the version not raised: the kept lists answer, for a while.
        insert_form_by_hand(&mut conn, bob, "by hand").await;
        assert_eq!(receipts(&ada_token).await, ["first"]);
        assert_eq!(receipts(&bob_token).await, ["first"]);
        // Any change through the store: every list is read again.
        forms::insert(&mut conn, ada_id, &fields("ada's"))
            .await
            .unwrap();
        assert_eq!(receipts(&ada_token).await, ["first", "by hand", "ada's"]);
        assert_eq!(receipts(&bob_token).await, ["first", "by hand"]);
        // Who sees what is read with every request, not kept.
        users::set_admin(&mut *conn, bob, true).await.unwrap();
        assert_eq!(receipts(&bob_token).await, ["first", "by hand", "ada's"]);
        // A change by hand shows once the kept list is KEPT_FOR old.
        insert_form_by_hand(&mut conn, bob, "later").await;
        assert_eq!(receipts(&ada_token).await, ["first", "by hand", "ada's"]);
        tokio::time::sleep(shared::app::form_lists::KEPT_FOR).await;
        assert_eq!(
            receipts(&ada_token).await,
            ["first", "by hand", "ada's", "later"]
        );
    })
    .await;
}
