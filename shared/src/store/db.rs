//! The database: one set of portable queries over sqlx's `any` driver, MariaDB for
//! self-hosting and AWS, an embedded SQLite file when nothing else is configured. On
//! MariaDB the form list runs through sqlx's MySQL driver itself ([`TypedMySql`]).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlPool};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Database, Pool, Transaction};
use sqlx_core::any::driver::AnyDriver;
use sqlx_core::migrate::Migrate;

use super::migrations;

/// The drivers the `Any` pool connects with. Not `install_default_drivers`: it registers
/// each driver's create- and drop-database functions too, which nothing here calls, and
/// compiles the connection path again in the `sqlx` crate (~0.2 MiB of each function).
static ANY_DRIVERS: &[AnyDriver] = &[
    AnyDriver::without_migrate::<MySql>(),
    #[cfg(feature = "sqlite")]
    AnyDriver::without_migrate::<sqlx::Sqlite>(),
];

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx_core::migrate::MigrateError),
    /// A stored value the domain cannot hold.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(
        "this build has no SQLite (built without the `sqlite` feature): set DATABASE_URL to a MariaDB database"
    )]
    SqliteNotBuilt,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

impl DbError {
    /// True when the statement broke a unique index (a race lost to another writer).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// The longest a statement waits for a connection (while the database is down, say).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may sit unused before it is pinged before use: an instance that
/// was frozen or quiet may come back to a connection the server dropped.
const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

/// A pool plus the engine behind it; cheap to clone, built once per cold start.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// The connection [`Db::run`] keeps checked out between requests.
    own: Arc<Kept<Any>>,
    /// MariaDB only: the same database through sqlx's MySQL driver itself.
    mysql: Option<Arc<LazyMySql>>,
}

/// [`TypedMySql`], made on first use: a function that never lists forms has no second
/// pool, nor its maintenance task, and links ~40 KiB less of it (sqlx's `connect_lazy`
/// at start-up would open no connections either, but builds the pool in every function).
#[derive(Debug)]
struct LazyMySql {
    options: MySqlConnectOptions,
    typed: OnceLock<TypedMySql>,
}

/// sqlx's `any` driver copies every row it reads into a row of its own and hands out its
/// columns by name: for the 10,000-form list that was about a third of the function's
/// time. The statements that read many rows run here instead, decoding in place.
#[derive(Debug)]
pub struct TypedMySql {
    pool: MySqlPool,
    own: Kept<MySql>,
}

impl TypedMySql {
    /// [`Db::run`], on this driver's own connection.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&mut MySqlConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.own.run(&self.pool, work).await
    }
}

/// A connection kept checked out of its pool between requests (see [`Db::run`]).
#[derive(Debug)]
struct Kept<DB: Database>(Mutex<Option<(PoolConnection<DB>, Instant)>>);

impl<DB: Database> Default for Kept<DB> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<DB: Database> Kept<DB> {
    async fn run<T>(
        &self,
        pool: &Pool<DB>,
        work: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.take(pool).await?;
        let value = work(&mut conn).await?;
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.is_none() {
            *kept = Some((conn, Instant::now()));
        }
        Ok(value)
    }

    async fn take(&self, pool: &Pool<DB>) -> Result<PoolConnection<DB>, DbError> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((mut conn, last_used)) = kept
            && (last_used.elapsed() < PING_AFTER_IDLE || conn.ping().await.is_ok())
        {
            return Ok(conn);
        }
        Ok(pool.acquire().await?)
    }
}

/// A function instance serves its requests with a few connections; the e-mail and
/// cleanup workers run statements side by side. sqlx pings every connection it hands
/// out; only one that sat idle for a while can have been dropped by the server, so only
/// those are pinged (the ping on release, which sqlx always makes, is what `Db::run`
/// avoids).
fn pool_options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn: &mut DB::Connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

impl Db {
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        // Only the first call installs them; the later ones find them installed.
        let _ = sqlx::any::install_drivers(ANY_DRIVERS);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::MySql
        };
        if backend == Backend::Sqlite {
            if !cfg!(feature = "sqlite") {
                return Err(DbError::SqliteNotBuilt);
            }
            ensure_sqlite_dir(url)?;
        }
        let pool = pool_options::<Any>().connect(url).await?;
        let mysql = match backend {
            Backend::MySql => Some(Arc::new(LazyMySql {
                options: url.parse()?,
                typed: OnceLock::new(),
            })),
            Backend::Sqlite => None,
        };
        Ok(Self {
            pool,
            backend,
            own: Arc::default(),
            mysql,
        })
    }

    /// Runs `work`'s statements on the instance's own connection, kept out of the pool
    /// between requests. sqlx pings every connection given back to a pool (whoami was 2
    /// statements and 4 pings before this and the pool's idle-only check); this one is
    /// pinged only after [`PING_AFTER_IDLE`] unused. When `work` fails, the connection goes back to the pool, which
    /// tests it and closes it if it is broken; the next call takes a fresh one. While it is
    /// in use (a second task of the same instance), the pool serves the other caller.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.own.run(&self.pool, work).await
    }

    /// The typed MySQL driver, when the database is MariaDB.
    pub fn typed_mysql(&self) -> Option<&TypedMySql> {
        let lazy = self.mysql.as_deref()?;
        Some(lazy.typed.get_or_init(|| TypedMySql {
            pool: pool_options().connect_lazy_with(lazy.options.clone()),
            own: Kept::default(),
        }))
    }

    /// Applies pending migrations (idempotent; sqlx locks against concurrent runners).
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => {
                // WAL lets the function processes read while one of them writes; the
                // setting is stored in the file, so once is enough.
                sqlx::query("PRAGMA journal_mode=WAL")
                    .execute(&self.pool)
                    .await?;
                migrations::SQLITE.run(&self.pool).await?;
            }
            Backend::MySql => {
                // sqlx's Migrator over our MariaDB `Migrate` (store/migrations.rs says why);
                // `run` would ask the connection for sqlx-mysql's.
                let mut conn = self.pool.acquire().await?;
                let mut on_mariadb = migrations::OnMariaDb::new(&mut conn);
                let run = migrations::MYSQL
                    .run_direct(None, &mut on_mariadb, false)
                    .await;
                if run.is_err() {
                    // sqlx's Migrator returns on a failed step without unlocking, and this
                    // connection would go back to the pool still holding the lock: the
                    // next run in this process would wait for it.
                    let _ = on_mariadb.unlock().await;
                }
                run?;
            }
        }
        Ok(())
    }

    /// A write transaction: `BEGIN IMMEDIATE` on SQLite, so that two writers queue at the
    /// start instead of one failing at commit.
    pub async fn begin_write(&self) -> Result<Tx, DbError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::MySql => self.pool.begin().await?,
        };
        Ok(Tx(tx))
    }

    /// One connection from the pool, for a statement or two outside a transaction.
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<Any>, DbError> {
        Ok(self.pool.acquire().await?)
    }

    /// `SELECT 1`, for the health check.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// A use case's transaction: rolled back when dropped, unless committed.
pub struct Tx(Transaction<'static, Any>);

impl Tx {
    pub async fn commit(self) -> Result<(), DbError> {
        Ok(self.0.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        Ok(self.0.rollback().await?)
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}

fn ensure_sqlite_dir(url: &str) -> Result<(), DbError> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| DbError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// The database URL without its password, for logs.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
