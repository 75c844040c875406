//! Numbers that identify people or payment, in any separator style: long numbers (phone,
//! card, account numbers, timestamps), US social security numbers and other national ids,
//! phone numbers in their usual groupings, and IBANs.

use super::{Shape, digit_groups};

pub(super) fn shape(value: &str) -> Option<Shape> {
    let bytes = value.as_bytes();
    // The specific shapes first, so that the reason names what the number is.
    if grouped(bytes, &[3, 2, 4]) || has_lettered_id(bytes) {
        return Some(Shape::NationalId);
    }
    if grouped(bytes, &[3, 3, 4]) || grouped(bytes, &[3, 4]) {
        return Some(Shape::Phone);
    }
    if super::joined_runs(bytes, |b| b.is_ascii_alphanumeric())
        .iter()
        .any(|run| is_iban(run))
    {
        return Some(Shape::Iban);
    }
    // Nine digits or more once separators between groups of two or more are dropped: card
    // and account numbers, phone numbers, national ids, timestamps. Dates have eight
    // (`20240620`), and `4-5-20251001` is a version before a date, not one number.
    if digit_runs(bytes).iter().any(|run| *run >= 9) {
        return Some(Shape::LongNumber);
    }
    None
}

/// Lengths of the digit runs of `bytes`, where one separator (`-._/:` or a space) between two
/// groups of two digits or more does not end a run: `555-123-4567` is one run of 10.
fn digit_runs(bytes: &[u8]) -> Vec<usize> {
    let mut runs = Vec::new();
    let (mut run, mut last_group, mut i) = (0, 0, 0);
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let group = i - start;
        let joins = run > 0
            && start >= 2
            && b"-._/: ".contains(&bytes[start - 1])
            && bytes[start - 2].is_ascii_digit()
            && group >= 2
            && last_group >= 2;
        if joins {
            run += group;
        } else {
            if run > 0 {
                runs.push(run);
            }
            run = group;
        }
        last_group = group;
    }
    if run > 0 {
        runs.push(run);
    }
    runs
}

/// Digit groups of exactly these sizes, joined by one and the same separator (`-`, `.` or
/// `_`), with no digit right before or after: `123-45-6789`, `555.123.4567`.
fn grouped(bytes: &[u8], sizes: &[usize]) -> bool {
    (0..bytes.len()).any(|start| {
        // Not inside a longer number or a version (`1.555.0123`); `room.555.0123` is a phone.
        let before = |back: usize| start.checked_sub(back).map(|i| bytes[i]);
        if before(1).is_some_and(|b| b.is_ascii_digit())
            || (before(1) == Some(b'.') && before(2).is_some_and(|b| b.is_ascii_digit()))
        {
            return false;
        }
        digit_groups(bytes, start, sizes.len(), |k, digits| {
            digits.len() == sizes[k]
        })
        .is_some_and(|end| {
            !bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_digit() || *b == b'.')
        })
    })
}

/// National ids with letters: the UK's National Insurance number (`QQ123456C`), Spain's DNI
/// (`12345678Z`), Italy's codice fiscale (`RSSMRA85T10A562S`), each standing alone.
fn has_lettered_id(bytes: &[u8]) -> bool {
    let upper = |b: &u8| b.is_ascii_uppercase();
    let digit = |b: &u8| b.is_ascii_digit();
    let shaped = |w: &[u8], pattern: &[fn(&u8) -> bool]| w.iter().zip(pattern).all(|(b, f)| f(b));
    let alone = |start: usize, len: usize| {
        (start == 0 || !bytes[start - 1].is_ascii_alphanumeric())
            && bytes
                .get(start + len)
                .is_none_or(|b| !b.is_ascii_alphanumeric())
    };
    let nino: [fn(&u8) -> bool; 9] = [
        upper, upper, digit, digit, digit, digit, digit, digit, upper,
    ];
    let dni: [fn(&u8) -> bool; 9] = [
        digit, digit, digit, digit, digit, digit, digit, digit, upper,
    ];
    let fiscal: [fn(&u8) -> bool; 16] = [
        upper, upper, upper, upper, upper, upper, digit, digit, upper, digit, digit, upper, digit,
        digit, digit, upper,
    ];
    (0..bytes.len()).any(|i| {
        let window = |n: usize| bytes.get(i..i + n);
        window(9).is_some_and(|w| {
            alone(i, 9) && ((shaped(w, &nino) && b"ABCD".contains(&w[8])) || shaped(w, &dni))
        }) || window(16).is_some_and(|w| shaped(w, &fiscal))
    })
}

/// Two letters (the country), two check digits and 11 to 30 letters or digits whose ISO
/// 7064 mod-97 check holds: an IBAN.
fn is_iban(run: &[u8]) -> bool {
    let n = run.len();
    if !(15..=34).contains(&n)
        || !run[..2].iter().all(u8::is_ascii_alphabetic)
        || !run[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let rearranged = run[4..].iter().chain(&run[..4]);
    let mut remainder: u32 = 0;
    for b in rearranged {
        let value = match b.to_ascii_uppercase() {
            d @ b'0'..=b'9' => u32::from(d - b'0'),
            l @ b'A'..=b'Z' => u32::from(l - b'A') + 10,
            _ => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_join_groups_but_not_versions() {
        assert_eq!(digit_runs(b"555-123-4567"), [10]);
        assert_eq!(digit_runs(b"claude-haiku-4-5-20251001"), [1, 1, 8]);
        assert_eq!(digit_runs(b"4111 1111 1111 1111"), [16]);
        assert_eq!(digit_runs(b"1024-x-1024"), [4, 4]);
    }

    #[test]
    fn ibans_check_their_digits() {
        assert!(is_iban(b"DE89370400440532013000"));
        assert!(is_iban(b"GB82WEST12345698765432"));
        assert!(!is_iban(b"DE89370400440532013001"), "one digit off");
        assert!(!is_iban(b"gpt4oMiniInstructModel"));
    }
}
