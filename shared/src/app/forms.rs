//! Payment records: contract section 4 and the form e-mails of section 6.

use std::time::Instant;

use futures_util::future::BoxFuture;

use crate::AppState;
use crate::app::auth::{self, Caller};
use crate::app::error::AppError;
use crate::app::form_lists::ListScope;
use crate::app::mail::{LinkBase, recipient, resolve_link};
use crate::domain::email_templates::{self, FormDetails, Person};
use crate::domain::form::{self, Form, FormFields, FormId, FormPatch, FormView};
use crate::domain::now;
use crate::domain::refusal::{Change, Refusal};
use crate::domain::user::User;
use crate::store::{forms, outbox, users};

/// A list being written, form by form, in the web edge's format.
pub trait ListWriter: Send {
    fn push(&mut self, form: FormView<'_>);
    /// The list's text.
    fn finish(self: Box<Self>) -> Result<String, AppError>;
}

/// `GET /form` with the caller's access token: every form for an admin, the caller's own
/// otherwise, as `writer` writes them. One query, each form handed to `writer` as it is
/// read (10,000 forms are never held at once); or none, when this instance wrote the same
/// list since the forms last changed ([`KeptLists`](crate::app::form_lists::KeptLists)).
pub fn list<'a>(
    state: &'a AppState,
    token: &'a str,
    mut writer: Box<dyn ListWriter + 'a>,
) -> BoxFuture<'a, Result<String, AppError>> {
    Box::pin(async move {
        let read_at = Instant::now();
        let (caller, version) = auth::authenticate_with_forms_version(state, token).await?;
        let scope = if caller.user.is_admin {
            ListScope::Every
        } else {
            ListScope::SubmittedBy(caller.user.id)
        };
        let now = Instant::now();
        let kept = version.and_then(|version| state.form_lists.get(scope, version, now));
        if let Some(text) = kept {
            return Ok(String::from(&*text));
        }
        let submitter = match scope {
            ListScope::Every => None,
            ListScope::SubmittedBy(user) => Some(user),
        };
        forms::for_each(&state.db, submitter, |form| writer.push(form)).await?;
        let text = writer.finish()?;
        if let Some(version) = version {
            state.form_lists.keep(scope, version, &text, read_at);
        }
        Ok(text)
    })
}

/// What the form e-mails show of a form.
pub fn details<'a>(
    form: &'a Form,
    submitter: &'a User,
    submitter_name: &'a str,
    amount: &'a str,
) -> FormDetails<'a> {
    FormDetails {
        id: form.id.0,
        submitter_name,
        submitter_email: &submitter.email,
        customer_name: &form.fields.customer_name,
        course: &form.fields.course,
        time: form.fields.time,
        payment_method: form.fields.payment_method.as_str(),
        amount,
        receipt: &form.fields.receipt,
    }
}

/// `POST /form`: the form and one "new form" e-mail per admin, in one transaction.
pub fn create<'a>(
    state: &'a AppState,
    base: &'a LinkBase,
    caller: &'a Caller,
    new: FormFields,
) -> BoxFuture<'a, Result<FormId, AppError>> {
    Box::pin(async move {
        let mut tx = state.db.begin_write().await?;
        let id = forms::insert(&mut tx, caller.user.id, &new).await?;
        // As stored: the fields are written as they are, and nothing else sets a column.
        let form = Form {
            id,
            submitter_id: caller.user.id,
            submitter: caller.user.username.clone(),
            fields: new,
            resolved_at: None,
        };
        let name = caller.user.full_name();
        let amount = form.fields.amount.to_string();
        let logo = base.logo(state);
        for admin in users::admins(&mut *tx).await? {
            let link = resolve_link(state, base, &admin, id);
            let details = details(&form, &caller.user, &name, &amount);
            let email = email_templates::new_form(&recipient(&admin), &details, &link, &logo);
            outbox::enqueue(&mut tx, &email, now()).await?;
        }
        tx.commit().await?;
        state.notifier.outbox_changed().await;
        Ok(id)
    })
}

/// The form `id`, if it is still open and the caller may change it.
fn editable(caller: &Caller, id: FormId, form: Option<Form>) -> Result<Form, Refusal> {
    let form = form.ok_or(Refusal::NoSuchForm(id))?;
    if form.resolved_at.is_some() {
        return Err(Refusal::FormClosed(id));
    }
    if !form.may_be_changed_by(&caller.user) {
        return Err(Refusal::NotYours(id, Change::Update));
    }
    Ok(form)
}

/// `PATCH /form`: changes only the supplied fields. `Ok(None)` when nothing changed (no
/// e-mail); otherwise the form as it was, and one "edited form" e-mail per admin.
pub fn update<'a>(
    state: &'a AppState,
    base: &'a LinkBase,
    caller: &'a Caller,
    id: FormId,
    patch: FormPatch,
) -> BoxFuture<'a, Result<Option<Form>, AppError>> {
    Box::pin(async move {
        let mut tx = state.db.begin_write().await?;
        let old = editable(caller, id, forms::find(&mut *tx, id).await?)?;
        let (new, changes) = form::apply(&old, patch);
        if changes.is_empty() {
            return Ok(None);
        }
        if !forms::update_open(&mut tx, &new).await? {
            return Err(Refusal::FormClosed(id).into());
        }
        let submitter = users::find_by_id(&mut *tx, old.submitter_id)
            .await?
            .ok_or_else(|| AppError::bug("a form's submitter is missing"))?;
        let (editor_name, submitter_name) = (caller.user.full_name(), submitter.full_name());
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
            let to = recipient(&admin);
            let email =
                email_templates::edited_form(&to, id.0, &editor, original, &changes, &link, &logo);
            outbox::enqueue(&mut tx, &email, now()).await?;
        }
        tx.commit().await?;
        state.notifier.outbox_changed().await;
        Ok(Some(old))
    })
}

/// `DELETE /form`: returns the deleted form. Resolved forms can be deleted.
pub fn delete<'a>(
    state: &'a AppState,
    caller: &'a Caller,
    id: FormId,
) -> BoxFuture<'a, Result<Form, AppError>> {
    Box::pin(async move {
        let mut tx = state.db.begin_write().await?;
        let form = forms::find(&mut *tx, id)
            .await?
            .ok_or(Refusal::NoSuchForm(id))?;
        if !form.may_be_changed_by(&caller.user) {
            return Err(Refusal::NotYours(id, Change::Delete).into());
        }
        forms::delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(form)
    })
}
