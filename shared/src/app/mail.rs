//! The e-mails use cases queue: who they go to, and the links in them.

use crate::AppState;
use crate::domain::email_templates::{self, Recipient, RenderedEmail};
use crate::domain::form::FormId;
use crate::domain::links::{self, PasswordLink, PasswordLinkKind, ResolveLink};
use crate::domain::now;
use crate::domain::user::User;

/// Where links point: `PUBLIC_HOST`, with the scheme the request came in on.
#[derive(Debug, Clone)]
pub struct LinkBase {
    pub scheme: String,
}

impl LinkBase {
    pub fn url(&self, state: &AppState, path: &str, token: &str) -> String {
        links::build_url(&self.scheme, &state.config.links.public_host, path, token)
    }

    pub fn logo(&self, state: &AppState) -> String {
        format!(
            "{}://{}/static/logo.png",
            self.scheme, state.config.links.public_host
        )
    }
}

pub fn recipient(user: &User) -> Recipient<'_> {
    Recipient {
        first_name: &user.first_name,
        last_name: user.last_name.as_deref(),
        email: &user.email,
    }
}

/// A one-click link resolving `form` for `admin`.
pub fn resolve_link(state: &AppState, base: &LinkBase, admin: &User, form: FormId) -> String {
    let token = state.links.sign_resolve(&ResolveLink {
        admin_id: admin.id.0,
        form_id: form.0,
        issued_at: now(),
    });
    base.url(state, "/resolve", &token)
}

/// The e-mail with a fresh password link for `user`, whose counter is `counter`.
pub fn password_email(
    state: &AppState,
    base: &LinkBase,
    user: &User,
    counter: i64,
    kind: PasswordLinkKind,
) -> RenderedEmail {
    let token = state.links.sign_password(&PasswordLink {
        user_id: user.id.0,
        counter,
        kind,
        issued_at: now(),
    });
    let link = base.url(state, "/reset-password", &token);
    let logo = base.logo(state);
    let template = match kind {
        PasswordLinkKind::Set => email_templates::registration,
        PasswordLinkKind::Reset => email_templates::password_reset,
    };
    template(&recipient(user), &user.username, &link, &logo)
}
