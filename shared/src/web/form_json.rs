//! A form as the list writes it: the contract's JSON for [`FormView`], byte for byte what
//! serde_json writes for its `Serialize` (a test holds the two together), written straight
//! into the list.
//!
//! By hand because the list is the API's one large answer. Through serde_json, a
//! 10,000-form list spent about a seventh of the function's CPU scanning every key and
//! string one byte at a time for characters to escape. Here the keys are constants, a
//! string is checked in one pass the compiler vectorises and goes to serde_json only if it
//! needs an escape, and numbers are written by `itoa`, as serde_json writes them.

use crate::app::error::AppError;
use crate::app::forms::ListWriter;
use crate::domain::form::FormView;
use crate::web::http::JsonArray;

/// The list's JSON array.
impl ListWriter for JsonArray {
    fn push(&mut self, form: FormView<'_>) {
        self.push_written(|text| write(text, &form));
    }

    fn finish(self: Box<Self>) -> Result<String, AppError> {
        self.into_text().map_err(AppError::Internal)
    }
}

/// Appends `form`'s JSON object to `out`.
pub fn write(out: &mut String, form: &FormView) -> serde_json::Result<()> {
    out.push_str("{\"id\":");
    integer(out, form.id.0);
    out.push_str(",\"submitter\":");
    string(out, form.submitter)?;
    out.push_str(",\"time\":");
    integer(out, form.time);
    out.push_str(",\"customer_name\":");
    string(out, form.customer_name)?;
    out.push_str(",\"course\":");
    string(out, form.course)?;
    out.push_str(",\"payment_method\":");
    string(out, form.payment_method.as_str())?;
    out.push_str(",\"amount\":");
    string(out, form.amount.decimal().as_str())?;
    out.push_str(",\"receipt\":");
    string(out, form.receipt)?;
    out.push_str(",\"resolved_at\":");
    match form.resolved_at {
        Some(at) => integer(out, at),
        None => out.push_str("null"),
    }
    out.push('}');
    Ok(())
}

fn integer(out: &mut String, n: i64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// A JSON string. serde_json escapes exactly the control characters, `"` and `\`.
fn string(out: &mut String, text: &str) -> serde_json::Result<()> {
    // Every byte looked at, no early exit: a loop the compiler vectorises.
    let needs_escape = text.bytes().fold(false, |found, b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        out.push_str(&serde_json::to_string(text)?);
        return Ok(());
    }
    out.push('"');
    out.push_str(text);
    out.push('"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::amount::Cents;
    use crate::domain::form::{Form, FormFields, FormId, MAX_TIME, PaymentMethod};
    use crate::domain::user::UserId;

    fn form(id: i64, text: &str, time: i64, cents: i64, resolved_at: Option<i64>) -> Form {
        Form {
            id: FormId(id),
            submitter_id: UserId(7),
            submitter: format!("user {text}"),
            fields: FormFields {
                time,
                customer_name: text.to_string(),
                course: format!("{text}{text} course"),
                payment_method: if cents % 2 == 0 {
                    PaymentMethod::Cash
                } else {
                    PaymentMethod::Cheque
                },
                amount: Cents(cents),
                receipt: format!("R-{text}"),
            },
            resolved_at,
        }
    }

    #[test]
    fn a_form_is_written_as_serde_json_writes_it() {
        let mut texts: Vec<String> = [
            "",
            "Ada",
            "a \"quoted\" name",
            "back\\slash",
            "line\nbreak",
            "tab\there",
            "\r",
            "\u{0}",
            "\u{1}",
            "\u{8}",
            "\u{c}",
            "\u{1f}",
            " ",
            "\u{7f}",
            "é",
            "€",
            "𝄞",
            "\u{2028}\u{2029}",
            "</script>",
            "'",
            "/",
            "\u{feff}",
            "Zoë \"x\" \\ \u{1}",
        ]
        .map(String::from)
        .to_vec();
        // Every single character below 128, at the start, the end and inside a longer text.
        for c in (0u8..128).map(char::from) {
            texts.push(c.to_string());
            texts.push(format!("{c}{}", "x".repeat(40)));
            texts.push(format!("{}{c}{}", "y".repeat(33), "z".repeat(30)));
        }
        let numbers = [0, 1, -1, 99, 100, -105, MAX_TIME, i64::MAX, i64::MIN];
        for (i, text) in texts.iter().enumerate() {
            let n = numbers[i % numbers.len()];
            let m = numbers[(i / 3) % numbers.len()];
            for resolved_at in [None, Some(n), Some(m)] {
                let form = form(n, text, m, n.wrapping_add(m), resolved_at);
                let mut ours = String::new();
                write(&mut ours, &form.view()).unwrap();
                let theirs = serde_json::to_string(&form).unwrap();
                assert_eq!(ours, theirs, "{text:?}");
            }
        }
    }
}
