//! Accounts: registration by invitation, admin flags, password reset e-mails and the
//! root user (contract sections 2, 3 and 8).

use futures_util::future::BoxFuture;

use crate::AppState;
use crate::app::error::AppError;
use crate::app::mail::{LinkBase, password_email};
use crate::domain::links::PasswordLinkKind;
use crate::domain::refusal::Refusal;
use crate::domain::user::{self, AccessChange, EmailAddress, NewUser, Registration};
use crate::domain::{now, passwords};
use crate::store::{outbox, users};

/// `PATCH /auth/login`: e-mail a reset link; every earlier link dies.
pub fn request_password_reset<'a>(
    state: &'a AppState,
    base: &'a LinkBase,
    username: &'a str,
) -> BoxFuture<'a, Result<(), AppError>> {
    Box::pin(async move {
        let mut tx = state.db.begin_write().await?;
        let user = users::find_by_username(&mut *tx, username)
            .await?
            .ok_or_else(|| Refusal::NoSuchUser(username.into()))?;
        if !user.has_password() {
            return Err(Refusal::PasswordNotSet(username.into()).into());
        }
        let counter = users::next_link_counter(&mut tx, user.id).await?;
        let email = password_email(state, base, &user, counter, PasswordLinkKind::Reset);
        outbox::enqueue(&mut tx, &email, now()).await?;
        tx.commit().await?;
        state.notifier.outbox_changed().await;
        Ok(())
    })
}

/// `POST /auth/register`: the user and the set-password e-mail, in one transaction.
pub fn register<'a>(
    state: &'a AppState,
    base: &'a LinkBase,
    registration: Registration,
) -> BoxFuture<'a, Result<(), AppError>> {
    Box::pin(async move {
        let username = registration.username.as_str();
        let email = registration.email.as_str();
        let taken = || Refusal::UsernameTaken(username.into());
        let mut tx = state.db.begin_write().await?;
        if users::find_by_username(&mut *tx, username).await?.is_some() {
            return Err(taken().into());
        }
        if users::email_taken(&mut *tx, email).await? {
            return Err(Refusal::EmailTaken(email.into()).into());
        }
        let new_user = NewUser {
            username,
            email,
            first_name: registration.first_name.as_str(),
            last_name: registration.last_name.as_ref().map(user::Name::as_str),
            is_admin: registration.is_admin,
            password_hash: None,
            registration_time: now(),
        };
        let id = match users::insert(&mut tx, &new_user).await {
            Ok(id) => id,
            // Lost a race with a concurrent registration of the same name or address.
            Err(e) if e.is_unique_violation() => {
                drop(tx);
                let name_taken = users::find_by_username(&state.db.pool, username).await?;
                let refusal = match name_taken {
                    Some(_) => taken(),
                    None => Refusal::EmailTaken(email.into()),
                };
                return Err(refusal.into());
            }
            Err(e) => return Err(e.into()),
        };
        let user = users::find_by_id(&mut *tx, id)
            .await?
            .ok_or_else(|| AppError::bug("the user just inserted is missing"))?;
        let counter = user.password_link_counter;
        let email = password_email(state, base, &user, counter, PasswordLinkKind::Set);
        outbox::enqueue(&mut tx, &email, now()).await?;
        tx.commit().await?;
        state.notifier.outbox_changed().await;
        Ok(())
    })
}

/// `PATCH /auth/access`: set a user's admin flag; read live, so it applies at once.
pub fn set_access<'a>(
    state: &'a AppState,
    change: AccessChange,
) -> BoxFuture<'a, Result<(), AppError>> {
    Box::pin(async move {
        let user = users::find_by_username(&state.db.pool, &change.username)
            .await?
            .ok_or_else(|| Refusal::NoSuchUserQuoted(change.username.clone()))?;
        if let Some(is_admin) = change.is_admin {
            users::set_admin(&state.db.pool, user.id, is_admin).await?;
        }
        Ok(())
    })
}

/// Root bootstrap (contract section 8): on first start a `root` admin exists. With
/// `ROOT_PASSWORD` it gets that password; otherwise the registration e-mail. Idempotent,
/// and a lost race with another cold start is not an error.
pub fn ensure_root<'a>(state: &'a AppState) -> BoxFuture<'a, Result<(), AppError>> {
    Box::pin(async move {
        if users::find_by_username(&state.db.pool, user::ROOT)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let password_hash = match &state.config.root.password {
            Some(p) => Some(passwords::hash(p.expose().to_string()).await?),
            None => None,
        };
        // A local address such as root@localhost is fine for development: only normalise.
        let root_email = match EmailAddress::parse(&state.config.root.email) {
            Ok(address) => address.as_str().to_string(),
            Err(_) => state.config.root.email.trim().to_string(),
        };
        let mut tx = state.db.begin_write().await?;
        let new_root = NewUser {
            username: user::ROOT,
            email: &root_email,
            first_name: "Administrator",
            last_name: None,
            is_admin: true,
            password_hash: password_hash.as_deref(),
            registration_time: now(),
        };
        match users::insert(&mut tx, &new_root).await {
            Ok(_) => {}
            Err(e) if e.is_unique_violation() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if password_hash.is_none() {
            let root = users::find_by_username(&mut *tx, user::ROOT)
                .await?
                .ok_or_else(|| AppError::bug("root vanished inside its own transaction"))?;
            let base = LinkBase {
                scheme: state.config.links.public_scheme.clone(),
            };
            let email = password_email(state, &base, &root, 0, PasswordLinkKind::Set);
            outbox::enqueue(&mut tx, &email, now()).await?;
        }
        tx.commit().await?;
        state.notifier.outbox_changed().await;
        tracing::info!("created the root user");
        Ok(())
    })
}
