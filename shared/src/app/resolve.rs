//! Resolving a form (contract section 5): by API, or by the one-click link e-mailed to
//! each admin. Either way the submitter is told, in the same transaction.

use futures_util::future::BoxFuture;

use crate::AppState;
use crate::app::error::AppError;
use crate::app::forms::details;
use crate::app::mail::{LinkBase, recipient};
use crate::domain::email_templates;
use crate::domain::form::{Form, FormId};
use crate::domain::links::LinkError;
use crate::domain::now;
use crate::domain::refusal::{LinkRefusal, Refusal};
use crate::domain::user::{User, UserId};
use crate::store::db::DbError;
use crate::store::{flask_import, forms, outbox, users};

/// Marks a form resolved with a conditional update (two concurrent resolves: one wins),
/// and e-mails its submitter in the same transaction. Returns the resolved form and the
/// submitter.
pub fn resolve<'a>(
    state: &'a AppState,
    base: &'a LinkBase,
    id: FormId,
) -> BoxFuture<'a, Result<(Form, User), AppError>> {
    Box::pin(async move {
        let mut tx = state.db.begin_write().await?;
        let won = forms::resolve_open(&mut tx, id, now()).await?;
        let form = match (won, forms::find(&mut *tx, id).await?) {
            (_, None) => return Err(Refusal::NoSuchForm(id).into()),
            (false, Some(_)) => return Err(Refusal::AlreadyResolved(id).into()),
            (true, Some(form)) => form,
        };
        let submitter = users::find_by_id(&mut *tx, form.submitter_id)
            .await?
            .ok_or_else(|| AppError::bug("a form's submitter is missing"))?;
        let name = submitter.full_name();
        let amount = form.fields.amount.to_string();
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
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveLinkError {
    #[error("refused: {0}")]
    Link(#[from] LinkRefusal),
    #[error(transparent)]
    Resolve(#[from] AppError),
}

impl From<DbError> for ResolveLinkError {
    fn from(e: DbError) -> Self {
        ResolveLinkError::Resolve(e.into())
    }
}

/// The admin a link was sent to (if they still exist) and the form it resolves.
async fn link_target(
    state: &AppState,
    token: &str,
) -> Result<(Option<User>, FormId), ResolveLinkError> {
    match state.links.verify_resolve(token) {
        Ok(link) => {
            let admin = users::find_by_id(&state.db.pool, UserId(link.admin_id)).await?;
            Ok((admin, FormId(link.form_id)))
        }
        Err(LinkError::Missing) => Err(LinkRefusal::Missing.into()),
        // A link e-mailed by the Flask service, on a deployment imported from it. The
        // signature before the marker: a token that is no old link costs no query.
        Err(LinkError::Invalid) => {
            let Ok(link) = state.links.verify_legacy_resolve(token) else {
                return Err(LinkRefusal::Invalid.into());
            };
            if !flask_import::came_from_flask(&state.db.pool).await? {
                return Err(LinkRefusal::Invalid.into());
            }
            let admin = users::find_by_username(&state.db.pool, &link.username).await?;
            Ok((admin, FormId(link.form_id)))
        }
    }
}

/// `GET /resolve?token=`: the link's admin must still exist and still be an admin; then
/// exactly like the API.
pub fn resolve_from_link<'a>(
    state: &'a AppState,
    base: &'a LinkBase,
    token: Option<&'a str>,
) -> BoxFuture<'a, Result<(Form, User), ResolveLinkError>> {
    Box::pin(async move {
        let (admin, form_id) = link_target(state, token.unwrap_or_default()).await?;
        let admin = admin.ok_or(LinkRefusal::AdminGone)?;
        if !admin.is_admin {
            return Err(LinkRefusal::NotAdmin.into());
        }
        Ok(resolve(state, base, form_id).await?)
    })
}
