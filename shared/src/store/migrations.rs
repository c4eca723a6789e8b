//! The schema's migrations (migrations/, embedded by build.rs) and, on MariaDB, the code
//! that applies them.
//!
//! sqlx's Migrator decides what to run (lock, dirty check, checksums, order); each engine's
//! `Migrate` does the statements. SQLite's is sqlx's own. MariaDB's is [`OnMariaDb`], a
//! port of sqlx-mysql 0.9's (src/migrate.rs): the same table, statements, checksums and
//! lock, so a database that either one migrated is up to date for the other. It runs on
//! the `Any` pool's connection. sqlx-mysql's own is compiled only with its `migrate`
//! feature, and its transactions there compile sqlx's whole pool and MariaDB connection
//! path a second time, into sqlx-mysql, for a pool variant those transactions never hold
//! (97 KiB of `form`; `make size-copies`).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor, SqlStr};
use sqlx_core::migrate::{
    AppliedMigration, Migrate, MigrateError, Migration, MigrationType, Migrator,
};

// `pub static MYSQL` and `SQLITE`: each engine's `Migrator`, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// sqlx's `Migrate` for MariaDB, over an `Any` connection (see the module's docs).
pub struct OnMariaDb<'c> {
    conn: &'c mut AnyConnection,
    /// The lock's name, once `lock` has asked the database for it.
    lock_name: Option<String>,
}

impl<'c> OnMariaDb<'c> {
    pub fn new(conn: &'c mut AnyConnection) -> Self {
        Self {
            conn,
            lock_name: None,
        }
    }

    /// sqlx's lock name for this connection's database, asked for once.
    async fn lock_name(&mut self) -> Result<String, MigrateError> {
        if let Some(name) = &self.lock_name {
            return Ok(name.clone());
        }
        let database: String = sqlx::query_scalar("SELECT DATABASE()")
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(self.lock_name.insert(lock_name(&database)).clone())
    }
}

impl Migrate for OnMariaDb<'_> {
    fn create_schema_if_not_exists<'e>(
        &'e mut self,
        schema_name: &'e str,
    ) -> BoxFuture<'e, Result<(), MigrateError>> {
        Box::pin(async move {
            let sql = format!("CREATE SCHEMA IF NOT EXISTS {schema_name};");
            self.conn.execute(AssertSqlSafe(sql)).await?;
            Ok(())
        })
    }

    fn ensure_migrations_table<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<(), MigrateError>> {
        Box::pin(async move {
            let sql = format!(
                r#"
CREATE TABLE IF NOT EXISTS {table_name} (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);
                "#
            );
            self.conn.execute(AssertSqlSafe(sql)).await?;
            Ok(())
        })
    }

    fn dirty_version<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<Option<i64>, MigrateError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT version FROM {table_name} WHERE success = false ORDER BY version LIMIT 1"
            );
            Ok(sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_optional(&mut *self.conn)
                .await?)
        })
    }

    fn list_applied_migrations<'e>(
        &'e mut self,
        table_name: &'e str,
    ) -> BoxFuture<'e, Result<Vec<AppliedMigration>, MigrateError>> {
        Box::pin(async move {
            let sql = format!("SELECT version, checksum FROM {table_name} ORDER BY version");
            let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(&mut *self.conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(version, checksum)| AppliedMigration {
                    version,
                    checksum: checksum.into(),
                })
                .collect())
        })
    }

    /// Waits for the database's migration lock: instances starting together migrate one
    /// after the other, and the later ones find nothing left to do. sqlx-mysql asks for it
    /// with `GET_LOCK(name, -1)`, "no time limit" to MySQL but an error to MariaDB (NULL,
    /// which it does not check): on MariaDB its migrators never locked. Here the wait is a
    /// year (MariaDB frees the lock when its holder's session ends) and the answer is checked.
    fn lock(&mut self) -> BoxFuture<'_, Result<(), MigrateError>> {
        Box::pin(async move {
            let lock_id = self.lock_name().await?;
            let taken: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                .bind(&lock_id)
                .bind(LOCK_WAIT_SECONDS)
                .fetch_one(&mut *self.conn)
                .await?;
            match taken {
                Some(1) => Ok(()),
                other => Err(MigrateError::Execute(sqlx::Error::Protocol(format!(
                    "GET_LOCK('{lock_id}') answered {other:?}: the migration lock was not taken"
                )))),
            }
        })
    }

    fn unlock(&mut self) -> BoxFuture<'_, Result<(), MigrateError>> {
        Box::pin(async move {
            let lock_id = self.lock_name().await?;
            sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(lock_id)
                .execute(&mut *self.conn)
                .await?;
            Ok(())
        })
    }

    /// The migration and its bookkeeping in one transaction, marked unsuccessful first:
    /// MariaDB commits implicitly on DDL, so a migration that fails halfway leaves a row
    /// with `success = FALSE`, and the next run stops on it (`MigrateError::Dirty`) instead
    /// of running the statements twice.
    fn apply<'e>(
        &'e mut self,
        table_name: &'e str,
        migration: &'e Migration,
    ) -> BoxFuture<'e, Result<Duration, MigrateError>> {
        Box::pin(async move {
            let mut tx = self.conn.begin().await?;
            let start = Instant::now();
            let sql = format!(
                r#"
    INSERT INTO {table_name} ( version, description, success, checksum, execution_time )
    VALUES ( ?, ?, FALSE, ?, -1 )
                "#
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(migration.version)
                .bind(&*migration.description)
                .bind(&*migration.checksum)
                .execute(&mut *tx)
                .await?;
            tx.execute(migration.sql.clone())
                .await
                .map_err(|e| MigrateError::ExecuteMigration(e, migration.version))?;
            let sql = format!("UPDATE {table_name} SET success = TRUE WHERE version = ?");
            sqlx::query(AssertSqlSafe(sql))
                .bind(migration.version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;

            // For the record only (sqlx writes it the same way, after the commit).
            let elapsed = start.elapsed();
            let sql = format!("UPDATE {table_name} SET execution_time = ? WHERE version = ?");
            sqlx::query(AssertSqlSafe(sql))
                .bind(i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
                .bind(migration.version)
                .execute(&mut *self.conn)
                .await?;
            Ok(elapsed)
        })
    }

    /// Down migrations: there are none (every file is a plain up migration), and nothing
    /// here undoes one.
    fn revert<'e>(
        &'e mut self,
        _table_name: &'e str,
        _migration: &'e Migration,
    ) -> BoxFuture<'e, Result<Duration, MigrateError>> {
        Box::pin(async move {
            let reason = "down migrations are not supported";
            Err(MigrateError::Execute(sqlx::Error::Configuration(
                reason.into(),
            )))
        })
    }
}

const LOCK_WAIT_SECONDS: i64 = 365 * 24 * 3600;

/// sqlx's lock name for a database, so that sqlx's own migrators (its CLI, an older
/// release of these functions) and this one exclude each other.
pub fn lock_name(database: &str) -> String {
    const CRC_32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    format!(
        "{:x}",
        0x3d32ad9e * i64::from(CRC_32.checksum(database.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded migrations are what sqlx's own resolver (behind its `migrate!` macro)
    /// reads from migrations/: same versions, names, SQL and checksums, none missing.
    #[test]
    fn embedded_migrations_match_sqlx_resolver() {
        for (dir, embedded) in [("mysql", &MYSQL), ("sqlite", &SQLITE)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../migrations")
                .join(dir);
            let resolved = sqlx_core::migrate::resolve_blocking(&path).expect("resolve migrations");
            let mut resolved: Vec<Migration> = resolved.into_iter().map(|(m, _)| m).collect();
            resolved.sort();
            assert_eq!(embedded.migrations.len(), resolved.len(), "{dir}");
            assert!(!resolved.is_empty(), "{dir}");
            for (ours, sqlx) in embedded.migrations.iter().zip(&resolved) {
                assert_eq!(ours.version, sqlx.version, "{dir}");
                assert_eq!(ours.description, sqlx.description, "{dir}");
                assert_eq!(ours.migration_type, sqlx.migration_type, "{dir}");
                assert_eq!(ours.sql.as_str(), sqlx.sql.as_str(), "{dir}");
                assert_eq!(ours.checksum, sqlx.checksum, "{dir}");
                assert_eq!(ours.no_tx, sqlx.no_tx, "{dir}");
            }
        }
    }

    /// sqlx-mysql 0.9's `generate_lock_id`: CRC-32/ISO-HDLC of the database's name
    /// (0xcbf43926 for the standard check input), times 0x3d32ad9e, in hex.
    #[test]
    fn lock_name_is_sqlx_one() {
        assert_eq!(lock_name("123456789"), "30c191a322c5f374");
    }
}
