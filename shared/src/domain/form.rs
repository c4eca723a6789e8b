//! Payment records: what a form holds, who may change it, and what an edit changes.

use serde::Serialize;

use crate::domain::amount::Cents;
use crate::domain::email_templates::{self, FieldChange};
use crate::domain::user::{User, UserId};

/// The last second of year 9999: the latest `time` a form may have.
pub const MAX_TIME: i64 = 253_402_300_799;

row_id!(
    /// A form's row id.
    FormId
);

/// The forms' version: raised by every change to any form, in the transaction that makes
/// it (`store::forms::count_change`). Two reads under one version read the same forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FormsVersion(pub i64);

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMethod {
    Cash,
    Cheque,
}

impl PaymentMethod {
    /// The stored and JSON spelling; `None` for anything else ("Not a valid choice.").
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "cash" => Some(PaymentMethod::Cash),
            "cheque" => Some(PaymentMethod::Cheque),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Cheque => "cheque",
        }
    }
}

impl Serialize for PaymentMethod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A form as stored, with its submitter's username. Serialized, the contract's 9-key
/// JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub id: FormId,
    pub submitter_id: UserId,
    pub submitter: String,
    pub fields: FormFields,
    pub resolved_at: Option<i64>,
}

impl Serialize for Form {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(serializer)
    }
}

/// A form as the contract shows it (a listed one borrowed from the row it was read from:
/// the list reads ten thousand without copying their texts). Serialized, the contract's
/// 9-key JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormView<'a> {
    pub id: FormId,
    pub submitter: &'a str,
    pub time: i64,
    pub customer_name: &'a str,
    pub course: &'a str,
    pub payment_method: PaymentMethod,
    pub amount: Cents,
    pub receipt: &'a str,
    pub resolved_at: Option<i64>,
}

/// By hand rather than derived from `Form` with `#[serde(flatten)]`, which writes through
/// serde's generic map machinery.
impl Serialize for FormView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut form = serializer.serialize_struct("Form", 9)?;
        form.serialize_field("id", &self.id)?;
        form.serialize_field("submitter", self.submitter)?;
        form.serialize_field("time", &self.time)?;
        form.serialize_field("customer_name", self.customer_name)?;
        form.serialize_field("course", self.course)?;
        form.serialize_field("payment_method", &self.payment_method)?;
        form.serialize_field("amount", &self.amount)?;
        form.serialize_field("receipt", self.receipt)?;
        form.serialize_field("resolved_at", &self.resolved_at)?;
        form.end()
    }
}

impl Form {
    pub fn view(&self) -> FormView<'_> {
        let fields = &self.fields;
        FormView {
            id: self.id,
            submitter: &self.submitter,
            time: fields.time,
            customer_name: &fields.customer_name,
            course: &fields.course,
            payment_method: fields.payment_method,
            amount: fields.amount,
            receipt: &fields.receipt,
            resolved_at: self.resolved_at,
        }
    }

    /// Its submitter or any admin may edit or delete it.
    pub fn may_be_changed_by(&self, user: &User) -> bool {
        user.is_admin || user.id == self.submitter_id
    }
}

/// What a submitter fills in: every field of a new form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormFields {
    pub time: i64,
    pub customer_name: String,
    pub course: String,
    pub payment_method: PaymentMethod,
    pub amount: Cents,
    pub receipt: String,
}

/// The fields an edit supplies; `None` where it left one out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FormPatch {
    pub time: Option<i64>,
    pub customer_name: Option<String>,
    pub course: Option<String>,
    pub payment_method: Option<PaymentMethod>,
    pub amount: Option<Cents>,
    pub receipt: Option<String>,
}

/// What an edit would do: the form afterwards and the changed fields, as the "edited
/// form" e-mail lists them. No change, no e-mail.
pub fn apply(old: &Form, patch: FormPatch) -> (Form, Vec<FieldChange>) {
    let old_fields = &old.fields;
    let mut new = old.clone();
    let mut changes = Vec::new();
    let mut change = |label: &str, old: String, new: String| {
        changes.push(FieldChange {
            label: label.into(),
            new,
            old,
        })
    };
    if let Some(t) = patch.time.filter(|t| *t != old_fields.time) {
        let format = email_templates::format_time;
        change("Time", format(old_fields.time), format(t));
        new.fields.time = t;
    }
    if let Some(v) = patch
        .customer_name
        .filter(|v| *v != old_fields.customer_name)
    {
        change("Customer name", old_fields.customer_name.clone(), v.clone());
        new.fields.customer_name = v;
    }
    if let Some(v) = patch.course.filter(|v| *v != old_fields.course) {
        change("Course", old_fields.course.clone(), v.clone());
        new.fields.course = v;
    }
    if let Some(v) = patch
        .payment_method
        .filter(|v| *v != old_fields.payment_method)
    {
        let label = |m: PaymentMethod| email_templates::payment_method_label(m.as_str());
        change("Payment method", label(old_fields.payment_method), label(v));
        new.fields.payment_method = v;
    }
    if let Some(v) = patch.amount.filter(|v| *v != old_fields.amount) {
        let label = |c: Cents| email_templates::amount_label(&c.to_string());
        change("Amount", label(old_fields.amount), label(v));
        new.fields.amount = v;
    }
    if let Some(v) = patch.receipt.filter(|v| *v != old_fields.receipt) {
        change("Receipt", old_fields.receipt.clone(), v.clone());
        new.fields.receipt = v;
    }
    (new, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        Form {
            id: FormId(7),
            submitter_id: UserId(2),
            submitter: "sam".into(),
            fields: FormFields {
                time: 0,
                customer_name: "Ann".into(),
                course: "Maths".into(),
                payment_method: PaymentMethod::Cash,
                amount: Cents(1050),
                receipt: "R1".into(),
            },
            resolved_at: None,
        }
    }

    #[test]
    fn an_edit_lists_only_what_it_changes() {
        let patch = FormPatch {
            customer_name: Some("Ann".into()),
            payment_method: Some(PaymentMethod::Cheque),
            amount: Some(Cents(99)),
            ..FormPatch::default()
        };
        let (new, changes) = apply(&form(), patch);
        assert_eq!(new.fields.payment_method, PaymentMethod::Cheque);
        assert_eq!(new.fields.amount, Cents(99));
        let labels: Vec<_> = changes.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["Payment method", "Amount"]);
        assert_eq!(
            (changes[1].old.as_str(), changes[1].new.as_str()),
            ("€10.50", "€0.99")
        );
        assert!(apply(&form(), FormPatch::default()).1.is_empty());
    }

    #[test]
    fn a_form_serializes_as_the_contracts_nine_keys() {
        // In this order, as the old service wrote them.
        assert_eq!(
            serde_json::to_string(&form()).unwrap(),
            r#"{"id":7,"submitter":"sam","time":0,"customer_name":"Ann","course":"Maths","payment_method":"cash","amount":"10.50","receipt":"R1","resolved_at":null}"#
        );
    }

    #[test]
    fn payment_methods_are_two() {
        assert_eq!(PaymentMethod::parse("cheque"), Some(PaymentMethod::Cheque));
        assert_eq!(PaymentMethod::parse("Cash"), None);
        assert_eq!(PaymentMethod::Cash.as_str(), "cash");
    }
}
