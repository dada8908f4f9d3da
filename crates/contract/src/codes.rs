//! Checks of the code systems contracts name: the shape of ICD-10-CM,
//! CPT/HCPCS and LOINC codes, and the NPI and LOINC check digits. Shape and
//! check digits only: whether a code exists in the current release of its
//! code system needs the code list, which is licensed separately.

/// A code system a field's values must belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeSystem {
    /// ICD-10-CM diagnosis codes, with or without the dot (`E11.9`, `E119`).
    Icd10Cm,
    /// CPT (5 digits, or 4 digits and `F`, `T` or `U`) or HCPCS Level II
    /// (a letter A–V and 4 digits).
    CptHcpcs,
    /// LOINC codes (`2345-7`) with their check digit.
    Loinc,
    /// National Provider Identifiers: 10 digits, the last a Luhn check
    /// digit over `80840` and the first nine.
    Npi,
}

impl CodeSystem {
    /// The name contracts use: `icd10cm`, `cpt_hcpcs`, `loinc`, `npi`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CodeSystem::Icd10Cm => "icd10cm",
            CodeSystem::CptHcpcs => "cpt_hcpcs",
            CodeSystem::Loinc => "loinc",
            CodeSystem::Npi => "npi",
        }
    }

    /// Whether `code` has the shape (and check digit) of this system.
    pub fn accepts(self, code: &str) -> bool {
        self.accepts_bytes(code.as_bytes())
    }

    /// [`CodeSystem::accepts`] over the bytes of a UTF-8 value.
    pub(crate) fn accepts_bytes(self, code: &[u8]) -> bool {
        match self {
            CodeSystem::Icd10Cm => icd10cm(code),
            CodeSystem::CptHcpcs => cpt_hcpcs(code),
            CodeSystem::Loinc => loinc(code),
            CodeSystem::Npi => npi(code),
        }
    }
}

impl std::str::FromStr for CodeSystem {
    type Err = ();

    /// `icd10cm`, `cpt_hcpcs`, `loinc`, `npi`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            CodeSystem::Icd10Cm,
            CodeSystem::CptHcpcs,
            CodeSystem::Loinc,
            CodeSystem::Npi,
        ]
        .into_iter()
        .find(|system| system.as_str() == s)
        .ok_or(())
    }
}

fn icd10cm(b: &[u8]) -> bool {
    // A letter (U is reserved for special purposes), a digit, then a digit
    // or letter: the category. Then up to four more, after an optional dot.
    let category = b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[0] != b'U'
        && b[1].is_ascii_digit()
        && (b[2].is_ascii_digit() || b[2].is_ascii_uppercase());
    if !category {
        return false;
    }
    let rest = match &b[3..] {
        [b'.', rest @ ..] if !rest.is_empty() => rest,
        [b'.'] => return false,
        rest => rest,
    };
    rest.len() <= 4
        && rest
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

fn cpt_hcpcs(code: &[u8]) -> bool {
    match code {
        [a, b, c, d, e] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
            e.is_ascii_digit() || matches!(e, b'F' | b'T' | b'U')
        }
        [letter, rest @ ..] if rest.len() == 4 => {
            (b'A'..=b'V').contains(letter) && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

fn loinc(code: &[u8]) -> bool {
    let [number @ .., b'-', check] = code else {
        return false;
    };
    (1..=7).contains(&number.len())
        && number.iter().all(u8::is_ascii_digit)
        && check.is_ascii_digit()
        && luhn_check_digit(number.iter().copied()) == check - b'0'
}

fn npi(b: &[u8]) -> bool {
    if b.len() != 10 || !b.iter().all(u8::is_ascii_digit) || !matches!(b[0], b'1' | b'2') {
        return false;
    }
    // The card issuer prefix 80840 stands before the nine digits.
    let payload = b"80840".iter().chain(&b[..9]).copied();
    luhn_check_digit(payload) == b[9] - b'0'
}

/// The Luhn check digit for `digits` (ASCII): every second digit from the
/// right, starting with the rightmost, doubled.
fn luhn_check_digit(digits: impl DoubleEndedIterator<Item = u8>) -> u8 {
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_system_accepts_real_codes_and_refuses_near_misses() {
        let cases: [(CodeSystem, &[&str], &[&str]); 4] = [
            (
                CodeSystem::Icd10Cm,
                &["E11.9", "E119", "S72.001A", "Z00.00", "C7A.010", "A00"],
                &[
                    "",
                    "E1",
                    "11.9",
                    "E11.",
                    "U07.1",
                    "e11.9",
                    "E11.12345",
                    "E11-9",
                ],
            ),
            (
                CodeSystem::CptHcpcs,
                &[
                    "99213", "0001F", "0042T", "0001U", "J1885", "A0425", "V2020",
                ],
                &["9921", "992133", "0001X", "W1234", "J188", "j1885"],
            ),
            (
                CodeSystem::Loinc,
                &["2345-7", "718-7", "4548-4", "8867-4"],
                &["2345-6", "2345", "-7", "2345-77", "23a5-7", "12345678-0"],
            ),
            (
                CodeSystem::Npi,
                &["1234567893", "1245319599"],
                &[
                    "1234567890",
                    "123456789",
                    "0234567893",
                    "12345678931",
                    "12345678a3",
                ],
            ),
        ];
        for (system, good, bad) in cases {
            for code in good {
                assert!(system.accepts(code), "{system:?} refuses {code}");
            }
            for code in bad {
                assert!(!system.accepts(code), "{system:?} accepts {code}");
            }
        }
    }

    #[test]
    fn code_systems_parse_by_name() {
        assert_eq!("npi".parse(), Ok(CodeSystem::Npi));
        for system in [
            CodeSystem::Icd10Cm,
            CodeSystem::CptHcpcs,
            CodeSystem::Loinc,
            CodeSystem::Npi,
        ] {
            assert_eq!(system.as_str().parse(), Ok(system));
        }
        assert!("snomed".parse::<CodeSystem>().is_err());
    }
}
