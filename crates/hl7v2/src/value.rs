//! Values inside a segment: fields, repetitions, components, sub-components.

use std::borrow::Cow;

use crate::charset::Charset;
use crate::delim::Delimiters;
use crate::escape;

#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) delims: Delimiters,
    pub(crate) charset: Charset,
    /// The whole message as text, when its bytes are valid in its character
    /// set and read the same as UTF-8: values are then sliced from it
    /// instead of being validated one by one.
    pub(crate) text: Option<&'a str>,
    /// The offset of `text` in the input the message came from.
    pub(crate) base: u64,
}

impl<'a> Ctx<'a> {
    /// `raw` as text when it is the bytes of `text` at `offset`.
    #[inline]
    fn slice(&self, raw: &[u8], offset: u64) -> Option<&'a str> {
        let start = usize::try_from(offset.checked_sub(self.base)?).ok()?;
        let s = self.text?.get(start..start.checked_add(raw.len())?)?;
        // Same address and length: the very bytes, whatever built `raw`.
        std::ptr::eq(s.as_ptr(), raw.as_ptr()).then_some(s)
    }
}

/// How deep a value sits in the field grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// A whole field, all repetitions.
    Field,
    /// One repetition of a field.
    Repetition,
    /// One component of a repetition.
    Component,
    /// One sub-component of a component (or an indivisible value such as MSH-1).
    Subcomponent,
}

/// A field or a part of one, borrowed from the message.
///
/// Three states are kept apart, as HL7 v2 means different things by them:
/// a value that is *absent* (the lookup returned `None`: the segment or
/// component list ends before it), *empty* (present with no content:
/// [`Value::is_empty`]) and *null* (`""`, meaning "delete the stored value":
/// [`Value::is_null`]).
///
/// Splitting follows the standard's rule that asking a field for a component
/// means its first repetition, and asking for a sub-component means the
/// first component. An empty value has no parts.
#[derive(Clone, Copy)]
pub struct Value<'m> {
    raw: &'m [u8],
    offset: u64,
    ctx: &'m Ctx<'m>,
    level: Level,
    /// The value holds no escape character: its text is its bytes.
    plain: bool,
}

impl std::fmt::Debug for Value<'_> {
    /// Prints the level, offset and size, never the content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value")
            .field("level", &self.level)
            .field("offset", &self.offset)
            .field("bytes", &self.raw.len())
            .finish()
    }
}

impl<'m> Value<'m> {
    pub(crate) fn new(
        raw: &'m [u8],
        offset: u64,
        ctx: &'m Ctx<'m>,
        level: Level,
        plain: bool,
    ) -> Self {
        Value {
            raw,
            offset,
            ctx,
            level,
            plain,
        }
    }

    /// The bytes as they appear in the message, escapes and separators included.
    #[inline]
    pub fn raw(&self) -> &'m [u8] {
        self.raw
    }

    /// Byte offset of the value in the parsed input.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How deep the value sits.
    #[inline]
    pub fn level(&self) -> Level {
        self.level
    }

    /// Whether the value is present but holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether the value is the explicit null `""`.
    #[inline]
    pub fn is_null(&self) -> bool {
        self.raw == b"\"\""
    }

    /// The value as text: escape sequences decoded (`\F\` becomes the field
    /// separator, `\X0D0A\` the bytes it names, `\.br\` a line break, `\H\`
    /// and `\N\` dropped, any other sequence kept as written) and the bytes
    /// read in the message's character set. Separators inside the value
    /// (a field's `^`) are kept as they are.
    #[inline]
    pub fn decode(&self) -> Cow<'m, str> {
        if self.plain {
            return match self.ctx.slice(self.raw, self.offset) {
                Some(s) => Cow::Borrowed(s),
                None => self.ctx.charset.decode(self.raw),
            };
        }
        let bytes = escape::decode(self.raw, &self.ctx.delims);
        match bytes {
            Cow::Borrowed(b) => match self.ctx.slice(b, self.offset) {
                Some(s) => Cow::Borrowed(s),
                None => self.ctx.charset.decode(b),
            },
            Cow::Owned(b) => Cow::Owned(self.ctx.charset.decode(&b).into_owned()),
        }
    }

    /// The decoded text, or `None` when the value is empty or null.
    #[inline]
    pub fn text(&self) -> Option<Cow<'m, str>> {
        if self.is_empty() || self.is_null() {
            None
        } else {
            Some(self.decode())
        }
    }

    fn split_sep(&self) -> Option<(u8, Level)> {
        let d = &self.ctx.delims;
        match self.level {
            Level::Field => Some((d.repetition, Level::Repetition)),
            Level::Repetition => Some((d.component, Level::Component)),
            Level::Component => d.subcomponent.map(|s| (s, Level::Subcomponent)),
            Level::Subcomponent => None,
        }
    }

    fn parts(&self) -> Parts<'m> {
        match self.split_sep() {
            Some((sep, level)) => Parts::new(*self, Some(sep), level),
            None => Parts::single(*self),
        }
    }

    /// Repetition `n` (1-based) of a field; a non-field value is its own
    /// only repetition.
    pub fn repetition(&self, n: usize) -> Option<Value<'m>> {
        match self.level {
            Level::Field => self.repetitions().nth(n.checked_sub(1)?),
            _ if n == 1 && !self.is_empty() => Some(*self),
            _ => None,
        }
    }

    /// The repetitions of a field (none when it is empty).
    pub fn repetitions(&self) -> Parts<'m> {
        match self.level {
            Level::Field => self.parts(),
            _ => Parts::single(*self),
        }
    }

    /// Component `n` (1-based) of the first repetition.
    pub fn component(&self, n: usize) -> Option<Value<'m>> {
        match self.level {
            Level::Field | Level::Repetition => self.part(n),
            _ => self.components().nth(n.checked_sub(1)?),
        }
    }

    /// The components of the first repetition (none when it is empty).
    pub fn components(&self) -> Parts<'m> {
        match self.level {
            Level::Field => match self.repetition(1) {
                Some(r) => r.parts(),
                None => Parts::empty(self.ctx),
            },
            Level::Repetition => self.parts(),
            _ => Parts::single(*self),
        }
    }

    /// Sub-component `n` (1-based) of the first component.
    pub fn subcomponent(&self, n: usize) -> Option<Value<'m>> {
        match self.level {
            Level::Field | Level::Repetition => self.component(1)?.part(n),
            Level::Component => self.part(n),
            Level::Subcomponent => self.subcomponents().nth(n.checked_sub(1)?),
        }
    }

    /// Part `n` (1-based) one level down, whatever the value's depth: a
    /// component of a field (of its first repetition) or of a repetition,
    /// a sub-component of a component; a sub-component is its own first
    /// part (even when empty). Found in one pass that stops at the part.
    ///
    /// ```
    /// let msg = caresync_hl7v2::Message::parse(b"MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.5\rPID|1||7^^^H&1.2&ISO~8\r")?;
    /// let pid3 = msg.get("PID-3").expect("PID-3");
    /// let authority = pid3.part(4).expect("CX.4");
    /// assert_eq!(authority.part(2).map(|v| v.decode().into_owned()), Some("1.2".to_owned()));
    /// assert!(pid3.part(5).is_none());
    /// # Ok::<(), caresync_hl7v2::ParseError>(())
    /// ```
    pub fn part(&self, n: usize) -> Option<Value<'m>> {
        let i = n.checked_sub(1)?;
        let (sep, stop, level) = match self.part_seps() {
            Seps::Split(sep, stop, level) => (sep, stop, level),
            Seps::Whole => return (i == 0 && !self.is_empty()).then_some(*self),
            Seps::Itself => return (i == 0).then_some(*self),
        };
        let region = self.region(stop);
        if region.is_empty() {
            return None;
        }
        let mut start = 0;
        for _ in 0..i {
            start += find_byte(sep, &region[start..])? + 1;
        }
        let len = find_byte(sep, &region[start..]).unwrap_or(region.len() - start);
        Some(self.sub(start, start + len, level))
    }

    /// The first `N` parts of the value (see [`Value::part`]), found in
    /// one pass, for reading many parts of one composite value.
    pub fn split<const N: usize>(&self) -> Split<'m, N> {
        let mut ends = [0u32; N];
        let mut count = 0;
        // Parts not split here are found by `Value::part`: those after
        // the first `N`, or all when the value does not split.
        let mut more = true;
        let mut level = self.level;
        match self.part_seps() {
            Seps::Split(sep, stop, part_level) => {
                level = part_level;
                let region = self.region(stop);
                more = N == 0;
                if !region.is_empty() && N > 0 {
                    let mut start = 0;
                    while count < N {
                        match find_byte(sep, &region[start..]) {
                            Some(at) => {
                                ends[count] = (start + at) as u32;
                                start += at + 1;
                                count += 1;
                            }
                            None => {
                                ends[count] = region.len() as u32;
                                count += 1;
                                break;
                            }
                        }
                    }
                    // N parts, the last ending at a separator: more follow.
                    more = count == N && ends[N - 1] as usize != region.len();
                }
            }
            Seps::Whole | Seps::Itself => {}
        }
        Split {
            value: *self,
            ends,
            count,
            more,
            level,
        }
    }

    /// The bytes that split into parts: up to the first `stop` byte (a
    /// field's first repetition), or all of them.
    fn region(&self, stop: Option<u8>) -> &'m [u8] {
        match stop.and_then(|s| find_byte(s, self.raw)) {
            Some(end) => &self.raw[..end],
            None => self.raw,
        }
    }

    fn part_seps(&self) -> Seps {
        let d = &self.ctx.delims;
        match self.level {
            Level::Field => Seps::Split(d.component, Some(d.repetition), Level::Component),
            Level::Repetition => Seps::Split(d.component, None, Level::Component),
            Level::Component => match d.subcomponent {
                Some(s) => Seps::Split(s, None, Level::Subcomponent),
                None => Seps::Whole,
            },
            Level::Subcomponent => Seps::Itself,
        }
    }

    #[inline]
    fn sub(&self, start: usize, end: usize, level: Level) -> Value<'m> {
        Value::new(
            &self.raw[start..end],
            self.offset + start as u64,
            self.ctx,
            level,
            self.plain,
        )
    }
    /// The sub-components of the first component (none when it is empty).
    pub fn subcomponents(&self) -> Parts<'m> {
        match self.level {
            Level::Field | Level::Repetition => match self.component(1) {
                Some(c) => c.parts(),
                None => Parts::empty(self.ctx),
            },
            Level::Component => self.parts(),
            Level::Subcomponent => Parts::single(*self),
        }
    }
}

/// How a value splits into parts one level down.
enum Seps {
    /// At a separator, up to an optional stop byte (a field's first
    /// repetition), into parts of a level.
    Split(u8, Option<u8>, Level),
    /// Not at all: the value is its only part, unless it is empty.
    Whole,
    /// Not at all: the value is its only part, even when empty.
    Itself,
}

/// The first `N` parts of a value, split once ([`Value::split`]); later
/// parts are found by scanning again.
#[derive(Clone, Copy)]
pub struct Split<'m, const N: usize> {
    value: Value<'m>,
    /// Where each of the first `count` parts ends, relative to the value.
    ends: [u32; N],
    count: usize,
    /// Whether parts past the first `count` are found by scanning.
    more: bool,
    level: Level,
}

impl<const N: usize> std::fmt::Debug for Split<'_, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Split")
            .field("value", &self.value)
            .field("parts", &self.count)
            .finish_non_exhaustive()
    }
}

impl<'m, const N: usize> Split<'m, N> {
    /// The value that was split.
    pub fn value(&self) -> Value<'m> {
        self.value
    }

    /// Part `n` (1-based), as [`Value::part`] gives it.
    #[inline]
    pub fn get(&self, n: usize) -> Option<Value<'m>> {
        let i = n.checked_sub(1)?;
        if i < self.count {
            let start = if i == 0 {
                0
            } else {
                self.ends[i - 1] as usize + 1
            };
            return Some(self.value.sub(start, self.ends[i] as usize, self.level));
        }
        if self.more { self.value.part(n) } else { None }
    }

    /// The decoded text of part `n`, or `None` when it is absent, empty or null.
    #[inline]
    pub fn text(&self, n: usize) -> Option<Cow<'m, str>> {
        self.get(n).and_then(|p| p.text())
    }
}

/// Iterator over the parts of a value (repetitions, components or sub-components).
#[derive(Clone)]
pub struct Parts<'m> {
    rest: &'m [u8],
    offset: u64,
    ctx: &'m Ctx<'m>,
    sep: Option<u8>,
    level: Level,
    plain: bool,
    state: PartsState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PartsState {
    /// Nothing yielded yet: an empty value has no parts.
    Start,
    /// After a separator: the next part exists even if it is empty.
    AfterSeparator,
    Done,
}

impl std::fmt::Debug for Parts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl<'m> Parts<'m> {
    fn new(v: Value<'m>, sep: Option<u8>, level: Level) -> Self {
        Parts {
            rest: v.raw,
            offset: v.offset,
            ctx: v.ctx,
            sep,
            level,
            plain: v.plain,
            state: PartsState::Start,
        }
    }

    fn empty(ctx: &'m Ctx<'m>) -> Self {
        Parts {
            rest: &[],
            offset: 0,
            ctx,
            sep: None,
            level: Level::Subcomponent,
            plain: true,
            state: PartsState::Done,
        }
    }

    fn single(v: Value<'m>) -> Self {
        Parts::new(v, None, v.level)
    }
}

impl<'m> Iterator for Parts<'m> {
    type Item = Value<'m>;

    fn next(&mut self) -> Option<Value<'m>> {
        match self.state {
            PartsState::Done => return None,
            PartsState::Start if self.rest.is_empty() => {
                self.state = PartsState::Done;
                return None;
            }
            _ => {}
        }
        let rest = self.rest;
        let found = self.sep.and_then(|s| find_byte(s, rest));
        let part = match found {
            Some(at) => {
                self.rest = &rest[at + 1..];
                self.state = PartsState::AfterSeparator;
                &rest[..at]
            }
            None => {
                self.state = PartsState::Done;
                rest
            }
        };
        let v = Value::new(part, self.offset, self.ctx, self.level, self.plain);
        self.offset += part.len() as u64 + 1;
        Some(v)
    }
}

/// The index of the first `needle` in `hay`. Most parts are a few bytes
/// long: they are read eight bytes at a time (the last word overlapping
/// the one before), and `memchr` pays for its setup only on longer text.
#[inline]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    /// Bytes looked at a word at a time before handing over to `memchr`.
    const HEAD: usize = 32;
    let n = hay.len();
    if n < 8 {
        return hay.iter().position(|&b| b == needle);
    }
    let pat = LO * u64::from(needle);
    let word = |at: usize| u64::from_le_bytes(hay[at..at + 8].try_into().expect("eight bytes"));
    // The high bit of each byte equal to `needle`; exact for the lowest
    // such byte (bytes above it may be flagged by the borrow).
    let hits = |x: u64| {
        let y = x ^ pat;
        y.wrapping_sub(LO) & !y & HI
    };
    let mut i = 0;
    while i + 8 <= n {
        if i == HEAD {
            return memchr::memchr(needle, &hay[i..]).map(|p| p + i);
        }
        let h = hits(word(i));
        if h != 0 {
            return Some(i + (h.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < n {
        // The bytes before `i` hold no needle, so they borrow nothing:
        // masked off, the lowest flag left is exact.
        let at = n - 8;
        let h = hits(word(at)) & (u64::MAX << (8 * (i - at)));
        if h != 0 {
            return Some(at + (h.trailing_zeros() / 8) as usize);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::find_byte;

    proptest! {
        #[test]
        fn word_search_finds_what_a_byte_search_finds(
            hay in prop::collection::vec(prop_oneof![Just(b'^'), Just(0x5d), Just(0x5f), Just(0), Just(0xff), any::<u8>()], 0..80),
        ) {
            for needle in [b'^', 0, 0xff, 0x5d] {
                prop_assert_eq!(find_byte(needle, &hay), hay.iter().position(|&b| b == needle));
            }
        }
    }
}
