//! Paths such as `PID-3(2).1` and `OBX[3]-5.1.2`.

use std::fmt;
use std::str::FromStr;

use caresync_core::ErrorCode;

use crate::error::codes;

/// A checked path to a value: `SEG[occurrence]-field(repetition).component.subcomponent`,
/// every number 1-based; all but the segment and field are optional.
///
/// ```
/// use caresync_hl7v2::Path;
///
/// let p: Path = "OBX[3]-5(2).1.2".parse()?;
/// assert_eq!((p.occurrence(), p.field(), p.repetition(), p.component(), p.subcomponent()),
///            (3, 5, Some(2), Some(1), Some(2)));
/// assert_eq!(p.to_string(), "OBX[3]-5(2).1.2");
/// # Ok::<(), caresync_hl7v2::PathError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    segment: [u8; 3],
    occurrence: u32,
    field: u32,
    repetition: Option<u32>,
    component: Option<u32>,
    subcomponent: Option<u32>,
}

/// A malformed path, with the character offset where reading stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: field path is malformed at character {at} (expected {expected})",
    codes::BAD_PATH
)]
#[non_exhaustive]
pub struct PathError {
    /// Character offset in the path.
    pub at: usize,
    /// What was expected there.
    pub expected: &'static str,
}

impl PathError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        codes::BAD_PATH
    }
}

impl Path {
    /// The segment id.
    pub fn segment_id(&self) -> &[u8] {
        &self.segment
    }
    /// Which occurrence of the segment (1 unless `[n]` is given).
    pub fn occurrence(&self) -> u32 {
        self.occurrence
    }
    /// The field number.
    pub fn field(&self) -> u32 {
        self.field
    }
    /// The repetition, if given.
    pub fn repetition(&self) -> Option<u32> {
        self.repetition
    }
    /// The component, if given.
    pub fn component(&self) -> Option<u32> {
        self.component
    }
    /// The sub-component, if given.
    pub fn subcomponent(&self) -> Option<u32> {
        self.subcomponent
    }
}

struct Reader<'s> {
    s: &'s [u8],
    i: usize,
}

impl Reader<'_> {
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn number(&mut self) -> Result<u32, PathError> {
        let start = self.i;
        let mut n: u32 = 0;
        while let Some(d) = self.s.get(self.i).filter(|c| c.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u32::from(d - b'0')))
                .ok_or(PathError {
                    at: start,
                    expected: "a number below 2^32",
                })?;
            self.i += 1;
        }
        if self.i == start || n == 0 {
            return Err(PathError {
                at: start,
                expected: "a number from 1",
            });
        }
        Ok(n)
    }

    fn expect(&mut self, c: u8, expected: &'static str) -> Result<(), PathError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(PathError {
                at: self.i,
                expected,
            })
        }
    }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, PathError> {
        let mut r = Reader {
            s: s.as_bytes(),
            i: 0,
        };
        let id = r.s.get(..3).filter(|id| {
            id.iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        });
        let Some(id) = id else {
            return Err(PathError {
                at: 0,
                expected: "a three-character segment id",
            });
        };
        let mut segment = [0; 3];
        segment.copy_from_slice(id);
        r.i = 3;
        let occurrence = if r.eat(b'[') {
            let n = r.number()?;
            r.expect(b']', "']'")?;
            n
        } else {
            1
        };
        r.expect(b'-', "'-' before the field number")?;
        let field = r.number()?;
        let repetition = if r.eat(b'(') {
            let n = r.number()?;
            r.expect(b')', "')'")?;
            Some(n)
        } else {
            None
        };
        let component = if r.eat(b'.') { Some(r.number()?) } else { None };
        let subcomponent = if component.is_some() && r.eat(b'.') {
            Some(r.number()?)
        } else {
            None
        };
        if r.i != r.s.len() {
            return Err(PathError {
                at: r.i,
                expected: "the end of the path",
            });
        }
        Ok(Path {
            segment,
            occurrence,
            field,
            repetition,
            component,
            subcomponent,
        })
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.segment).unwrap_or("???"))?;
        if self.occurrence != 1 {
            write!(f, "[{}]", self.occurrence)?;
        }
        write!(f, "-{}", self.field)?;
        if let Some(r) = self.repetition {
            write!(f, "({r})")?;
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        if let Some(s) = self.subcomponent {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_paths_with_position() {
        let at = |s: &str| s.parse::<Path>().expect_err("malformed").at;
        assert_eq!(at("pid-3"), 0);
        assert_eq!(at("PID"), 3);
        assert_eq!(at("PID-0"), 4);
        assert_eq!(at("PID-3(2"), 7);
        assert_eq!(at("PID-3.1.2.3"), 9);
        assert_eq!(at("PID[0]-1"), 4);
        assert_eq!(at("PID-99999999999"), 4);
        assert_eq!(
            "PID-3".parse::<Path>().map(|p| p.to_string()),
            Ok("PID-3".to_owned())
        );
    }
}
