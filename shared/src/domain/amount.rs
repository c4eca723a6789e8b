//! Money as exact decimals: amounts are parsed from the JSON text itself (never through a
//! float), rounded half-to-even to cents, stored as integer cents and shown as `"123.99"`.

/// Amounts must stay below 10^14 (in cents: 10^16).
const LIMIT_CENTS: i128 = 10_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    /// Not a number at all.
    NotANumber,
    /// A number of 10^14 or more in magnitude.
    TooLarge,
}

/// An amount of money in integer cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(pub i64);

impl Cents {
    /// [`parse_cents`] as a value.
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        parse_cents(text).map(Cents)
    }

    /// Its message, as the old service worded it.
    pub fn error_message(error: AmountError) -> &'static str {
        match error {
            AmountError::NotANumber => "Not a valid number.",
            AmountError::TooLarge => "Must be less than 100000000000000.",
        }
    }
}

/// As the contract shows amounts: a string, `"123.99"`.
impl serde::Serialize for Cents {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.decimal().as_str())
    }
}

impl std::fmt::Display for Cents {
    /// `"123.99"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.decimal().as_str())
    }
}

impl Cents {
    /// `"123.99"`, `"-0.05"`: written digit by digit on the stack, in 64-bit arithmetic,
    /// without `fmt` (a list writes one per form).
    pub fn decimal(self) -> Decimal {
        let mut text = [0; 24]; // "-92233720368547758.08" is 21
        let abs = self.0.unsigned_abs();
        let cents = (abs % 100) as u8;
        let mut start = text.len() - 3;
        text[start..].copy_from_slice(&[b'.', b'0' + cents / 10, b'0' + cents % 10]);
        let mut units = abs / 100;
        loop {
            start -= 1;
            text[start] = b'0' + (units % 10) as u8;
            units /= 10;
            if units == 0 {
                break;
            }
        }
        if self.0 < 0 {
            start -= 1;
            text[start] = b'-';
        }
        Decimal { text, start }
    }
}

/// [`Cents::decimal`]'s text.
pub struct Decimal {
    text: [u8; 24],
    start: usize,
}

impl Decimal {
    pub fn as_str(&self) -> &str {
        // ASCII digits, a sign and a point: always UTF-8.
        std::str::from_utf8(&self.text[self.start..]).unwrap_or_default()
    }
}

/// Parses a JSON number's text, or the contents of a JSON string holding a number, into
/// cents, rounding half-to-even.
pub fn parse_cents(text: &str) -> Result<i64, AmountError> {
    let text = text.trim();
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exp: i64 = unsigned[at + 1..]
                .parse()
                .map_err(|_| AmountError::NotANumber)?;
            (&unsigned[..at], exp)
        }
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(AmountError::NotANumber);
    }
    // digits × 10^(exponent − fraction length): significant digits, leading zeros dropped
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let scale = exponent.saturating_sub(frac_part.len() as i64);
    if digits.is_empty() {
        return Ok(0);
    }
    // Magnitude check before building the number: at least 10^(len−1+scale).
    if (digits.len() as i64 - 1).saturating_add(scale) >= 14 {
        return Err(AmountError::TooLarge);
    }
    let cents = scaled_to_cents(digits, scale)?;
    if cents >= LIMIT_CENTS {
        return Err(AmountError::TooLarge);
    }
    let cents = if negative { -cents } else { cents };
    Ok(cents as i64)
}

/// `digits × 10^(scale + 2)`: the cents of a number given as significant digits and a
/// power of ten, rounded half-to-even when the power is negative.
fn scaled_to_cents(digits: &str, scale: i64) -> Result<i128, AmountError> {
    let shift = scale.saturating_add(2);
    if shift >= 0 {
        let digits: i128 = digits.parse().map_err(|_| AmountError::TooLarge)?;
        return Ok(digits * 10i128.pow(shift as u32));
    }
    let cut = shift.unsigned_abs() as usize;
    if cut > digits.len() {
        // below a cent by more than a whole digit: rounds to zero, except exactly
        // half a cent, which also rounds to even (zero)
        return Ok(0);
    }
    let (kept, dropped) = digits.split_at(digits.len() - cut);
    let kept: i128 = if kept.is_empty() {
        0
    } else {
        kept.parse().map_err(|_| AmountError::TooLarge)?
    };
    let first = dropped.as_bytes()[0] - b'0';
    let rest_nonzero = dropped[1..].bytes().any(|b| b != b'0');
    let round_up = first > 5 || (first == 5 && (rest_nonzero || kept % 2 == 1));
    Ok(kept + i128::from(round_up))
}

/// `12399` → `"123.99"`, `-5` → `"-0.05"`; wide enough for sums of amounts.
pub fn format_cents(cents: impl Into<i128>) -> String {
    let cents: i128 = cents.into();
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_examples() {
        assert_eq!(parse_cents("123.99").map(format_cents), Ok("123.99".into()));
        assert_eq!(parse_cents("200").map(format_cents), Ok("200.00".into()));
        assert_eq!(parse_cents("1e2").map(format_cents), Ok("100.00".into()));
        assert_eq!(parse_cents("0.005").map(format_cents), Ok("0.00".into()));
        assert_eq!(parse_cents("-5").map(format_cents), Ok("-5.00".into()));
        assert_eq!(
            parse_cents("99999999999999.99").map(format_cents),
            Ok("99999999999999.99".into())
        );
        assert_eq!(parse_cents("100000000000000"), Err(AmountError::TooLarge));
        assert_eq!(parse_cents("1e14"), Err(AmountError::TooLarge));
        assert_eq!(parse_cents("-1e14"), Err(AmountError::TooLarge));
        assert_eq!(
            parse_cents("99999999999999.995"),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn an_amount_shows_as_its_sum_would() {
        let mut samples = vec![0, 5, -5, 9, 10, 50, -50, 99, 100, -100, 101, 12399, -12399];
        samples.extend([i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1]);
        samples.extend((0..19).map(|power| 10i64.pow(power)));
        samples.extend((0..19).map(|power| -(10i64.pow(power)) - 1));
        for cents in samples {
            assert_eq!(Cents(cents).to_string(), format_cents(cents), "{cents}");
            assert_eq!(
                Cents(cents).decimal().as_str(),
                format_cents(cents),
                "{cents}"
            );
        }
        assert_eq!(Cents(-5).to_string(), "-0.05");
        assert_eq!(Cents(i64::MIN).to_string(), "-92233720368547758.08");
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(parse_cents("0.015"), Ok(2));
        assert_eq!(parse_cents("0.025"), Ok(2));
        assert_eq!(parse_cents("0.0251"), Ok(3));
        assert_eq!(parse_cents("0.035"), Ok(4));
        assert_eq!(parse_cents("-0.035"), Ok(-4));
        assert_eq!(parse_cents("0.00499999"), Ok(0));
        assert_eq!(parse_cents("1.23e-1"), Ok(12));
        assert_eq!(parse_cents("1e-999999"), Ok(0));
        assert_eq!(parse_cents("1E+2"), Ok(10000));
        assert_eq!(parse_cents("0.1"), Ok(10));
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for bad in [
            "",
            "abc",
            "1.2.3",
            "--1",
            "1e",
            "NaN",
            "Infinity",
            "1,5",
            ".",
            "1e99999999999999999999",
        ] {
            assert_eq!(parse_cents(bad), Err(AmountError::NotANumber), "{bad}");
        }
        assert_eq!(parse_cents("1e999999"), Err(AmountError::TooLarge));
        assert_eq!(
            parse_cents(&format!("1e{}", i64::MAX)),
            Err(AmountError::TooLarge)
        );
        assert_eq!(parse_cents(&format!("1e{}", i64::MIN)), Ok(0));
    }

    #[test]
    fn formats_negative_cents() {
        assert_eq!(format_cents(-5), "-0.05");
        assert_eq!(format_cents(0), "0.00");
    }
}
