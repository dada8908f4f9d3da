//! X12 simple data types the transactions use: decimal amounts (`R`) and
//! dates (`DT`, `D8`, `RD8`).

use std::fmt;
use std::str::FromStr;

/// A decimal amount or quantity, exact to four decimal places (X12 `R`
/// values in 005010 healthcare transactions carry at most two for money
/// and three for units): sums and balancing are exact, never floating.
///
/// ```
/// use caresync_x12::Amount;
///
/// let a: Amount = "100.5".parse()?;
/// let b: Amount = "-.25".parse()?;
/// assert_eq!((a + b).to_string(), "100.25");
/// assert_eq!(a.ten_thousandths(), 1_005_000);
/// assert!("1e3".parse::<Amount>().is_err());
/// # Ok::<(), caresync_x12::AmountError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

/// Why a text is not an [`Amount`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not an optional sign, digits and an optional decimal point.
    #[error("not a decimal number")]
    NotANumber,
    /// More than four decimal places.
    #[error("more than four decimal places")]
    TooPrecise,
    /// Beyond ±922 trillion.
    #[error("out of range")]
    OutOfRange,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// The amount in ten-thousandths (`1.5` is `15_000`).
    pub const fn ten_thousandths(self) -> i64 {
        self.0
    }

    /// An amount from ten-thousandths.
    pub const fn from_ten_thousandths(v: i64) -> Self {
        Amount(v)
    }

    /// An amount from whole cents.
    pub const fn from_cents(cents: i64) -> Self {
        Amount(cents * 100)
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    /// Saturates instead of overflowing (amounts that large are not real).
    fn add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    /// Saturates instead of overflowing.
    fn sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }
}

impl std::ops::Neg for Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        Amount(self.0.saturating_neg())
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, |a, b| a + b)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, AmountError> {
        // Blanks are rare: only a text that may start or end with one
        // (ASCII space or control, or any non-ASCII byte) is trimmed.
        let maybe_blank = |b: u8| b <= b' ' || b >= 0x80;
        let s = match s.as_bytes() {
            [first, .., last] if !maybe_blank(*first) && !maybe_blank(*last) => s,
            [only] if !maybe_blank(*only) => s,
            _ => s.trim(),
        };
        let b = s.as_bytes();
        let (neg, body) = match b.first() {
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            _ => (false, b),
        };
        // One pass; errors rank as they are documented: not a number, then
        // too precise, then out of range.
        let mut v: i64 = 0;
        let mut digits = 0usize;
        let mut places: Option<usize> = None;
        let mut overflow = false;
        for &c in body {
            match c {
                b'0'..=b'9' => {
                    digits += 1;
                    if let Some(p) = places.as_mut() {
                        *p += 1;
                    }
                    match v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(i64::from(c - b'0')))
                    {
                        Some(n) => v = n,
                        None => overflow = true,
                    }
                }
                b'.' if places.is_none() => places = Some(0),
                _ => return Err(AmountError::NotANumber),
            }
        }
        if digits == 0 {
            return Err(AmountError::NotANumber);
        }
        let places = places.unwrap_or(0);
        if places > 4 {
            return Err(AmountError::TooPrecise);
        }
        for _ in places..4 {
            match v.checked_mul(10) {
                Some(n) => v = n,
                None => overflow = true,
            }
        }
        if overflow {
            return Err(AmountError::OutOfRange);
        }
        Ok(Amount(if neg { -v } else { v }))
    }
}

impl fmt::Display for Amount {
    /// At least two decimal places, more only when needed (`12.50`, `0.125`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0.unsigned_abs();
        let (int, mut frac) = (v / 10_000, v % 10_000);
        let mut places = 4;
        while places > 2 && frac % 10 == 0 {
            frac /= 10;
            places -= 1;
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{int}.{frac:0places$}")
    }
}

/// A calendar date (`CCYYMMDD`).
///
/// ```
/// use caresync_x12::Date;
///
/// let d = Date::parse_d8("20240229").expect("a leap day");
/// assert_eq!((d.year(), d.month(), d.day()), (2024, 2, 29));
/// assert_eq!(d.to_string(), "2024-02-29");
/// assert!(Date::parse_d8("20230229").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Parses `CCYYMMDD` (format qualifier `D8`); `None` when it is not a
    /// real date.
    pub fn parse_d8(s: &str) -> Option<Date> {
        let b = s.trim().as_bytes();
        if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        let (year, month, day) = (n(0..4), n(4..6), n(6..8));
        let days = caresync_core::calendar::days_in_month(i64::from(year), month)?;
        if year == 0 || day == 0 || day > days {
            return None;
        }
        Some(Date {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }

    /// Parses a date of format qualifier `qualifier` (`D8` → one date;
    /// `RD8` → `CCYYMMDD-CCYYMMDD`, a range); `None` when the text does not
    /// fit the qualifier.
    pub fn parse_period(qualifier: &str, s: &str) -> Option<(Date, Date)> {
        match qualifier.trim() {
            "D8" => Date::parse_d8(s).map(|d| (d, d)),
            "RD8" => {
                let (a, b) = s.trim().split_once('-')?;
                let (a, b) = (Date::parse_d8(a)?, Date::parse_d8(b)?);
                (a <= b).then_some((a, b))
            }
            _ => None,
        }
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month (1–12).
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month.
    pub fn day(&self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (Arrow `Date32`).
    pub fn days_since_epoch(&self) -> i32 {
        let days = caresync_core::calendar::days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        days as i32
    }

    /// The date `days` after 1970-01-01; `None` outside years 1–9999.
    ///
    /// ```
    /// use caresync_x12::Date;
    ///
    /// let d = Date::from_days_since_epoch(11_017).expect("a date");
    /// assert_eq!(d.to_string(), "2000-03-01");
    /// assert_eq!(d.days_since_epoch(), 11_017);
    /// ```
    pub fn from_days_since_epoch(days: i32) -> Option<Date> {
        let (year, month, day) = caresync_core::calendar::civil_from_days(i64::from(days));
        let year = u16::try_from(year)
            .ok()
            .filter(|y| (1..=9999).contains(y))?;
        Some(Date {
            year,
            month: month as u8,
            day: day as u8,
        })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        let a = |s: &str| s.parse::<Amount>();
        assert_eq!(a("945.00").map(|v| v.to_string()), Ok("945.00".into()));
        assert_eq!(a("0.125").map(|v| v.to_string()), Ok("0.125".into()));
        assert_eq!(a("7").map(|v| v.to_string()), Ok("7.00".into()));
        assert_eq!(a("-0.5").map(|v| v.to_string()), Ok("-0.50".into()));
        assert_eq!(a("1.23456"), Err(AmountError::TooPrecise));
        assert_eq!(a("."), Err(AmountError::NotANumber));
        assert_eq!(a(""), Err(AmountError::NotANumber));
        assert_eq!(a("99999999999999999"), Err(AmountError::OutOfRange));
        let sum: Amount = ["0.10", "0.20"].iter().map(|s| a(s).expect("amount")).sum();
        assert_eq!(sum, a("0.3").expect("amount"));
    }

    /// The rules of [`Amount`]'s parser written plainly, one check per pass.
    fn reference(s: &str) -> Result<Amount, AmountError> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(AmountError::NotANumber);
        }
        if frac.len() > 4 {
            return Err(AmountError::TooPrecise);
        }
        let text = format!("{int}{frac:0<4}");
        let v: i64 = text.parse().map_err(|_| AmountError::OutOfRange)?;
        Ok(Amount(if neg { -v } else { v }))
    }

    proptest::proptest! {
        #[test]
        fn amounts_parse_as_the_plain_rules_say(
            s in "[ +\\-]{0,2}[0-9]{0,20}[.]?[0-9]{0,6}[. a\u{a0}]{0,2}|\\PC{0,12}",
        ) {
            proptest::prop_assert_eq!(s.parse::<Amount>(), reference(&s));
        }
    }

    #[test]
    fn dates_and_periods() {
        assert_eq!(
            Date::parse_d8("19700101").map(|d| d.days_since_epoch()),
            Some(0)
        );
        assert_eq!(
            Date::parse_d8("20000301").map(|d| d.days_since_epoch()),
            Some(11_017)
        );
        let (a, b) = Date::parse_period("RD8", "20240101-20240131").expect("a range");
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2024-01-01".into(), "2024-01-31".into())
        );
        assert!(Date::parse_period("RD8", "20240131-20240101").is_none());
        assert!(Date::parse_period("D8", "2024013").is_none());
        assert!(Date::parse_d8("20241301").is_none());
    }
}

/// A short list kept inline, without allocating: procedure modifiers (at
/// most four) and diagnosis pointers. Reads as a slice.
///
/// ```
/// use caresync_x12::Inline;
///
/// let mut m: Inline<&str, 4> = Inline::default();
/// assert!(m.push("25").is_ok());
/// assert!(m.push("59").is_ok());
/// assert_eq!(m.as_slice(), ["25", "59"]);
/// assert_eq!(m.len(), 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inline<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: u8,
}

impl<T: Copy + Default, const N: usize> Default for Inline<T, N> {
    fn default() -> Self {
        Inline {
            items: [T::default(); N],
            len: 0,
        }
    }
}

impl<T: Copy + Default, const N: usize> Inline<T, N> {
    /// Appends `v`; gives it back when the list is full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        let len = usize::from(self.len);
        match self.items.get_mut(len) {
            Some(slot) if len < usize::from(u8::MAX) => {
                *slot = v;
                self.len += 1;
                Ok(())
            }
            _ => Err(v),
        }
    }

    /// The items, in order.
    pub fn as_slice(&self) -> &[T] {
        &self.items[..usize::from(self.len)]
    }
}

impl<T: Copy + Default, const N: usize> std::ops::Deref for Inline<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default, const N: usize> fmt::Debug for Inline<T, N> {
    /// The length only; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inline").field("len", &self.len).finish()
    }
}
