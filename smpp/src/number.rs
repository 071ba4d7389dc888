//! Phone numbers: the one check of "is this an E.164 number" that every crate uses.
//!
//! A number is an optional leading `+` and 1 to [`MAX_DIGITS`] ASCII digits (ITU-T E.164 §6.1
//! allows at most 15). The carrier checks SMPP destinations with it, its number plan and lookup
//! parse numbers and prefixes with it, its message store compares addresses with [`normalize`],
//! and loadgen checks its destinations with it. There is one limit because there is one kind of
//! number: when the SMPP session accepted 20 digits but the plan refused more than 15, a message
//! could be accepted to a number that lookup then called malformed.
//!
//! Only the `+` is tolerated as decoration: spaces, dashes and dots are refused rather than
//! stripped, since a test that sends `+44 7700` should learn that SMSCs do not accept it.

/// Most digits an E.164 number has (ITU-T E.164 §6.1).
pub const MAX_DIGITS: usize = 15;

/// Why a string is not an E.164 number (or prefix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Nothing but (possibly) a '+'.
    #[error("\"{0}\" is empty: an E.164 number has 1 to {max} digits", max = MAX_DIGITS)]
    Empty(String),
    /// A character other than a digit (after an optional leading '+').
    #[error(
        "\"{input}\" is not an E.164 number: only digits are allowed, with an optional leading '+' (found {found:?})"
    )]
    NotDigits {
        /// The refused input.
        input: String,
        /// The first offending character.
        found: char,
    },
    /// More than [`MAX_DIGITS`] digits.
    #[error("\"{input}\" has {digits} digits; E.164 allows at most {max}", max = MAX_DIGITS)]
    TooLong {
        /// The refused input.
        input: String,
        /// How many digits it has.
        digits: usize,
    },
}

/// The address without one leading `+`, so that `+447700900001` and `447700900001` compare
/// equal. It does not check anything: use [`parse_number`] to validate.
pub fn normalize(addr: &str) -> &str {
    addr.strip_prefix('+').unwrap_or(addr)
}

/// The digits of an E.164 number (leading '+' stripped), or why it is not one.
pub fn parse_number(input: &str) -> Result<&str, NumberError> {
    let digits = parse_prefix(input)?;
    if digits.is_empty() {
        return Err(NumberError::Empty(input.to_string()));
    }
    Ok(digits)
}

/// Like [`parse_number`], but `""` (and `"+"`) is a valid prefix: it matches every number.
pub fn parse_prefix(input: &str) -> Result<&str, NumberError> {
    let digits = normalize(input);
    if let Some(found) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(NumberError::NotDigits {
            input: input.to_string(),
            found,
        });
    }
    if digits.len() > MAX_DIGITS {
        return Err(NumberError::TooLong {
            input: input.to_string(),
            digits: digits.len(),
        });
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_with_and_without_plus() {
        assert_eq!(parse_number("447700900123"), Ok("447700900123"));
        assert_eq!(parse_number("+447700900123"), Ok("447700900123"));
        assert_eq!(parse_number("1"), Ok("1"));
        assert_eq!(parse_number("123456789012345"), Ok("123456789012345"));
        assert_eq!(parse_number("+123456789012345"), Ok("123456789012345"));
    }

    // The messages below are the ones the number plan's config errors have always shown.
    #[test]
    fn errors_name_the_problem() {
        let err = parse_number("44-77").unwrap_err();
        assert_eq!(
            err,
            NumberError::NotDigits {
                input: "44-77".into(),
                found: '-'
            }
        );
        assert_eq!(
            err.to_string(),
            "\"44-77\" is not an E.164 number: only digits are allowed, with an optional leading '+' (found '-')"
        );
        let err = parse_number("1234567890123456").unwrap_err();
        assert_eq!(
            err,
            NumberError::TooLong {
                input: "1234567890123456".into(),
                digits: 16
            }
        );
        assert_eq!(
            err.to_string(),
            "\"1234567890123456\" has 16 digits; E.164 allows at most 15"
        );
        assert!(
            parse_number("447700 900")
                .unwrap_err()
                .to_string()
                .contains("found ' '")
        );
        let err = parse_number("+").unwrap_err();
        assert_eq!(err, NumberError::Empty("+".into()));
        assert_eq!(
            err.to_string(),
            "\"+\" is empty: an E.164 number has 1 to 15 digits"
        );
        assert_eq!(parse_number(""), Err(NumberError::Empty(String::new())));
        assert!(matches!(
            parse_number("882abc"),
            Err(NumberError::NotDigits { found: 'a', .. })
        ));
        assert!(matches!(
            parse_number("8821234567890123"),
            Err(NumberError::TooLong { digits: 16, .. })
        ));
        // Only one '+' is decoration; a second is a character like any other.
        assert!(matches!(
            parse_number("++44"),
            Err(NumberError::NotDigits { found: '+', .. })
        ));
        // Digits of other scripts are not E.164 digits.
        assert!(matches!(
            parse_number("٤٤"),
            Err(NumberError::NotDigits { found: '٤', .. })
        ));
    }

    #[test]
    fn prefixes_may_be_empty() {
        assert_eq!(parse_prefix(""), Ok(""));
        assert_eq!(parse_prefix("+"), Ok(""));
        assert_eq!(parse_prefix("+44"), Ok("44"));
        assert!(matches!(
            parse_prefix("1234567890123456"),
            Err(NumberError::TooLong { digits: 16, .. })
        ));
        assert!(matches!(
            parse_prefix("44 "),
            Err(NumberError::NotDigits { found: ' ', .. })
        ));
    }

    #[test]
    fn normalize_strips_one_plus() {
        assert_eq!(normalize("+447700900001"), "447700900001");
        assert_eq!(normalize("447700900001"), "447700900001");
        assert_eq!(normalize("++4"), "+4");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("ACME"), "ACME");
    }

    proptest! {
        #[test]
        fn accepted_numbers_are_1_to_15_ascii_digits(input in any::<String>()) {
            if let Ok(digits) = parse_number(&input) {
                prop_assert!((1..=MAX_DIGITS).contains(&digits.len()));
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(digits, normalize(&input));
            }
        }

        #[test]
        fn every_short_digit_string_is_a_number(digits in "[0-9]{1,15}", plus in any::<bool>()) {
            let input = if plus { format!("+{digits}") } else { digits.clone() };
            prop_assert_eq!(parse_number(&input), Ok(digits.as_str()));
        }
    }
}
