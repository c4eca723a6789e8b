//! The e-mails of contract section 6, rendered as pure functions: each returns the
//! recipient, subject, plain text and HTML of one message; sending is someone else's job.
//!
//! Every e-mail is built from one list of [`Block`]s that is rendered twice, so the
//! plain text and the HTML always say the same things. In the HTML, the call-to-action
//! link is the first `http` anywhere in the document (clients find the link that way):
//! nothing before it contains a URL, the logo sits in the footer after it, and any
//! `http` inside interpolated values is written with a character reference for its first
//! letter, which displays the same but cannot be mistaken for the link.

use crate::domain::html::escape;

/// Who an e-mail goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient<'a> {
    pub first_name: &'a str,
    pub last_name: Option<&'a str>,
    pub email: &'a str,
}

/// "First Last", or just "First" when there is no (or an empty) last name.
pub fn full_name(first: &str, last: Option<&str>) -> String {
    match last {
        Some(last) if !last.is_empty() => format!("{first} {last}"),
        _ => first.to_string(),
    }
}

/// One rendered e-mail, ready to hand to the mailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The proleptic Gregorian (month 1..=12, day 1..=31) of a count of days since
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
fn month_day_from_days(days: i64) -> (usize, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    (month as usize, day as u32)
}

/// "Sunday 24 March at 17:55 (UTC)" for a unix time (no year, no leading zero on the
/// day, 24h clock with zero-padded HH:MM).
pub fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (month, day) = month_day_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    format!(
        "{weekday} {day} {month} at {hh:02}:{mm:02} (UTC)",
        month = MONTHS[month - 1],
        hh = secs / 3600,
        mm = secs % 3600 / 60,
    )
}

/// "cash" -> "Cash", "cheque" -> "Cheque": the first letter upper-cased.
pub fn payment_method_label(method: &str) -> String {
    let mut chars = method.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "123.99" -> "€123.99".
pub fn amount_label(amount: &str) -> String {
    format!("€{amount}")
}

/// The form fields the form e-mails show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormDetails<'a> {
    pub id: i64,
    pub submitter_name: &'a str,
    pub submitter_email: &'a str,
    pub customer_name: &'a str,
    pub course: &'a str,
    /// Unix seconds.
    pub time: i64,
    /// "cash" or "cheque".
    pub payment_method: &'a str,
    /// Two decimals, e.g. "123.99".
    pub amount: &'a str,
    pub receipt: &'a str,
}

/// One changed field of an edited form: shown as "<label>: <new> (was <old>)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub label: String,
    pub new: String,
    pub old: String,
}

/// Someone named in an e-mail body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    pub name: &'a str,
    pub email: &'a str,
}

/// The content of an e-mail, independent of its rendering.
enum Block {
    Paragraph(String),
    /// Label/value rows: "Label: value".
    Details(Vec<(&'static str, String)>),
    List(Vec<String>),
    Button {
        label: &'static str,
        link: String,
    },
}

const FONT: &str = "Arial,Helvetica,sans-serif";
const NAVY: &str = "#17324d";
const GOLD: &str = "#f0b429";
const FOOTER_NOTE: &str = "This is an automated message from BriefThreat.";

/// [`escape`], then any `http` (in any case) gets its first letter as a character
/// reference so that only real links are found by a search for `http`.
fn esc(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped.as_str();
    while let Some(pos) = rest
        .as_bytes()
        .windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"http"))
    {
        out.push_str(&rest[..pos]);
        out.push_str(&format!("&#{};", rest.as_bytes()[pos]));
        rest = &rest[pos + 1..];
    }
    out.push_str(rest);
    out
}

fn render_text(greeting: &str, blocks: &[Block]) -> String {
    let mut out = format!("{greeting}\n\n");
    for block in blocks {
        match block {
            Block::Paragraph(p) => out.push_str(p),
            Block::Details(rows) => {
                let lines: Vec<String> = rows.iter().map(|(l, v)| format!("{l}: {v}")).collect();
                out.push_str(&lines.join("\n"));
            }
            Block::List(items) => {
                let lines: Vec<String> = items.iter().map(|i| format!("- {i}")).collect();
                out.push_str(&lines.join("\n"));
            }
            Block::Button { label, link } => out.push_str(&format!("{label}:\n{link}")),
        }
        out.push_str("\n\n");
    }
    out.push_str("-- \n");
    out.push_str(FOOTER_NOTE);
    out.push('\n');
    out
}

fn render_html(subject: &str, greeting: &str, blocks: &[Block], logo_url: &str) -> String {
    let p_style = "margin:0 0 16px;";
    let mut content = format!("<p style=\"{p_style}\">{}</p>\n", esc(greeting));
    for block in blocks {
        match block {
            Block::Paragraph(p) => {
                content.push_str(&format!("<p style=\"{p_style}\">{}</p>\n", esc(p)));
            }
            Block::Details(rows) => {
                content.push_str(
                    "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
                     style=\"margin:0 0 16px;border-collapse:collapse;\">\n",
                );
                for (label, value) in rows {
                    content.push_str(&format!(
                        "<tr><td style=\"padding:4px 16px 4px 0;vertical-align:top;font-weight:700;\
                         color:{NAVY};white-space:nowrap;\">{}:</td>\
                         <td style=\"padding:4px 0;vertical-align:top;\">{}</td></tr>\n",
                        esc(label),
                        esc(value),
                    ));
                }
                content.push_str("</table>\n");
            }
            Block::List(items) => {
                content.push_str("<ul style=\"margin:0 0 16px;padding-left:24px;\">\n");
                for item in items {
                    content.push_str(&format!(
                        "<li style=\"margin:0 0 4px;\">{}</li>\n",
                        esc(item)
                    ));
                }
                content.push_str("</ul>\n");
            }
            Block::Button { label, link } => {
                let href = escape(link);
                content.push_str(&format!(
                    "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
                     style=\"margin:8px 0 24px;\"><tr>\
                     <td style=\"border-radius:6px;background-color:{GOLD};\">\
                     <a href=\"{href}\" style=\"display:inline-block;padding:12px 28px;\
                     font-family:{FONT};font-size:16px;font-weight:700;color:{NAVY};\
                     text-decoration:none;border-radius:6px;\">{label}</a>\
                     </td></tr></table>\n\
                     <p style=\"margin:0 0 16px;font-size:13px;color:#52606d;\">\
                     If the button does not work, copy this link into your browser:<br>\
                     <a href=\"{href}\" style=\"color:{NAVY};word-break:break-all;\">{href}</a></p>\n",
                    label = esc(label),
                ));
            }
        }
    }
    format!(
        "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>{title}</title>
</head>
<body style=\"margin:0;padding:0;background-color:#f3f5f8;\">
<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background-color:#f3f5f8;\">
<tr><td align=\"center\" style=\"padding:24px 12px;\">
<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"max-width:560px;background-color:#ffffff;border-radius:12px;\">
<tr><td style=\"background-color:{NAVY};border-bottom:4px solid {GOLD};border-radius:12px 12px 0 0;padding:18px 32px;font-family:{FONT};font-size:20px;font-weight:700;letter-spacing:1px;color:#ffffff;\">BriefThreat</td></tr>
<tr><td style=\"padding:28px 32px 12px;font-family:{FONT};font-size:16px;line-height:1.5;color:#1d2733;\">
{content}</td></tr>
<tr><td align=\"center\" style=\"padding:20px 32px;border-top:1px solid #e4e7eb;font-family:{FONT};font-size:12px;color:#52606d;\">
<img src=\"{logo}\" alt=\"BriefThreat\" width=\"120\" style=\"display:block;width:120px;max-width:100%;height:auto;border:0;margin:0 auto 8px;\">
{note}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
",
        title = esc(subject),
        logo = escape(logo_url),
        note = esc(FOOTER_NOTE),
    )
}

fn build(to: &Recipient, subject: String, blocks: &[Block], logo_url: &str) -> RenderedEmail {
    let greeting = format!("Hello {},", to.first_name);
    RenderedEmail {
        to_address: to.email.to_string(),
        to_name: full_name(to.first_name, to.last_name),
        text: render_text(&greeting, blocks),
        html: render_html(&subject, &greeting, blocks, logo_url),
        subject,
    }
}

fn form_subject(id: i64) -> String {
    format!("Form no. {id}")
}

fn form_rows(form: &FormDetails) -> Vec<(&'static str, String)> {
    vec![
        ("Customer", form.customer_name.to_string()),
        ("Course", form.course.to_string()),
        ("Time", format_time(form.time)),
        ("Payment method", payment_method_label(form.payment_method)),
        ("Amount", amount_label(form.amount)),
        ("Receipt", form.receipt.to_string()),
    ]
}

/// To a new user: the account exists, set a password before logging in.
pub fn registration(to: &Recipient, username: &str, link: &str, logo_url: &str) -> RenderedEmail {
    let blocks = [
        Block::Paragraph(format!(
            "An account has been created for you on BriefThreat. Your username is {username}."
        )),
        Block::Paragraph(
            "You must set a password before you can log in. To do so, use the button below."
                .to_string(),
        ),
        Block::Button {
            label: "Set my password",
            link: link.to_string(),
        },
    ];
    build(
        to,
        "BriefThreat registration".to_string(),
        &blocks,
        logo_url,
    )
}

/// To a user who asked for a password reset.
pub fn password_reset(to: &Recipient, username: &str, link: &str, logo_url: &str) -> RenderedEmail {
    let blocks = [
        Block::Paragraph(format!(
            "A password reset was requested for your BriefThreat account (username {username}). \
             To choose a new password, use the button below."
        )),
        Block::Button {
            label: "Reset my password",
            link: link.to_string(),
        },
        Block::Paragraph(
            "If you did not request this, you can ignore this e-mail: your password will not change."
                .to_string(),
        ),
    ];
    build(
        to,
        "BriefThreat password reset".to_string(),
        &blocks,
        logo_url,
    )
}

/// To each admin when a form is submitted.
pub fn new_form(
    admin: &Recipient,
    form: &FormDetails,
    resolve_link: &str,
    logo_url: &str,
) -> RenderedEmail {
    let blocks = [
        Block::Paragraph(format!(
            "{} ({}) submitted form no. {}:",
            form.submitter_name, form.submitter_email, form.id
        )),
        Block::Details(form_rows(form)),
        Block::Paragraph("Once it has been dealt with, mark the form as resolved:".to_string()),
        Block::Button {
            label: "Resolve",
            link: resolve_link.to_string(),
        },
    ];
    build(admin, form_subject(form.id), &blocks, logo_url)
}

/// To each admin when a form really changed. `original_submitter` is `Some` only when
/// the editor is not the submitter.
pub fn edited_form(
    admin: &Recipient,
    form_id: i64,
    editor: &Person,
    original_submitter: Option<&Person>,
    changes: &[FieldChange],
    resolve_link: &str,
    logo_url: &str,
) -> RenderedEmail {
    let who = match original_submitter {
        Some(submitter) => format!(
            "{} ({}) edited form no. {form_id}, which was submitted by {} ({}). The changes:",
            editor.name, editor.email, submitter.name, submitter.email
        ),
        None => format!(
            "{} ({}) edited form no. {form_id}. The changes:",
            editor.name, editor.email
        ),
    };
    let blocks = [
        Block::Paragraph(who),
        Block::List(
            changes
                .iter()
                .map(|c| format!("{}: {} (was {})", c.label, c.new, c.old))
                .collect(),
        ),
        Block::Paragraph("Once it has been dealt with, mark the form as resolved:".to_string()),
        Block::Button {
            label: "Resolve",
            link: resolve_link.to_string(),
        },
    ];
    build(admin, form_subject(form_id), &blocks, logo_url)
}

/// To the submitter when an admin resolved their form. No link.
pub fn resolved(
    submitter: &Recipient,
    form: &FormDetails,
    resolved_at: i64,
    logo_url: &str,
) -> RenderedEmail {
    let blocks = [
        Block::Paragraph(format!(
            "Your form no. {} was marked as resolved on {}. Its details:",
            form.id,
            format_time(resolved_at)
        )),
        Block::Details(form_rows(form)),
    ];
    build(submitter, form_subject(form.id), &blocks, logo_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://bt.example.com/reset-password?token=abc.DEF-123_x";
    const RESOLVE: &str = "https://bt.example.com/resolve?token=rrr.SSS";
    const LOGO: &str = "https://bt.example.com/static/logo.png";

    fn alice() -> Recipient<'static> {
        Recipient {
            first_name: "Alice",
            last_name: Some("Martin"),
            email: "alice@example.com",
        }
    }

    fn bob() -> Recipient<'static> {
        Recipient {
            first_name: "Bob",
            last_name: None,
            email: "bob@example.com",
        }
    }

    fn form() -> FormDetails<'static> {
        FormDetails {
            id: 42,
            submitter_name: "Bob",
            submitter_email: "bob@example.com",
            customer_name: "Carol Smith",
            course: "Advanced sailing",
            time: 1_711_302_900,
            payment_method: "cheque",
            amount: "123.99",
            receipt: "R-0042",
        }
    }

    /// The first `http` in the HTML starts the button's URL, inside `<a href="`.
    fn assert_button_first(html: &str, link: &str, label: &str) {
        let first = html.find("http").expect("a link");
        assert!(
            html[first..].starts_with(link),
            "first http is not the link"
        );
        assert!(html[..first].ends_with("<a href=\""));
        let after = &html[first + link.len()..];
        let text_start = after.find('>').unwrap() + 1;
        assert!(after[text_start..].starts_with(&format!("{label}</a>")));
        // The logo comes after the button.
        let logo = html
            .find(&format!("<img src=\"{LOGO}\" alt=\"BriefThreat\""))
            .unwrap();
        assert!(logo > first);
    }

    fn assert_link_own_line(text: &str, link: &str) {
        assert!(
            text.lines().any(|l| l == link),
            "no line with just the link"
        );
    }

    #[test]
    fn full_names() {
        assert_eq!(full_name("Alice", Some("Martin")), "Alice Martin");
        assert_eq!(full_name("Bob", None), "Bob");
        assert_eq!(full_name("Bob", Some("")), "Bob");
    }

    #[test]
    fn formats_times() {
        assert_eq!(format_time(1_711_302_900), "Sunday 24 March at 17:55 (UTC)");
        assert_eq!(
            format_time(1_704_424_020),
            "Friday 5 January at 03:07 (UTC)"
        );
        assert_eq!(
            format_time(1_709_197_500),
            "Thursday 29 February at 09:05 (UTC)"
        );
        assert_eq!(format_time(951_868_800), "Wednesday 1 March at 00:00 (UTC)");
        assert_eq!(
            format_time(4_133_980_740),
            "Friday 31 December at 23:59 (UTC)"
        );
        assert_eq!(format_time(0), "Thursday 1 January at 00:00 (UTC)");
        assert_eq!(format_time(-60), "Wednesday 31 December at 23:59 (UTC)");
    }

    #[test]
    fn labels() {
        assert_eq!(payment_method_label("cash"), "Cash");
        assert_eq!(payment_method_label("cheque"), "Cheque");
        assert_eq!(payment_method_label(""), "");
        assert_eq!(amount_label("123.99"), "€123.99");
        assert_eq!(amount_label("200.00"), "€200.00");
    }

    #[test]
    fn registration_email() {
        let e = registration(&alice(), "alice", LINK, LOGO);
        assert_eq!(e.subject, "BriefThreat registration");
        assert_eq!(e.to_name, "Alice Martin");
        assert_eq!(e.to_address, "alice@example.com");
        for part in [&e.text, &e.html] {
            assert!(part.contains("Hello Alice,"));
            assert!(part.contains("Your username is alice."));
            assert!(part.contains("You must set a password before you can log in."));
            assert!(part.contains("Set my password"));
        }
        assert_button_first(&e.html, LINK, "Set my password");
        assert_link_own_line(&e.text, LINK);
        assert!(e.html.starts_with("<!doctype html>\n<html lang=\"en\">"));

        let e = registration(&bob(), "bob", LINK, LOGO);
        assert_eq!(e.to_name, "Bob");
        assert!(e.text.starts_with("Hello Bob,\n"));
    }

    #[test]
    fn password_reset_email() {
        let e = password_reset(&bob(), "bob", LINK, LOGO);
        assert_eq!(e.subject, "BriefThreat password reset");
        assert_eq!(e.to_name, "Bob");
        assert_eq!(e.to_address, "bob@example.com");
        for part in [&e.text, &e.html] {
            assert!(part.contains("A password reset was requested"));
            assert!(part.contains("(username bob)"));
            assert!(part.contains("If you did not request this, you can ignore this e-mail"));
        }
        assert_button_first(&e.html, LINK, "Reset my password");
        assert_link_own_line(&e.text, LINK);
    }

    #[test]
    fn new_form_email() {
        let e = new_form(&alice(), &form(), RESOLVE, LOGO);
        assert_eq!(e.subject, "Form no. 42");
        assert_eq!(e.to_name, "Alice Martin");
        assert_eq!(e.to_address, "alice@example.com");
        assert!(
            e.text
                .contains("Bob (bob@example.com) submitted form no. 42:")
        );
        assert!(e.text.contains(
            "Customer: Carol Smith\nCourse: Advanced sailing\n\
             Time: Sunday 24 March at 17:55 (UTC)\nPayment method: Cheque\n\
             Amount: €123.99\nReceipt: R-0042\n"
        ));
        for needle in [
            "Bob (bob@example.com) submitted form no. 42:",
            "Carol Smith",
            "Advanced sailing",
            "Sunday 24 March at 17:55 (UTC)",
            "Cheque",
            "€123.99",
            "R-0042",
        ] {
            assert!(e.html.contains(needle), "html lacks {needle}");
        }
        assert!(!e.html.contains("cheque"));
        assert_button_first(&e.html, RESOLVE, "Resolve");
        assert_link_own_line(&e.text, RESOLVE);
    }

    #[test]
    fn escapes_values_and_keeps_button_first() {
        let mut f = form();
        f.customer_name = "<script>alert('x')</script>";
        f.receipt = "see HTTP://evil.example & http://x";
        f.submitter_name = "http://spoof.example";
        let e = new_form(&alice(), &f, RESOLVE, LOGO);
        assert!(!e.html.contains("<script>"));
        assert!(
            e.html
                .contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;")
        );
        assert!(
            e.html
                .contains("see &#72;TTP://evil.example &amp; &#104;ttp://x")
        );
        assert_button_first(&e.html, RESOLVE, "Resolve");
        // The plain text keeps values as they are.
        assert!(e.text.contains("Customer: <script>alert('x')</script>"));
        assert!(
            e.text
                .contains("Receipt: see HTTP://evil.example & http://x")
        );

        let mut evil = alice();
        evil.first_name = "<b>http</b>";
        let e = registration(&evil, "<i>", LINK, LOGO);
        assert!(e.html.contains("Hello &lt;b&gt;&#104;ttp&lt;/b&gt;,"));
        assert!(e.html.contains("Your username is &lt;i&gt;."));
        assert_button_first(&e.html, LINK, "Set my password");
    }

    #[test]
    fn escapes_link_in_href() {
        let link = "https://bt.example.com/resolve?token=a&b=\"c\"";
        let e = new_form(&alice(), &form(), link, LOGO);
        let escaped = "https://bt.example.com/resolve?token=a&amp;b=&quot;c&quot;";
        assert!(e.html.contains(&format!("<a href=\"{escaped}\"")));
        let first = e.html.find("http").unwrap();
        assert!(e.html[first..].starts_with(escaped));
        assert_link_own_line(&e.text, link);
    }

    #[test]
    fn edited_form_email() {
        let changes = vec![
            FieldChange {
                label: "Amount".into(),
                new: amount_label("200.00"),
                old: amount_label("123.99"),
            },
            FieldChange {
                label: "Payment method".into(),
                new: payment_method_label("cash"),
                old: payment_method_label("cheque"),
            },
        ];
        let editor = Person {
            name: "Alice Martin",
            email: "alice@example.com",
        };
        let submitter = Person {
            name: "Bob",
            email: "bob@example.com",
        };
        let e = edited_form(
            &bob(),
            7,
            &editor,
            Some(&submitter),
            &changes,
            RESOLVE,
            LOGO,
        );
        assert_eq!(e.subject, "Form no. 7");
        assert_eq!(e.to_name, "Bob");
        for part in [&e.text, &e.html] {
            assert!(part.contains(
                "Alice Martin (alice@example.com) edited form no. 7, \
                 which was submitted by Bob (bob@example.com)."
            ));
            assert!(part.contains("Amount: €200.00 (was €123.99)"));
            assert!(part.contains("Payment method: Cash (was Cheque)"));
        }
        assert!(e.text.contains("- Amount: €200.00 (was €123.99)\n"));
        assert_button_first(&e.html, RESOLVE, "Resolve");
        assert_link_own_line(&e.text, RESOLVE);

        let e = edited_form(&alice(), 7, &submitter, None, &changes, RESOLVE, LOGO);
        assert!(
            e.text
                .contains("Bob (bob@example.com) edited form no. 7. The changes:")
        );
        assert!(!e.text.contains("submitted by"));
        assert_button_first(&e.html, RESOLVE, "Resolve");
    }

    #[test]
    fn resolved_email() {
        let e = resolved(&bob(), &form(), 1_704_424_020, LOGO);
        assert_eq!(e.subject, "Form no. 42");
        assert_eq!(e.to_name, "Bob");
        assert_eq!(e.to_address, "bob@example.com");
        for part in [&e.text, &e.html] {
            assert!(part.contains(
                "Your form no. 42 was marked as resolved on Friday 5 January at 03:07 (UTC)."
            ));
            assert!(part.contains("Sunday 24 March at 17:55 (UTC)"));
            assert!(part.contains("Cheque"));
            assert!(part.contains("€123.99"));
            assert!(part.contains("Carol Smith"));
        }
        // No link at all: the only URL is the logo.
        assert!(!e.html.contains("<a "));
        assert_eq!(e.html.matches("http").count(), 1);
        assert!(
            e.html
                .contains(&format!("<img src=\"{LOGO}\" alt=\"BriefThreat\""))
        );
        assert!(!e.text.contains("http"));
    }
}
