//! Deterministic synthetic HL7 v2.5.1 messages.
//!
//! An [`Hl7Generator`] seeded with the same number and built with the same
//! [`Hl7Options`] yields the same bytes on every machine and every run. Its
//! patients and encounters come from a [`Generator`], so names, MRNs, NPIs and
//! diagnoses are consistent with the rest of the test data, and later messages
//! often refer to patients admitted by earlier ones (an `A08` updates a patient
//! an `A01` admitted, an `ORU^R01` reports on the same visit).
//!
//! ```
//! use caresync_testkit::hl7::{Delimiters, Hl7Generator, Hl7Kind, Hl7Options};
//!
//! let mut g = Hl7Generator::new(42, Hl7Options::default());
//! let adt = g.message(Hl7Kind::AdtA01);
//! assert!(adt.starts_with(b"MSH|^~\\&|"));
//!
//! // The same seed gives the same bytes.
//! let again = Hl7Generator::new(42, Hl7Options::default()).message(Hl7Kind::AdtA01);
//! assert_eq!(adt, again);
//!
//! // Everything the nasty options can do, with unusual delimiters.
//! let options = Hl7Options {
//!     delimiters: Delimiters::ALTERNATE,
//!     ..Hl7Options::nasty()
//! };
//! let oru = Hl7Generator::new(42, options).message(Hl7Kind::OruR01);
//! assert!(oru.starts_with("\u{feff}MSH#$*@!#".as_bytes()));
//! ```
//!
//! Every text value is escaped for the delimiters in use (`\F\ \S\ \T\ \R\ \E\`,
//! and `\Xhh\` for control characters), so a conforming parser decodes exactly
//! the values in [`Hl7Message::patients`]. Messages are invented: no value
//! belongs to a real person.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, Timelike, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::generate::{Encounter, EncounterClass, Generator, Patient, Sex};

/// Components of one field or repetition.
macro_rules! comps {
    ($($x:expr),* $(,)?) => {
        Node::Seq(Sep::Component, vec![$(Node::from($x)),*])
    };
}

/// Sub-components of one component.
macro_rules! subs {
    ($($x:expr),* $(,)?) => {
        Node::Seq(Sep::Subcomponent, vec![$(Node::from($x)),*])
    };
}

/// The five HL7 v2 delimiters: field separator (MSH-1) and the four encoding
/// characters of MSH-2.
///
/// ```
/// use caresync_testkit::hl7::Delimiters;
///
/// assert_eq!(Delimiters::STANDARD.encoding_characters(), "^~\\&");
/// let d = Delimiters::new('#', '^', '~', '\\', '&')?;
/// assert_eq!(d.field(), '#');
/// assert!(Delimiters::new('|', '^', '^', '\\', '&').is_err());
/// # Ok::<(), caresync_testkit::hl7::DelimiterError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Delimiters {
    field: u8,
    component: u8,
    repetition: u8,
    escape: u8,
    subcomponent: u8,
}

impl Delimiters {
    /// The standard `|^~\&`.
    pub const STANDARD: Delimiters = Delimiters {
        field: b'|',
        component: b'^',
        repetition: b'~',
        escape: b'\\',
        subcomponent: b'&',
    };

    /// Legal but unusual delimiters, `#$*@!`: `#` separates fields, `$`
    /// components, `*` repetitions, `@` escapes and `!` sub-components. Units
    /// such as `10*3/uL` and e-mail addresses then need escaping.
    pub const ALTERNATE: Delimiters = Delimiters {
        field: b'#',
        component: b'$',
        repetition: b'*',
        escape: b'@',
        subcomponent: b'!',
    };

    /// Delimiters in MSH order: field separator, then component, repetition,
    /// escape and sub-component characters.
    ///
    /// Each must be printable ASCII punctuation, all five must differ, and
    /// neither `"` (it spells the null value `""`) nor `.` (it appears inside
    /// the `\.br\` formatting escape) is allowed.
    pub fn new(
        field: char,
        component: char,
        repetition: char,
        escape: char,
        subcomponent: char,
    ) -> Result<Self, DelimiterError> {
        let all = [field, component, repetition, escape, subcomponent];
        for (i, &c) in all.iter().enumerate() {
            if !c.is_ascii_punctuation() || c == '"' || c == '.' {
                return Err(DelimiterError::NotAllowed(c));
            }
            if all[..i].contains(&c) {
                return Err(DelimiterError::Repeated(c));
            }
        }
        let byte = |c: char| u8::try_from(c).expect("checked to be ASCII");
        Ok(Delimiters {
            field: byte(field),
            component: byte(component),
            repetition: byte(repetition),
            escape: byte(escape),
            subcomponent: byte(subcomponent),
        })
    }

    /// The field separator (MSH-1).
    pub fn field(&self) -> char {
        char::from(self.field)
    }

    /// The component separator.
    pub fn component(&self) -> char {
        char::from(self.component)
    }

    /// The repetition separator.
    pub fn repetition(&self) -> char {
        char::from(self.repetition)
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        char::from(self.escape)
    }

    /// The sub-component separator.
    pub fn subcomponent(&self) -> char {
        char::from(self.subcomponent)
    }

    /// MSH-2: component, repetition, escape and sub-component characters.
    pub fn encoding_characters(&self) -> String {
        [
            self.component(),
            self.repetition(),
            self.escape(),
            self.subcomponent(),
        ]
        .iter()
        .collect()
    }

    fn all(&self) -> [u8; 5] {
        [
            self.field,
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ]
    }
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters::STANDARD
    }
}

/// Why [`Delimiters::new`] refused a set of delimiters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DelimiterError {
    /// The character is not printable ASCII punctuation, or is `"` or `.`.
    #[error("{0:?} cannot be an HL7 v2 delimiter")]
    NotAllowed(char),
    /// The character was given for two delimiters.
    #[error("{0:?} is given for two delimiters")]
    Repeated(char),
}

/// How segments are terminated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// `\r`, as the standard requires.
    #[default]
    Cr,
    /// `\r\n`, as files edited on Windows have.
    CrLf,
    /// `\n`, as files edited on Unix have.
    Lf,
    /// `\r`, `\r\n` or `\n`, chosen at random for each segment.
    Mixed,
}

/// What the generator emits. [`Hl7Options::default`] gives clean, standard
/// messages; [`Hl7Options::nasty`] turns every difficulty on.
#[derive(Clone, Debug, PartialEq)]
pub struct Hl7Options {
    /// The delimiters, declared in MSH-1 and MSH-2 (and FHS/BHS in batches).
    pub delimiters: Delimiters,
    /// The segment terminator.
    pub line_ending: LineEnding,
    /// Share of people (patients, next of kin, guarantors) drawn with nasty
    /// names from [`Generator`]: apostrophes, hyphens, the five delimiter
    /// characters, a 1,000-letter surname, and non-ASCII letters (folded to
    /// ASCII unless [`unicode`](Self::unicode) is on). Default 5%.
    pub nasty_name_rate: f64,
    /// Keep non-ASCII names (`Núñez`, `李`, `Анна`), add non-ASCII free text,
    /// and declare `UNICODE UTF-8` in MSH-18. When off, every byte is ASCII.
    pub unicode: bool,
    /// Put delimiter characters of the chosen set into names, addresses,
    /// comments, observation values and Z-segment text, so escapes appear
    /// in nearly every message.
    pub escapes_everywhere: bool,
    /// Put tabs and line breaks inside free text, which must be sent as
    /// `\X09\` and `\X0D0A\` hexadecimal escapes; add `\H\`...`\N\`
    /// highlighting to narrative text.
    pub hex_escapes: bool,
    /// Send `""` (the HL7 null: "delete this value") in optional fields
    /// now and then, and always in PID-12 and PID-14 of `A08` and `A31`
    /// updates, beside the ordinary empty fields.
    pub null_fields: bool,
    /// Keep trailing empty fields, components and repetitions on about 40%
    /// of segments, and add up to three extra trailing field separators.
    pub trailing_empties: bool,
    /// Many repetitions: PID-3 with up to a dozen identifiers (old MRNs from
    /// other facilities, a duplicate, driver's licence, member number...),
    /// legal, alias and maiden names, several addresses and phones, two
    /// attending doctors.
    pub repeated_identifiers: bool,
    /// The size in bytes of the base64 text of the `ED` OBX-5 (a PDF report)
    /// in every `ORU^R01`; `None` gives a small report of a few hundred bytes.
    pub big_payload_bytes: Option<usize>,
    /// Start each message (or each batch file) with a UTF-8 byte-order mark.
    pub bom: bool,
}

impl Default for Hl7Options {
    fn default() -> Self {
        Hl7Options {
            delimiters: Delimiters::STANDARD,
            line_ending: LineEnding::Cr,
            nasty_name_rate: 0.05,
            unicode: false,
            escapes_everywhere: false,
            hex_escapes: false,
            null_fields: false,
            trailing_empties: false,
            repeated_identifiers: false,
            big_payload_bytes: None,
            bom: false,
        }
    }
}

impl Hl7Options {
    /// Every difficulty on: 30% nasty names, Unicode, escapes everywhere, hex
    /// escapes, `""` nulls, trailing empties, repeated identifiers, mixed line
    /// endings and a BOM, with standard delimiters and small payloads (set
    /// [`delimiters`](Self::delimiters) and
    /// [`big_payload_bytes`](Self::big_payload_bytes) as well to go further).
    pub fn nasty() -> Self {
        Hl7Options {
            delimiters: Delimiters::STANDARD,
            line_ending: LineEnding::Mixed,
            nasty_name_rate: 0.3,
            unicode: true,
            escapes_everywhere: true,
            hex_escapes: true,
            null_fields: true,
            trailing_empties: true,
            repeated_identifiers: true,
            big_payload_bytes: None,
            bom: true,
        }
    }
}

/// The message types and trigger events the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hl7Kind {
    /// `ADT^A01^ADT_A01`: admit/visit notification.
    AdtA01,
    /// `ADT^A02^ADT_A02`: transfer (PV1-6 holds the prior location).
    AdtA02,
    /// `ADT^A03^ADT_A03`: discharge (PV1-45 set).
    AdtA03,
    /// `ADT^A04^ADT_A01`: register a patient.
    AdtA04,
    /// `ADT^A05^ADT_A05`: pre-admit (PV1-2 `P`).
    AdtA05,
    /// `ADT^A06^ADT_A06`: outpatient to inpatient, with MRG.
    AdtA06,
    /// `ADT^A07^ADT_A06`: inpatient to outpatient, with MRG.
    AdtA07,
    /// `ADT^A08^ADT_A01`: update patient information.
    AdtA08,
    /// `ADT^A11^ADT_A09`: cancel admit.
    AdtA11,
    /// `ADT^A13^ADT_A01`: cancel discharge.
    AdtA13,
    /// `ADT^A17^ADT_A17`: swap two patients' beds (two PID/PV1 groups).
    AdtA17,
    /// `ADT^A28^ADT_A05`: add person information (PV1-2 `N`).
    AdtA28,
    /// `ADT^A31^ADT_A05`: update person information (PV1-2 `N`).
    AdtA31,
    /// `ADT^A40^ADT_A39`: merge patient, identifier list (PID + MRG).
    AdtA40,
    /// `ORU^R01^ORU_R01`: results, with OBX of types NM, ST, CWE, TX and ED.
    OruR01,
    /// `ORM^O01^ORM_O01`: general order.
    OrmO01,
    /// `OML^O21^OML_O21`: laboratory order, with TQ1 and SPM.
    OmlO21,
    /// `SIU^S12^SIU_S12`: new appointment booking.
    SiuS12,
    /// `MDM^T02^MDM_T02`: original document with content (TXA + OBX TX).
    MdmT02,
    /// `VXU^V04^VXU_V04`: unsolicited vaccination record update (RXA).
    VxuV04,
}

impl Hl7Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Hl7Kind; 20] = [
        Hl7Kind::AdtA01,
        Hl7Kind::AdtA02,
        Hl7Kind::AdtA03,
        Hl7Kind::AdtA04,
        Hl7Kind::AdtA05,
        Hl7Kind::AdtA06,
        Hl7Kind::AdtA07,
        Hl7Kind::AdtA08,
        Hl7Kind::AdtA11,
        Hl7Kind::AdtA13,
        Hl7Kind::AdtA17,
        Hl7Kind::AdtA28,
        Hl7Kind::AdtA31,
        Hl7Kind::AdtA40,
        Hl7Kind::OruR01,
        Hl7Kind::OrmO01,
        Hl7Kind::OmlO21,
        Hl7Kind::SiuS12,
        Hl7Kind::MdmT02,
        Hl7Kind::VxuV04,
    ];

    /// MSH-9.1, the message code (`ADT`, `ORU`...).
    pub fn message_code(self) -> &'static str {
        self.parts().0
    }

    /// MSH-9.2, the trigger event (`A01`, `R01`...).
    pub fn trigger_event(self) -> &'static str {
        self.parts().1
    }

    /// MSH-9.3, the message structure (`ADT_A01`, `ADT_A39`...).
    pub fn structure(self) -> &'static str {
        self.parts().2
    }

    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Hl7Kind::AdtA01 => ("ADT", "A01", "ADT_A01"),
            Hl7Kind::AdtA02 => ("ADT", "A02", "ADT_A02"),
            Hl7Kind::AdtA03 => ("ADT", "A03", "ADT_A03"),
            Hl7Kind::AdtA04 => ("ADT", "A04", "ADT_A01"),
            Hl7Kind::AdtA05 => ("ADT", "A05", "ADT_A05"),
            Hl7Kind::AdtA06 => ("ADT", "A06", "ADT_A06"),
            Hl7Kind::AdtA07 => ("ADT", "A07", "ADT_A06"),
            Hl7Kind::AdtA08 => ("ADT", "A08", "ADT_A01"),
            Hl7Kind::AdtA11 => ("ADT", "A11", "ADT_A09"),
            Hl7Kind::AdtA13 => ("ADT", "A13", "ADT_A01"),
            Hl7Kind::AdtA17 => ("ADT", "A17", "ADT_A17"),
            Hl7Kind::AdtA28 => ("ADT", "A28", "ADT_A05"),
            Hl7Kind::AdtA31 => ("ADT", "A31", "ADT_A05"),
            Hl7Kind::AdtA40 => ("ADT", "A40", "ADT_A39"),
            Hl7Kind::OruR01 => ("ORU", "R01", "ORU_R01"),
            Hl7Kind::OrmO01 => ("ORM", "O01", "ORM_O01"),
            Hl7Kind::OmlO21 => ("OML", "O21", "OML_O21"),
            Hl7Kind::SiuS12 => ("SIU", "S12", "SIU_S12"),
            Hl7Kind::MdmT02 => ("MDM", "T02", "MDM_T02"),
            Hl7Kind::VxuV04 => ("VXU", "V04", "VXU_V04"),
        }
    }

    /// How often [`Hl7Generator::any_message`] picks this kind, roughly as in
    /// a hospital interface engine's traffic.
    fn weight(self) -> u32 {
        match self {
            Hl7Kind::OruR01 => 20,
            Hl7Kind::AdtA08 => 12,
            Hl7Kind::AdtA01 | Hl7Kind::SiuS12 => 8,
            Hl7Kind::AdtA03 | Hl7Kind::AdtA04 | Hl7Kind::OrmO01 => 6,
            Hl7Kind::MdmT02 => 5,
            Hl7Kind::AdtA02 | Hl7Kind::OmlO21 | Hl7Kind::VxuV04 => 4,
            Hl7Kind::AdtA31 => 3,
            Hl7Kind::AdtA05 | Hl7Kind::AdtA28 => 2,
            Hl7Kind::AdtA06
            | Hl7Kind::AdtA07
            | Hl7Kind::AdtA11
            | Hl7Kind::AdtA13
            | Hl7Kind::AdtA17
            | Hl7Kind::AdtA40 => 1,
        }
    }
}

/// One generated message and the facts it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hl7Message {
    /// Message type and trigger event.
    pub kind: Hl7Kind,
    /// MSH-10, unique per generator.
    pub control_id: String,
    /// The patients in the message, as written (after ASCII folding when
    /// [`Hl7Options::unicode`] is off). `A17` has two; for `A40` the first is
    /// the surviving record and the second the one merged into it (its name,
    /// sent in MRG-7, is the survivor's).
    pub patients: Vec<Patient>,
    /// The encounters in the message, one per PV1 that describes a visit
    /// (none for the person-level `A28`, `A31` and `A40`).
    pub encounters: Vec<Encounter>,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

/// A seeded generator of HL7 v2.5.1 messages.
///
/// ```
/// use caresync_testkit::hl7::{Hl7Generator, Hl7Kind, Hl7Options};
///
/// let mut g = Hl7Generator::new(7, Hl7Options::default());
/// let msg = g.generate(Hl7Kind::AdtA08);
/// let text = String::from_utf8(msg.bytes).expect("ASCII");
/// assert!(text.contains(&msg.patients[0].mrn));
/// assert!(text.contains(&format!("|{}|", msg.control_id)));
/// ```
#[derive(Debug)]
pub struct Hl7Generator {
    people: Generator,
    rng: ChaCha8Rng,
    options: Hl7Options,
    /// NPIs of the medical staff, for referring, consulting and ordering
    /// providers (attendings come with each encounter).
    staff: Vec<String>,
    control_prefix: String,
    next_control: u64,
    /// Recent visits, so later messages refer to earlier patients.
    census: Vec<Stay>,
    /// The current message's sender sends namespaces alone in HD, CX and XCN
    /// (no OIDs), as many real interfaces do.
    compact: bool,
}

/// Visits remembered for later messages.
const CENSUS_SIZE: usize = 64;

impl Hl7Generator {
    /// A generator whose output is fixed by `seed` and `options`.
    pub fn new(seed: u64, options: Hl7Options) -> Self {
        let mut people = Generator::new(seed).with_nasty_rate(options.nasty_name_rate);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0x484c_3756); // "HL7V": independent of `people`'s stream
        // The staff are the attendings of a placeholder patient's encounters.
        let placeholder = people.patient();
        let staff = (0..24)
            .map(|_| people.encounter(&placeholder).attending_npi)
            .collect();
        let control_prefix = format!("{:06X}", rng.random::<u32>() & 0xff_ffff);
        Hl7Generator {
            people,
            rng,
            options,
            staff,
            control_prefix,
            next_control: 1,
            census: Vec::new(),
            compact: false,
        }
    }

    /// The options this generator was built with.
    pub fn options(&self) -> &Hl7Options {
        &self.options
    }

    /// The next message of `kind`, with the patients and encounters it holds.
    pub fn generate(&mut self, kind: Hl7Kind) -> Hl7Message {
        let draft = self.draft(kind);
        let (segments, mut message) = self.complete(draft);
        let bom = self.options.bom;
        self.encode_message(&segments, bom, &mut message.bytes);
        message
    }

    /// The bytes of the next message of `kind`.
    pub fn message(&mut self, kind: Hl7Kind) -> Vec<u8> {
        self.generate(kind).bytes
    }

    /// The bytes of the next message of a kind drawn at random, weighted like
    /// real traffic (results and updates most often, merges rarely).
    pub fn any_message(&mut self) -> Vec<u8> {
        let kind = self.any_kind();
        self.message(kind)
    }

    /// A batch file of `n` messages: `FHS`, then one to three batches
    /// (`BHS`, messages, `BTS` with the batch's message count), then `FTS`
    /// with the number of batches. A BOM, if asked for, starts the file only.
    pub fn batch_file(&mut self, n: usize) -> Vec<u8> {
        let batches = if n < 2 {
            1
        } else {
            self.rng.random_range(1..=n.min(3))
        };
        // Split n into `batches` sizes: sorted cut points in 0..=n.
        let mut cuts: Vec<usize> = (1..batches).map(|_| self.rng.random_range(0..=n)).collect();
        cuts.sort_unstable();
        cuts.insert(0, 0);
        cuts.push(n);

        let time = self.instant_in(2025);
        let offset = self.pick(&[-300, -360, -420, -480, 0]);
        let offset = FixedOffset::east_opt(offset * 60).expect("a valid offset");
        let mut out = Vec::new();
        if self.options.bom {
            out.extend_from_slice(BOM);
        }
        let file_id = self.control_id();
        let mut fhs = Segment::new("FHS");
        fhs.set(3, "HIS");
        fhs.set(4, comps!["GH", "2.16.840.1.113883.19.101", "ISO"]);
        fhs.set(5, "CARESYNC");
        fhs.set(6, "CARESYNC");
        fhs.set(7, dtm(time, offset, true, Precision::Second));
        fhs.set(9, format!("hl7_{}.txt", date_string(time.date_naive())));
        fhs.set(11, file_id.as_str());
        self.encode_segment_into(&fhs, &mut out);
        for w in cuts.windows(2) {
            let count = w[1] - w[0];
            let mut bhs = Segment::new("BHS");
            bhs.set(3, "HIS");
            bhs.set(4, comps!["GH", "2.16.840.1.113883.19.101", "ISO"]);
            bhs.set(5, "CARESYNC");
            bhs.set(6, "CARESYNC");
            bhs.set(7, dtm(time, offset, true, Precision::Second));
            bhs.set(11, self.control_id());
            bhs.set(12, file_id.as_str());
            self.encode_segment_into(&bhs, &mut out);
            for _ in 0..count {
                let kind = self.any_kind();
                let draft = self.draft(kind);
                let (segments, _) = self.complete(draft);
                self.encode_message(&segments, false, &mut out);
            }
            let mut bts = Segment::new("BTS");
            bts.set(1, count.to_string());
            self.encode_segment_into(&bts, &mut out);
        }
        let mut fts = Segment::new("FTS");
        fts.set(1, batches.to_string());
        self.encode_segment_into(&fts, &mut out);
        out
    }

    /// A realistic ADT^A01 of 2,048 bytes for benchmarks: 18 segments (MSH
    /// EVN PID PD1 NK1 NK1 PV1 PV2 OBX OBX AL1 AL1 DG1 DG1 PR1 GT1 IN1 ZPI),
    /// with repeated identifiers, names and phones, escape sequences in the
    /// location, allergy reactions and the Z-segment, and the Z-segment's
    /// note sized to make the total exactly 2,048 bytes (a little more only if
    /// the drawn values, a BOM or `\r\n` endings already exceed it).
    pub fn adt_a01_2kb(&mut self) -> Vec<u8> {
        const TARGET: usize = 2048;
        // Draw again while the values leave no room (long names, long
        // diagnoses); about half of the draws fit.
        let mut attempt = self.try_adt_a01(TARGET);
        for _ in 0..64 {
            match attempt {
                Ok(bytes) => return bytes,
                Err(_) => attempt = self.try_adt_a01(TARGET),
            }
        }
        attempt.unwrap_or_else(|too_big| too_big)
    }

    /// A compact ADT^A01 padded to `target` bytes, or `Err` with the unpadded
    /// message if it is already longer.
    fn try_adt_a01(&mut self, target: usize) -> Result<Vec<u8>, Vec<u8>> {
        self.compact = true;
        let stay = self.new_stay();
        let fac = stay.facility.clone();
        let time = stay.encounter.admit_at;
        let kind = Hl7Kind::AdtA01;
        let mut body = vec![
            self.evn(kind, time, &fac),
            self.pid(&stay, 1, 3),
            self.pd1(&stay),
            self.nk1(1, &stay.patient),
            self.nk1(2, &stay.patient),
            self.pv1(&stay, kind),
            self.pv2(&stay, kind),
        ];
        body.extend(self.vitals(&fac, time));
        body.push(self.al1(1, true));
        body.push(self.al1(2, true));
        body.push(self.dg1(1, &stay.encounter.diagnosis_code, "A", &stay, time));
        let secondary = self.pick(SECONDARY_DIAGNOSES).0;
        body.push(self.dg1(2, secondary, "W", &stay, time));
        body.push(self.pr1(1, &stay, time));
        body.push(self.gt1(&stay.patient));
        body.push(self.in1(1, &stay, "commercial"));
        // Leave out optional fields that would crowd out the note.
        const LEFT_OUT: &[(&str, &[usize])] = &[
            ("EVN", &[5, 7]),
            ("PID", &[6, 33, 34]),
            ("NK1", &[4]),
            ("PV1", &[8, 9, 16, 17]),
            ("DG1", &[16]),
            ("PR1", &[11]),
            ("OBX", &[19]),
            ("GT1", &[5, 6]),
            ("IN1", &[5, 7, 16, 18, 19]),
        ];
        for segment in &mut body {
            for (id, fields) in LEFT_OUT {
                if segment.id == *id {
                    for &n in *fields {
                        segment.clear(n);
                    }
                }
            }
        }
        let mut zpi = self.zpi(&stay.patient, true);
        let draft = Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter.clone()],
        };
        let (segments, _) = self.complete(draft);

        let mut out = Vec::new();
        self.encode_message(&segments, self.options.bom, &mut out);
        let terminator = self.terminator();
        let mut last = Vec::new();
        encode_segment(&zpi, &self.options.delimiters, false, 0, &mut last);
        let size = out.len() + last.len() + terminator.len();
        let fits = size <= target;
        if size < target {
            let note = format!("{ZPI_2KB_NOTE} {}", filler(target - size - 1));
            zpi.set(ZPI_NOTE, note);
            last.clear();
            encode_segment(&zpi, &self.options.delimiters, false, 0, &mut last);
        }
        out.extend_from_slice(&last);
        out.extend_from_slice(terminator);
        if fits { Ok(out) } else { Err(out) }
    }
}

// ---------------------------------------------------------------------------
// Message bodies.

/// A message before its MSH is written.
struct Draft {
    kind: Hl7Kind,
    facility: Facility,
    time: DateTime<Utc>,
    body: Vec<Segment>,
    patients: Vec<Patient>,
    encounters: Vec<Encounter>,
}

/// A visit the generator remembers.
#[derive(Clone, Debug)]
struct Stay {
    patient: Patient,
    encounter: Encounter,
    facility: Facility,
    location: Location,
}

#[derive(Clone, Debug)]
struct Facility {
    name: String,
    code: String,
    oid: String,
    offset: FixedOffset,
}

#[derive(Clone, Debug)]
struct Location {
    unit: &'static str,
    room: u16,
    bed: char,
    kind: &'static str,
    building: &'static str,
}

impl Hl7Generator {
    fn draft(&mut self, kind: Hl7Kind) -> Draft {
        self.compact = self.chance(0.4);
        match kind {
            Hl7Kind::AdtA01
            | Hl7Kind::AdtA04
            | Hl7Kind::AdtA05
            | Hl7Kind::AdtA08
            | Hl7Kind::AdtA13
            | Hl7Kind::AdtA28
            | Hl7Kind::AdtA31 => self.adt_full(kind),
            Hl7Kind::AdtA02 => self.adt_transfer(),
            Hl7Kind::AdtA03 => self.adt_discharge(),
            Hl7Kind::AdtA06 | Hl7Kind::AdtA07 => self.adt_class_change(kind),
            Hl7Kind::AdtA11 => self.adt_cancel_admit(),
            Hl7Kind::AdtA17 => self.adt_swap(),
            Hl7Kind::AdtA40 => self.adt_merge(),
            Hl7Kind::OruR01 => self.oru(),
            Hl7Kind::OrmO01 => self.orm(),
            Hl7Kind::OmlO21 => self.oml(),
            Hl7Kind::SiuS12 => self.siu(),
            Hl7Kind::MdmT02 => self.mdm(),
            Hl7Kind::VxuV04 => self.vxu(),
        }
    }

    /// Adds MSH and returns every segment, with the message's facts.
    fn complete(&mut self, draft: Draft) -> (Vec<Segment>, Hl7Message) {
        let sent = draft.time + Duration::milliseconds(self.rng.random_range(0..90_000));
        let (msh, control_id) = self.msh(draft.kind, &draft.facility, sent);
        let mut segments = Vec::with_capacity(draft.body.len() + 1);
        segments.push(msh);
        segments.extend(draft.body);
        let message = Hl7Message {
            kind: draft.kind,
            control_id,
            patients: draft.patients,
            encounters: draft.encounters,
            bytes: Vec::new(),
        };
        (segments, message)
    }

    /// A01, A04, A05, A08, A13 (ADT_A01/ADT_A05) and A28, A31 (person level).
    fn adt_full(&mut self, kind: Hl7Kind) -> Draft {
        let person_level = matches!(kind, Hl7Kind::AdtA28 | Hl7Kind::AdtA31);
        let stay = match kind {
            Hl7Kind::AdtA08 | Hl7Kind::AdtA13 | Hl7Kind::AdtA31 => self.existing_stay(),
            _ => self.new_stay(),
        };
        let admit = stay.encounter.admit_at;
        let time = match kind {
            Hl7Kind::AdtA05 => admit - Duration::days(self.rng.random_range(1..14)),
            Hl7Kind::AdtA08 => admit + Duration::minutes(self.rng.random_range(5..600)),
            Hl7Kind::AdtA13 => {
                stay.encounter.discharge_at.unwrap_or(admit)
                    + Duration::minutes(self.rng.random_range(10..120))
            }
            Hl7Kind::AdtA28 | Hl7Kind::AdtA31 => stay.patient.updated_at,
            _ => admit,
        };
        let fac = stay.facility.clone();
        let evn = self.evn(kind, time, &fac);
        let mut pid = self.pid(&stay, 1, 0);
        if self.options.null_fields && matches!(kind, Hl7Kind::AdtA08 | Hl7Kind::AdtA31) {
            // An update deletes the business phone and the county.
            pid.set(12, Node::Null);
            pid.set(14, Node::Null);
        }
        let mut body = vec![evn, pid];
        if self.chance(0.6) {
            body.push(self.pd1(&stay));
        }
        for i in 0..self.rng.random_range(0..=2) {
            body.push(self.nk1(i + 1, &stay.patient));
        }
        body.push(self.pv1(&stay, kind));
        if !person_level && self.chance(0.5) {
            body.push(self.pv2(&stay, kind));
        }
        if !person_level && stay.encounter.class != EncounterClass::Outpatient && self.chance(0.5) {
            body.extend(self.vitals(&fac, time));
        }
        for i in 0..self.rng.random_range(0..=3) {
            body.push(self.al1(i + 1, false));
        }
        if !person_level {
            body.push(self.dg1(1, &stay.encounter.diagnosis_code, "A", &stay, time));
            for i in 0..self.rng.random_range(0..=2) {
                let code = self.pick(SECONDARY_DIAGNOSES).0;
                body.push(self.dg1(i + 2, code, "W", &stay, time));
            }
            if stay.encounter.class == EncounterClass::Inpatient && self.chance(0.3) {
                body.push(self.pr1(1, &stay, time));
            }
        }
        if self.chance(0.4) {
            body.push(self.gt1(&stay.patient));
        }
        body.extend(self.insurance(&stay));
        body.extend(self.z_segments(&stay));
        Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: if person_level {
                Vec::new()
            } else {
                vec![stay.encounter]
            },
        }
    }

    fn adt_transfer(&mut self) -> Draft {
        let i = self.existing_index();
        let prior = self.census[i].location.clone();
        let class = self.census[i].encounter.class;
        let mut location = self.location(class);
        while location.unit == prior.unit && location.room == prior.room {
            location.room += 1;
        }
        self.census[i].location = location;
        let stay = self.census[i].clone();
        let time = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(30..2_000));
        let fac = stay.facility.clone();
        let mut pv1 = self.pv1(&stay, Hl7Kind::AdtA02);
        pv1.set(6, pl(self.compact, &prior, &fac));
        let mut body = vec![
            self.evn(Hl7Kind::AdtA02, time, &fac),
            self.pid(&stay, 1, 0),
            pv1,
        ];
        if self.chance(0.3) {
            body.push(self.pv2(&stay, Hl7Kind::AdtA02));
        }
        body.extend(self.z_segments(&stay));
        Draft {
            kind: Hl7Kind::AdtA02,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn adt_discharge(&mut self) -> Draft {
        let stay = self.existing_stay();
        let time = stay
            .encounter
            .discharge_at
            .unwrap_or(stay.encounter.admit_at + Duration::hours(20));
        let fac = stay.facility.clone();
        let kind = Hl7Kind::AdtA03;
        let mut body = vec![self.evn(kind, time, &fac), self.pid(&stay, 1, 0)];
        if self.chance(0.4) {
            body.push(self.pd1(&stay));
        }
        body.push(self.pv1(&stay, kind));
        for i in 0..self.rng.random_range(0..=2) {
            body.push(self.al1(i + 1, false));
        }
        body.push(self.dg1(1, &stay.encounter.diagnosis_code, "F", &stay, time));
        if stay.encounter.class == EncounterClass::Inpatient && self.chance(0.5) {
            body.push(self.pr1(1, &stay, time));
        }
        body.extend(self.insurance(&stay));
        body.extend(self.z_segments(&stay));
        Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn adt_class_change(&mut self, kind: Hl7Kind) -> Draft {
        let stay = self.existing_stay();
        let time = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(60..720));
        let fac = stay.facility.clone();
        let mut body = vec![self.evn(kind, time, &fac), self.pid(&stay, 1, 0)];
        // MRG-3: the account number the visit had before the change.
        let mut mrg = Segment::new("MRG");
        mrg.set(1, self.mr_cx(&stay.patient.mrn, &fac));
        mrg.set(3, format!("{}{:03}", account_number(&stay.encounter), 1));
        body.push(mrg);
        body.push(self.pv1(&stay, kind));
        body.push(self.dg1(1, &stay.encounter.diagnosis_code, "W", &stay, time));
        body.extend(self.insurance(&stay));
        Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn adt_cancel_admit(&mut self) -> Draft {
        let stay = self.existing_stay();
        let time = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(5..240));
        let fac = stay.facility.clone();
        let kind = Hl7Kind::AdtA11;
        let body = vec![
            self.evn(kind, time, &fac),
            self.pid(&stay, 1, 0),
            self.pv1(&stay, kind),
            self.dg1(1, &stay.encounter.diagnosis_code, "A", &stay, time),
        ];
        Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn adt_swap(&mut self) -> Draft {
        // Two visits at one facility swap beds. The first is taken out of the
        // census while others are admitted, so its index cannot shift.
        let a = self.existing_index();
        let mut first = self.census.remove(a);
        let same_facility = |census: &[Stay]| -> Vec<usize> {
            (0..census.len())
                .filter(|&i| census[i].encounter.facility == first.encounter.facility)
                .collect()
        };
        let mut others = same_facility(&self.census);
        while others.is_empty() {
            self.new_stay();
            others = same_facility(&self.census);
        }
        let b = self.pick(&others);
        std::mem::swap(&mut first.location, &mut self.census[b].location);
        let second = self.census[b].clone();
        self.census.push(first.clone());
        let time = first.encounter.admit_at.max(second.encounter.admit_at)
            + Duration::minutes(self.rng.random_range(30..600));
        let fac = first.facility.clone();
        let kind = Hl7Kind::AdtA17;
        let body = vec![
            self.evn(kind, time, &fac),
            self.pid(&first, 1, 0),
            self.pv1(&first, kind),
            self.pid(&second, 1, 0),
            self.pv1(&second, kind),
        ];
        Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![first.patient, second.patient],
            encounters: vec![first.encounter, second.encounter],
        }
    }

    fn adt_merge(&mut self) -> Draft {
        let stay = self.existing_stay();
        // The same person registered twice: a second record under a new MRN.
        let duplicate = self.draw_patient();
        let mut retired = stay.patient.clone();
        retired.id = duplicate.id;
        retired.mrn = duplicate.mrn;
        let time = stay.patient.updated_at + Duration::minutes(self.rng.random_range(1..10_000));
        let fac = stay.facility.clone();
        let kind = Hl7Kind::AdtA40;
        let mut body = vec![self.evn(kind, time, &fac), self.pid(&stay, 1, 0)];
        if self.chance(0.3) {
            body.push(self.pd1(&stay));
        }
        let mut mrg = Segment::new("MRG");
        mrg.set(1, self.mr_cx(&retired.mrn, &fac));
        if self.chance(0.5) {
            mrg.set(
                4,
                comps![
                    retired.id.as_str(),
                    "",
                    "",
                    hd(self.compact, "CARESYNC", CARESYNC_OID, Sep::Subcomponent),
                    "PI"
                ],
            );
        }
        mrg.set(7, self.xpn(&retired, "L"));
        body.push(mrg);
        Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone(), retired],
            encounters: Vec::new(),
        }
    }

    fn oru(&mut self) -> Draft {
        let stay = self.existing_stay();
        let collected = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(10..300));
        let resulted = collected + Duration::minutes(self.rng.random_range(20..600));
        let fac = stay.facility.clone();
        let mut body = vec![self.pid(&stay, 1, 0)];
        if self.chance(0.7) {
            body.push(self.pv1(&stay, Hl7Kind::OruR01));
        }
        let (placer, filler) = self.order_numbers();
        let ordering = self.staff_npi();
        let panel = self.pick(PANELS);
        if self.chance(0.6) {
            let mut orc = Segment::new("ORC");
            orc.set(1, "RE");
            orc.set(2, comps![placer.as_str(), "EHR"]);
            orc.set(3, comps![filler.as_str(), "LAB"]);
            orc.set(5, "CM");
            orc.set(9, self.ts(resulted, &fac));
            orc.set(12, xcn(self.compact, &ordering));
            body.push(orc);
        }
        let mut obr = self.obr(&placer, &filler, &panel, &ordering, collected, &fac);
        obr.set(22, self.ts(resulted, &fac));
        obr.set(24, "LAB");
        obr.set(25, "F");
        body.push(obr);

        let mut set_id = 0;
        let mut next = || {
            set_id += 1;
            set_id
        };
        let count = self.rng.random_range(2..=5);
        let tests: Vec<NumericTest> = NUMERIC_TESTS
            .choose_multiple(&mut self.rng, count)
            .copied()
            .collect();
        for test in tests {
            body.push(self.obx_numeric(next(), test, resulted, &fac));
        }
        let (code, name, value) = self.pick(TEXT_TESTS);
        let mut text_value = value.to_string();
        if self.options.escapes_everywhere {
            text_value = format!("{text_value}; {}", self.nasty_text());
        }
        body.push(obx(
            next(),
            "ST",
            comps![code, name, "LN"],
            Node::from(text_value),
            resulted,
            self,
            &fac,
        ));
        let (code, name, answers) = self.pick(CODED_TESTS);
        let (answer_code, answer) = self.pick(answers);
        body.push(obx(
            next(),
            "CWE",
            comps![code, name, "LN"],
            comps![answer_code, answer, "SCT"],
            resulted,
            self,
            &fac,
        ));
        let interpretation = self.narrative(INTERPRETATION_LINES, 2..=4);
        body.push(obx(
            next(),
            "TX",
            comps![
                "48767-8",
                "Annotation comment [Interpretation] Narrative",
                "LN"
            ],
            interpretation,
            resulted,
            self,
            &fac,
        ));
        if self.chance(0.4) {
            let mut nte = Segment::new("NTE");
            nte.set(1, "1");
            nte.set(2, "L");
            nte.set(3, self.free_text());
            body.push(nte);
        }
        let payload = self.pdf_base64();
        body.push(obx(
            next(),
            "ED",
            comps!["11502-2", "Laboratory report", "LN"],
            comps!["LAB", "AP", "PDF", "Base64", payload],
            resulted,
            self,
            &fac,
        ));
        if self.chance(0.5) {
            body.push(self.spm(&filler, collected, &fac));
        }
        Draft {
            kind: Hl7Kind::OruR01,
            facility: fac,
            time: resulted,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn orm(&mut self) -> Draft {
        let stay = self.existing_stay();
        let time = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(5..240));
        let fac = stay.facility.clone();
        let mut body = vec![self.pid(&stay, 1, 0), self.pv1(&stay, Hl7Kind::OrmO01)];
        if self.chance(0.4) {
            body.extend(self.insurance(&stay));
        }
        let (placer, _) = self.order_numbers();
        let ordering = stay.encounter.attending_npi.clone();
        let panel = self.pick(PANELS);
        body.push(self.orc_new(&placer, &ordering, time, &fac));
        let mut obr = self.obr(&placer, "", &panel, &ordering, time, &fac);
        obr.set(27, comps!["1", "", "", self.ts(time, &fac), "", "R"]);
        body.push(obr);
        if self.chance(0.5) {
            let mut nte = Segment::new("NTE");
            nte.set(1, "1");
            nte.set(2, "P");
            nte.set(3, self.free_text());
            body.push(nte);
        }
        body.push(self.dg1(1, &stay.encounter.diagnosis_code, "W", &stay, time));
        Draft {
            kind: Hl7Kind::OrmO01,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn oml(&mut self) -> Draft {
        let stay = self.existing_stay();
        let time = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(5..240));
        let fac = stay.facility.clone();
        let mut body = vec![self.pid(&stay, 1, 0), self.pv1(&stay, Hl7Kind::OmlO21)];
        if self.chance(0.5) {
            body.extend(self.insurance(&stay));
        }
        let (placer, filler) = self.order_numbers();
        let ordering = stay.encounter.attending_npi.clone();
        body.push(self.orc_new(&placer, &ordering, time, &fac));
        let mut tq1 = Segment::new("TQ1");
        tq1.set(1, "1");
        tq1.set(7, self.ts(time, &fac));
        let (priority, priority_name) = self.pick(&[("R", "Routine"), ("S", "Stat")]);
        tq1.set(9, comps![priority, priority_name, "HL70485"]);
        body.push(tq1);
        let panel = self.pick(PANELS);
        body.push(self.obr(&placer, "", &panel, &ordering, time, &fac));
        body.push(self.dg1(1, &stay.encounter.diagnosis_code, "W", &stay, time));
        body.push(self.spm(&filler, time, &fac));
        Draft {
            kind: Hl7Kind::OmlO21,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn siu(&mut self) -> Draft {
        let stay = self.existing_stay();
        let booked = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(30..600));
        let start_day = booked + Duration::days(self.rng.random_range(3..60));
        let start = start_day
            .with_hour(self.rng.random_range(8..17))
            .and_then(|t| t.with_minute(self.pick(&[0u32, 15, 30, 45])))
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .expect("a valid time of day");
        let minutes: i64 = self.pick(&[15, 20, 30, 45, 60]);
        let end = start + Duration::minutes(minutes);
        let fac = stay.facility.clone();
        let provider = stay.encounter.attending_npi.clone();
        let appointment = self.rng.random_range(10_000_000u64..99_999_999).to_string();
        let (reason_code, reason) = self.pick(APPOINTMENT_REASONS);
        let mut sch = Segment::new("SCH");
        sch.set(1, comps![format!("P{appointment}"), "EHR"]);
        sch.set(2, comps![appointment.as_str(), "SCHED"]);
        sch.set(6, comps!["", "New appointment"]);
        sch.set(7, comps![reason_code, reason, "HL70276"]);
        sch.set(8, comps!["NORMAL", "Routine schedule", "HL70277"]);
        sch.set(9, minutes.to_string());
        sch.set(10, "min");
        sch.set(
            11,
            comps![
                "",
                "",
                minutes.to_string(),
                self.ts(start, &fac),
                self.ts(end, &fac)
            ],
        );
        sch.set(16, xcn(self.compact, &provider));
        sch.set(20, xcn(self.compact, &self.staff_npi()));
        sch.set(25, comps!["Booked", "Booked", "HL70278"]);
        let mut body = vec![sch];
        if self.chance(0.4) {
            let mut nte = Segment::new("NTE");
            nte.set(1, "1");
            nte.set(3, self.free_text());
            body.push(nte);
        }
        body.push(self.pid(&stay, 1, 0));
        if self.chance(0.5) {
            body.push(self.pv1(&stay, Hl7Kind::SiuS12));
        }
        let mut rgs = Segment::new("RGS");
        rgs.set(1, "1");
        rgs.set(2, "A");
        body.push(rgs);
        let mut ais = Segment::new("AIS");
        ais.set(1, "1");
        ais.set(2, "A");
        ais.set(3, comps![reason_code, reason, "L"]);
        ais.set(4, self.ts(start, &fac));
        ais.set(7, minutes.to_string());
        ais.set(8, comps!["min", "minutes", "UCUM"]);
        body.push(ais);
        let clinic = Location {
            unit: "CLIN",
            room: self.rng.random_range(1..40),
            bed: ' ',
            kind: "C",
            building: "MOB",
        };
        let mut ail = Segment::new("AIL");
        ail.set(1, "1");
        ail.set(2, "A");
        ail.set(3, pl(self.compact, &clinic, &fac));
        ail.set(6, self.ts(start, &fac));
        ail.set(9, minutes.to_string());
        ail.set(10, comps!["min", "minutes", "UCUM"]);
        body.push(ail);
        let mut aip = Segment::new("AIP");
        aip.set(1, "1");
        aip.set(2, "A");
        aip.set(3, xcn(self.compact, &provider));
        aip.set(4, comps!["PP", "Primary Provider", "HL70443"]);
        aip.set(6, self.ts(start, &fac));
        aip.set(9, minutes.to_string());
        aip.set(10, comps!["min", "minutes", "UCUM"]);
        body.push(aip);
        Draft {
            kind: Hl7Kind::SiuS12,
            facility: fac,
            time: booked,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn mdm(&mut self) -> Draft {
        let stay = self.existing_stay();
        let time = stay
            .encounter
            .discharge_at
            .unwrap_or(stay.encounter.admit_at)
            + Duration::minutes(self.rng.random_range(10..1_440));
        let fac = stay.facility.clone();
        let kind = Hl7Kind::MdmT02;
        let author = stay.encounter.attending_npi.clone();
        let (doc_code, doc_name, loinc, loinc_name) = self.pick(DOCUMENT_TYPES);
        let mut body = vec![
            self.evn(kind, time, &fac),
            self.pid(&stay, 1, 0),
            self.pv1(&stay, kind),
        ];
        let mut txa = Segment::new("TXA");
        txa.set(1, "1");
        txa.set(2, comps![doc_code, doc_name, "HL70270"]);
        txa.set(3, "TX");
        txa.set(4, self.ts(time, &fac));
        txa.set(5, xcn(self.compact, &author));
        txa.set(6, self.ts(time - Duration::minutes(30), &fac));
        txa.set(7, self.ts(time - Duration::minutes(5), &fac));
        txa.set(9, xcn(self.compact, &author));
        let document = format!("DOC{}", self.rng.random_range(1_000_000u64..9_999_999));
        txa.set(12, comps![document.as_str(), "TRANSCRIBE"]);
        txa.set(17, "AU");
        txa.set(19, "AV");
        body.push(txa);
        let ident = comps![loinc, loinc_name, "LN"];
        let paragraphs = self.rng.random_range(1..=3);
        for i in 0..paragraphs {
            let text = self.narrative(NOTE_LINES, 3..=6);
            let mut seg = obx(i + 1, "TX", ident.clone(), text, time, self, &fac);
            seg.set(4, (i + 1).to_string());
            body.push(seg);
        }
        Draft {
            kind,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }

    fn vxu(&mut self) -> Draft {
        let stay = self.existing_stay();
        let time = stay.encounter.admit_at + Duration::minutes(self.rng.random_range(5..120));
        let fac = stay.facility.clone();
        let mut body = vec![self.pid(&stay, 1, 0)];
        if self.chance(0.5) {
            body.push(self.pd1(&stay));
        }
        if self.chance(0.4) {
            body.push(self.nk1(1, &stay.patient));
        }
        let (placer, _) = self.order_numbers();
        let mut orc = Segment::new("ORC");
        orc.set(1, "RE");
        orc.set(2, comps![placer.as_str(), "EHR"]);
        orc.set(3, comps![format!("IZ{placer}"), "EHR"]);
        orc.set(12, xcn(self.compact, &stay.encounter.attending_npi));
        body.push(orc);
        let (cvx, vaccine, mvx, maker, dose) = self.pick(VACCINES);
        let administrator = self.staff_npi();
        let mut rxa = Segment::new("RXA");
        rxa.set(1, "0");
        rxa.set(2, "1");
        rxa.set(3, self.ts(time, &fac));
        rxa.set(4, self.ts(time, &fac));
        rxa.set(5, comps![cvx, vaccine, "CVX"]);
        rxa.set(6, dose);
        rxa.set(7, comps!["mL", "milliliter", "UCUM"]);
        rxa.set(9, comps!["00", "New immunization record", "NIP001"]);
        rxa.set(10, xcn(self.compact, &administrator));
        rxa.set(11, comps!["", "", "", fac.code.as_str()]);
        let lot: String = (0..7)
            .map(|i| {
                if i < 2 {
                    char::from(b'A' + self.rng.random_range(0..26u8))
                } else {
                    char::from(b'0' + self.rng.random_range(0..10u8))
                }
            })
            .collect();
        rxa.set(15, lot);
        let expires = time.date_naive() + Duration::days(self.rng.random_range(90..700));
        rxa.set(16, date_string(expires));
        rxa.set(17, comps![mvx, maker, "MVX"]);
        rxa.set(20, "CP");
        rxa.set(21, "A");
        body.push(rxa);
        let mut rxr = Segment::new("RXR");
        rxr.set(1, comps!["C28161", "Intramuscular", "NCIT"]);
        let (site, site_name) = self.pick(&[("LD", "Left Deltoid"), ("RD", "Right Deltoid")]);
        rxr.set(2, comps![site, site_name, "HL70163"]);
        body.push(rxr);
        let mut eligibility = obx(
            1,
            "CWE",
            comps![
                "64994-7",
                "Vaccine funding program eligibility category",
                "LN"
            ],
            comps!["V01", "Not VFC eligible", "HL70064"],
            time,
            self,
            &fac,
        );
        eligibility.set(4, "1");
        eligibility.set(
            17,
            comps![
                "VXC40",
                "Eligibility captured at the immunization level",
                "CDCPHINVS"
            ],
        );
        body.push(eligibility);
        Draft {
            kind: Hl7Kind::VxuV04,
            facility: fac,
            time,
            body,
            patients: vec![stay.patient.clone()],
            encounters: vec![stay.encounter],
        }
    }
}

// ---------------------------------------------------------------------------
// Segments.

/// ZPI field holding the free-text note (padded by `adt_a01_2kb`).
const ZPI_NOTE: usize = 8;
/// A note that needs escaping with the standard delimiters.
const ZPI_2KB_NOTE: &str = "Prefers AM visits & text reminders | no calls ^ weekends";
const CARESYNC_OID: &str = "2.16.840.1.113883.19.1";
const SSA_OID: &str = "2.16.840.1.113883.4.1";
const NPI_OID: &str = "2.16.840.1.113883.4.6";
const PAYER_OID: &str = "2.16.840.1.113883.19.3";

impl Hl7Generator {
    fn msh(&mut self, kind: Hl7Kind, fac: &Facility, time: DateTime<Utc>) -> (Segment, String) {
        let control_id = self.control_id();
        let (sending, receiving) = match kind.message_code() {
            "ADT" => (self.pick(&["HIS", "ADT1", "REGADT"]), "CARESYNC"),
            "ORU" => (self.pick(&["LIS", "LABSYS"]), "CARESYNC"),
            "ORM" | "OML" => (self.pick(&["EHR", "CPOE"]), "LIS"),
            "SIU" => ("SCHED", "CARESYNC"),
            "MDM" => ("TRANSCRIBE", "CARESYNC"),
            _ => ("EHR", "IIS"),
        };
        let mut msh = Segment::new("MSH");
        if self.chance(0.3) {
            msh.set(3, comps![sending, format!("{}.10", fac.oid), "ISO"]);
        } else {
            msh.set(3, sending);
        }
        msh.set(4, hd(self.compact, &fac.code, &fac.oid, Sep::Component));
        msh.set(5, receiving);
        msh.set(
            6,
            hd(self.compact, "CARESYNC", CARESYNC_OID, Sep::Component),
        );
        let precision = self.pick(&[
            Precision::Minute,
            Precision::Second,
            Precision::Second,
            Precision::Second,
            Precision::Fraction(1),
            Precision::Fraction(3),
            Precision::Fraction(4),
        ]);
        // Mostly local time with its offset, sometimes UTC, sometimes local
        // time without an offset.
        let (offset, show) = match self.rng.random_range(0..20) {
            0..15 => (fac.offset, true),
            15..17 => (Utc.fix(), true),
            _ => (fac.offset, false),
        };
        msh.set(7, dtm(time, offset, show, precision));
        let (code, event, structure) = kind.parts();
        if self.chance(0.85) {
            msh.set(9, comps![code, event, structure]);
        } else {
            msh.set(9, comps![code, event]);
        }
        msh.set(10, control_id.as_str());
        msh.set(11, if self.chance(0.9) { "P" } else { "T" });
        msh.set(12, "2.5.1");
        if self.chance(0.4) {
            msh.set(15, "AL");
            msh.set(16, "NE");
        }
        if self.chance(0.5) {
            msh.set(17, "USA");
        }
        if self.options.unicode {
            msh.set(18, "UNICODE UTF-8");
        }
        if kind == Hl7Kind::VxuV04 {
            msh.set(21, comps!["Z22", "CDCPHINVS"]);
        }
        (msh, control_id)
    }

    fn evn(&mut self, kind: Hl7Kind, time: DateTime<Utc>, fac: &Facility) -> Segment {
        let mut evn = Segment::new("EVN");
        if self.chance(0.7) {
            evn.set(1, kind.trigger_event());
        }
        evn.set(2, self.ts(time + Duration::seconds(5), fac));
        if self.chance(0.5) {
            let operator = self.rng.random_range(1_000..9_999);
            let clerk = self.draw_patient();
            evn.set(
                5,
                comps![
                    format!("OP{operator}"),
                    clerk.family.as_str(),
                    clerk.given.as_str()
                ],
            );
        }
        evn.set(6, self.ts(time, fac));
        if self.chance(0.5) {
            evn.set(7, hd(self.compact, &fac.code, &fac.oid, Sep::Component));
        }
        evn
    }

    /// PID with at least `min_ids` identifiers in PID-3.
    fn pid(&mut self, stay: &Stay, set_id: usize, min_ids: usize) -> Segment {
        let p = &stay.patient;
        let fac = &stay.facility;
        let repeated = self.options.repeated_identifiers;
        let mut pid = Segment::new("PID");
        pid.set(1, set_id.to_string());

        let mut ids = vec![self.mr_cx(&p.mrn, fac)];
        if self.chance(0.7) || min_ids >= 2 || repeated {
            ids.push(comps![
                p.ssn.replace('-', ""),
                "",
                "",
                hd(self.compact, "USSSA", SSA_OID, Sep::Subcomponent),
                "SS"
            ]);
        }
        if self.chance(0.5) || min_ids >= 3 || repeated {
            ids.push(comps![
                p.id.as_str(),
                "",
                "",
                hd(self.compact, "CARESYNC", CARESYNC_OID, Sep::Subcomponent),
                "PI"
            ]);
        }
        if repeated {
            for _ in 0..self.rng.random_range(1..=4) {
                let other = facility(self.pick(OTHER_FACILITIES));
                ids.push(comps![
                    format!("{:08}", self.rng.random_range(0..100_000_000u64)),
                    "",
                    "",
                    hd(self.compact, &other.code, &other.oid, Sep::Subcomponent),
                    "MR",
                    other.code.as_str()
                ]);
            }
            ids.push(comps![
                format!("S{:08}", self.rng.random_range(0..100_000_000u64)),
                "",
                "",
                hd(
                    self.compact,
                    &p.address.state,
                    "2.16.840.1.113883.19.2",
                    Sep::Subcomponent
                ),
                "DL"
            ]);
            ids.push(comps![
                format!("XYZ{:09}", self.rng.random_range(0..1_000_000_000u64)),
                "",
                "",
                hd(self.compact, "PAYER", PAYER_OID, Sep::Subcomponent),
                "MB"
            ]);
            if self.chance(0.5) {
                // Some feeds send the same identifier twice.
                ids.push(self.mr_cx(&p.mrn, fac));
            }
        }
        pid.set(3, reps(ids));

        let mut names = vec![self.xpn(p, "L")];
        if repeated || self.chance(0.1) {
            let alias = nickname(&p.given);
            names.push(comps![p.family.as_str(), alias, "", "", "", "", "A"]);
            if p.sex == Sex::Female {
                let maiden = self.draw_patient().family;
                names.push(comps![maiden, p.given.as_str(), "", "", "", "", "M"]);
            }
        }
        pid.set(5, reps(names));
        if self.chance(0.3) {
            let mother = self.draw_patient();
            pid.set(6, comps![mother.family, mother.given, "", "", "", "", "M"]);
        }
        pid.set(7, date_string(p.birth_date));
        pid.set(8, p.sex.hl7_code());
        let (race, race_name) = self.pick(RACES);
        pid.set(10, comps![race, race_name, "CDCREC"]);

        let mut addresses = vec![self.xad(p)];
        if repeated {
            addresses.push(comps![
                format!("PO Box {}", self.rng.random_range(1..9_999)),
                "",
                p.address.city.as_str(),
                p.address.state.as_str(),
                p.address.zip.as_str(),
                "USA",
                "M"
            ]);
        }
        pid.set(11, reps(addresses));
        let county = self.optional(Node::from(""));
        pid.set(12, county);

        let (area, local) = split_phone(&p.phone);
        let mut phones = vec![comps![
            p.phone.as_str(),
            "PRN",
            "PH",
            "",
            "1",
            area.as_str(),
            local.as_str()
        ]];
        if repeated || self.chance(0.3) {
            phones.push(comps!["", "NET", "Internet", email(p)]);
        }
        if repeated {
            phones.push(comps![
                "",
                "PRN",
                "CP",
                "",
                "1",
                area.as_str(),
                format!("555{:04}", self.rng.random_range(100..200))
            ]);
        }
        pid.set(13, reps(phones));
        let work = self.optional(Node::from(""));
        pid.set(14, work);
        let (lang, lang_name) = self.pick(LANGUAGES);
        pid.set(15, comps![lang, lang_name, "ISO639"]);
        let (marital, marital_name) = self.pick(MARITAL);
        let marital = self.optional(comps![marital, marital_name, "HL70002"]);
        pid.set(16, marital);
        pid.set(
            18,
            comps![
                account_number(&stay.encounter),
                "",
                "",
                hd(self.compact, &fac.code, &fac.oid, Sep::Subcomponent),
                "AN"
            ],
        );
        let (ethnic, ethnic_name) = self.pick(ETHNICITIES);
        pid.set(22, comps![ethnic, ethnic_name, "CDCREC"]);
        if self.chance(0.3) {
            pid.set(30, "N");
        }
        if self.chance(0.5) {
            pid.set(33, self.ts(p.updated_at, fac));
            pid.set(34, hd(self.compact, &fac.code, &fac.oid, Sep::Component));
        }
        pid
    }

    fn pd1(&mut self, stay: &Stay) -> Segment {
        let fac = &stay.facility;
        let mut pd1 = Segment::new("PD1");
        pd1.set(
            3,
            comps![
                fac.name.as_str(),
                "L",
                "",
                "",
                "",
                hd(self.compact, &fac.code, &fac.oid, Sep::Subcomponent),
                "XX",
                "",
                "",
                fac.code.as_str()
            ],
        );
        pd1.set(4, xcn(self.compact, &self.staff_npi()));
        let protection = self.optional(Node::from("N"));
        pd1.set(12, protection);
        pd1
    }

    fn nk1(&mut self, set_id: usize, patient: &Patient) -> Segment {
        let mut kin = self.draw_patient();
        let (relation, relation_name) = self.pick(RELATIONS);
        if matches!(relation, "SPO" | "CHD" | "FTH" | "MTH") && self.chance(0.7) {
            kin.family = patient.family.clone();
        }
        let mut nk1 = Segment::new("NK1");
        nk1.set(1, set_id.to_string());
        nk1.set(2, self.xpn(&kin, "L"));
        nk1.set(3, comps![relation, relation_name, "HL70063"]);
        nk1.set(4, self.xad(&kin));
        let (area, local) = split_phone(&kin.phone);
        let phone = self.optional(comps![
            kin.phone.as_str(),
            "PRN",
            "PH",
            "",
            "1",
            area,
            local
        ]);
        nk1.set(5, phone);
        let (role, role_name) = self.pick(&[("EC", "Emergency Contact"), ("N", "Next-of-Kin")]);
        nk1.set(7, comps![role, role_name, "HL70131"]);
        nk1
    }

    fn pv1(&mut self, stay: &Stay, kind: Hl7Kind) -> Segment {
        let e = &stay.encounter;
        let fac = &stay.facility;
        let mut pv1 = Segment::new("PV1");
        pv1.set(1, "1");
        let class = match kind {
            Hl7Kind::AdtA05 => "P",
            Hl7Kind::AdtA28 | Hl7Kind::AdtA31 => "N",
            Hl7Kind::AdtA06 => "I",
            Hl7Kind::AdtA07 => "O",
            _ => e.class.hl7_code(),
        };
        pv1.set(2, class);
        if class == "N" {
            return pv1;
        }
        pv1.set(3, pl(self.compact, &stay.location, fac));
        let admission = match e.class {
            EncounterClass::Emergency => "E",
            EncounterClass::Inpatient => self.pick(&["EL", "U", "R"]),
            EncounterClass::Outpatient => "R",
        };
        pv1.set(4, admission);
        let mut attending = vec![xcn(self.compact, &e.attending_npi)];
        if self.options.repeated_identifiers {
            attending.push(xcn(self.compact, &self.staff_npi()));
        }
        pv1.set(7, reps(attending));
        let referring = xcn(self.compact, &self.staff_npi());
        let referring = self.optional(referring);
        pv1.set(8, referring);
        if self.chance(0.3) {
            pv1.set(9, xcn(self.compact, &self.staff_npi()));
        }
        let service = match (e.class, stay.location.unit) {
            (_, "L&D") => "OBS",
            (EncounterClass::Emergency, _) => "EM",
            (EncounterClass::Outpatient, _) => "AMB",
            (EncounterClass::Inpatient, _) => self.pick(&["MED", "SUR", "CAR", "ONC"]),
        };
        pv1.set(10, service);
        pv1.set(
            14,
            if e.class == EncounterClass::Emergency {
                "7"
            } else {
                "1"
            },
        );
        if self.chance(0.05) {
            pv1.set(16, "Y");
        }
        pv1.set(17, xcn(self.compact, &e.attending_npi));
        pv1.set(
            19,
            comps![
                e.id.as_str(),
                "",
                "",
                hd(self.compact, &fac.code, &fac.oid, Sep::Subcomponent),
                "VN"
            ],
        );
        pv1.set(20, financial_class(&e.payer_class));
        let discharged = matches!(kind, Hl7Kind::AdtA03)
            || (kind == Hl7Kind::AdtA08 && e.discharge_at.is_some() && self.chance(0.5));
        if discharged {
            pv1.set(36, self.pick(&["01", "01", "03", "06"]));
        }
        pv1.set(39, fac.code.as_str());
        pv1.set(44, self.ts(e.admit_at, fac));
        if discharged {
            let at = e.discharge_at.unwrap_or(e.admit_at + Duration::hours(20));
            pv1.set(45, self.ts(at, fac));
        }
        if self.chance(0.3) {
            pv1.set(51, "V");
        }
        pv1
    }

    fn pv2(&mut self, stay: &Stay, kind: Hl7Kind) -> Segment {
        let mut pv2 = Segment::new("PV2");
        let reason = diagnosis_name(&stay.encounter.diagnosis_code);
        pv2.set(3, comps!["", reason]);
        if kind == Hl7Kind::AdtA05 {
            pv2.set(8, self.ts(stay.encounter.admit_at, &stay.facility));
        }
        if self.chance(0.5) {
            let note = self.free_text();
            pv2.set(12, note);
        }
        pv2
    }

    /// Height and weight observations.
    fn vitals(&mut self, fac: &Facility, time: DateTime<Utc>) -> Vec<Segment> {
        let height = self.rng.random_range(150..195).to_string();
        let weight = format!("{:.1}", self.rng.random_range(450..1_200) as f64 / 10.0);
        vec![
            obx(
                1,
                "NM",
                comps!["8302-2", "Body height", "LN"],
                Node::from(height),
                time,
                self,
                fac,
            )
            .with(6, comps!["cm", "centimeter", "UCUM"]),
            obx(
                2,
                "NM",
                comps!["29463-7", "Body weight", "LN"],
                Node::from(weight),
                time,
                self,
                fac,
            )
            .with(6, comps!["kg", "kilogram", "UCUM"]),
        ]
    }

    fn al1(&mut self, set_id: usize, escaped: bool) -> Segment {
        let (kind, kind_name, code, name, system) = self.pick(ALLERGENS);
        let mut al1 = Segment::new("AL1");
        al1.set(1, set_id.to_string());
        al1.set(2, comps![kind, kind_name, "HL70127"]);
        al1.set(3, comps![code, name, system]);
        let (severity, severity_name) =
            self.pick(&[("SV", "Severe"), ("MO", "Moderate"), ("MI", "Mild")]);
        al1.set(4, comps![severity, severity_name, "HL70128"]);
        let count = self.rng.random_range(1..=2);
        let mut reactions: Vec<Node> = REACTIONS
            .choose_multiple(&mut self.rng, count)
            .map(|&r| Node::from(r))
            .collect();
        if escaped || self.options.escapes_everywhere {
            reactions.push(Node::from("Hives & itching"));
        }
        al1.set(5, reps(reactions));
        if self.chance(0.5) {
            let year = self.rng.random_range(1990..2024);
            al1.set(6, format!("{year}0101"));
        }
        al1
    }

    fn dg1(
        &mut self,
        set_id: usize,
        code: &str,
        kind: &str,
        stay: &Stay,
        time: DateTime<Utc>,
    ) -> Segment {
        let mut dg1 = Segment::new("DG1");
        dg1.set(1, set_id.to_string());
        dg1.set(3, comps![code, diagnosis_name(code), "I10C"]);
        dg1.set(5, self.ts(time, &stay.facility));
        dg1.set(6, kind);
        dg1.set(15, set_id.to_string());
        if self.chance(0.4) {
            dg1.set(16, xcn(self.compact, &stay.encounter.attending_npi));
        }
        dg1
    }

    fn pr1(&mut self, set_id: usize, stay: &Stay, time: DateTime<Utc>) -> Segment {
        let (code, name, system) = self.pick(PROCEDURES);
        let mut pr1 = Segment::new("PR1");
        pr1.set(1, set_id.to_string());
        pr1.set(3, comps![code, name, system]);
        let done = time + Duration::hours(self.rng.random_range(1..30));
        pr1.set(5, self.ts(done, &stay.facility));
        pr1.set(6, "P");
        pr1.set(7, self.rng.random_range(20..240).to_string());
        pr1.set(11, xcn(self.compact, &stay.encounter.attending_npi));
        pr1
    }

    fn gt1(&mut self, patient: &Patient) -> Segment {
        let mut gt1 = Segment::new("GT1");
        gt1.set(1, "1");
        gt1.set(
            2,
            comps![format!("G{:07}", self.rng.random_range(0..10_000_000u32))],
        );
        gt1.set(3, self.xpn(patient, "L"));
        gt1.set(5, self.xad(patient));
        let (area, local) = split_phone(&patient.phone);
        gt1.set(
            6,
            comps![patient.phone.as_str(), "PRN", "PH", "", "1", area, local],
        );
        gt1.set(8, date_string(patient.birth_date));
        gt1.set(9, patient.sex.hl7_code());
        gt1.set(11, comps!["SEL", "Self", "HL70063"]);
        gt1
    }

    /// IN1 segments for the encounter's payer (none for self-pay).
    fn insurance(&mut self, stay: &Stay) -> Vec<Segment> {
        let payer = stay.encounter.payer_class.as_str();
        if payer == "self-pay" {
            return Vec::new();
        }
        let mut out = vec![self.in1(1, stay, payer)];
        if payer == "medicare" && self.chance(0.4) {
            out.push(self.in1(2, stay, "commercial"));
        }
        out
    }

    fn in1(&mut self, set_id: usize, stay: &Stay, payer: &str) -> Segment {
        let p = &stay.patient;
        let (plan, company, plan_type) = match payer {
            "medicare" => ("MCR-A", "Medicare Part A", "MC"),
            "medicaid" => ("MCD", "State Medicaid", "MA"),
            "tricare" => ("TRI", "TRICARE", "CH"),
            _ => self.pick(&[
                ("CHP-PPO", "Commonwealth Health Plan", "PPO"),
                ("LMI-HMO", "Lakeside Mutual Insurance", "HMO"),
                ("SUM-EPO", "Summit Health Alliance", "EPO"),
            ]),
        };
        let mut in1 = Segment::new("IN1");
        in1.set(1, set_id.to_string());
        in1.set(2, comps![plan, company, "L"]);
        let company_id = plan.split('-').next().unwrap_or(plan);
        in1.set(
            3,
            comps![
                company_id,
                "",
                "",
                hd(self.compact, "PAYER", PAYER_OID, Sep::Subcomponent),
                "NIIP"
            ],
        );
        in1.set(4, comps![company, "L"]);
        in1.set(
            5,
            comps!["PO Box 1000", "", "Hartford", "CT", "06101", "USA", "B"],
        );
        in1.set(7, comps!["", "WPN", "PH", "", "1", "800", "5550199"]);
        let group = format!("GRP{:05}", self.rng.random_range(0..100_000u32));
        let group = self.optional(Node::from(group));
        in1.set(8, group);
        in1.set(
            12,
            date_string(p.updated_at.date_naive() - Duration::days(365)),
        );
        in1.set(15, plan_type);
        in1.set(16, self.xpn(p, "L"));
        in1.set(17, comps!["SEL", "Self", "HL70063"]);
        in1.set(18, date_string(p.birth_date));
        in1.set(19, self.xad(p));
        in1.set(22, set_id.to_string());
        in1.set(
            36,
            format!("XYZ{:09}", self.rng.random_range(0..1_000_000_000u64)),
        );
        in1
    }

    fn z_segments(&mut self, stay: &Stay) -> Vec<Segment> {
        let mut out = Vec::new();
        if self.chance(0.5) {
            out.push(self.zpi(&stay.patient, false));
        }
        if self.chance(0.4) {
            let mut zvs = Segment::new("ZVS");
            zvs.set(1, "1");
            zvs.set(2, diagnosis_name(&stay.encounter.diagnosis_code));
            zvs.set(
                3,
                self.pick(&["Walk-in", "Ambulance", "Private vehicle", "Transfer"]),
            );
            zvs.set(4, self.rng.random_range(1..=5).to_string());
            zvs.set(5, self.free_text());
            out.push(zvs);
        }
        out
    }

    /// A site-defined patient-information Z-segment; `escaped` forces a note
    /// with delimiter characters.
    fn zpi(&mut self, patient: &Patient, escaped: bool) -> Segment {
        let mut zpi = Segment::new("ZPI");
        zpi.set(1, "1");
        let pronouns = match patient.sex {
            Sex::Female => "she/her",
            Sex::Male => "he/him",
            _ => "they/them",
        };
        zpi.set(2, pronouns);
        zpi.set(3, patient.given.as_str());
        zpi.set(4, if self.chance(0.1) { "Y" } else { "N" });
        zpi.set(5, if self.chance(0.05) { "VIP" } else { "" });
        zpi.set(6, comps!["AD", "Advance directive on file", "L"]);
        let portal = self.optional(Node::from("ACTIVE"));
        zpi.set(7, portal);
        let note = if escaped {
            Node::from(ZPI_2KB_NOTE)
        } else {
            Node::from(self.free_text())
        };
        zpi.set(ZPI_NOTE, note);
        zpi
    }

    fn orc_new(
        &mut self,
        placer: &str,
        ordering: &str,
        time: DateTime<Utc>,
        fac: &Facility,
    ) -> Segment {
        let mut orc = Segment::new("ORC");
        orc.set(1, "NW");
        orc.set(2, comps![placer, "EHR"]);
        orc.set(5, "SC");
        orc.set(9, self.ts(time, fac));
        orc.set(10, xcn(self.compact, &self.staff_npi()));
        orc.set(12, xcn(self.compact, ordering));
        orc.set(
            21,
            comps![
                fac.name.as_str(),
                "L",
                "",
                "",
                "",
                hd(self.compact, &fac.code, &fac.oid, Sep::Subcomponent),
                "XX",
                "",
                "",
                fac.code.as_str()
            ],
        );
        orc
    }

    fn obr(
        &mut self,
        placer: &str,
        filler: &str,
        panel: &(&str, &str),
        ordering: &str,
        time: DateTime<Utc>,
        fac: &Facility,
    ) -> Segment {
        let mut obr = Segment::new("OBR");
        obr.set(1, "1");
        obr.set(2, comps![placer, "EHR"]);
        if !filler.is_empty() {
            obr.set(3, comps![filler, "LAB"]);
        }
        obr.set(4, comps![panel.0, panel.1, "LN"]);
        obr.set(7, self.ts(time, fac));
        if self.chance(0.3) {
            obr.set(13, self.free_text());
        }
        obr.set(16, xcn(self.compact, ordering));
        obr
    }

    fn obx_numeric(
        &mut self,
        set_id: usize,
        test: NumericTest,
        time: DateTime<Utc>,
        fac: &Facility,
    ) -> Segment {
        let span = test.high - test.low;
        let value = test.low - span * 0.3 + self.rng.random::<f64>() * span * 1.6;
        let flag = if value < test.low {
            "L"
        } else if value > test.high {
            "H"
        } else {
            "N"
        };
        let digits = usize::from(test.decimals);
        let mut seg = obx(
            set_id,
            "NM",
            comps![test.code, test.name, "LN"],
            Node::from(format!("{value:.digits$}")),
            time,
            self,
            fac,
        );
        seg.set(6, comps![test.unit, test.unit, "UCUM"]);
        seg.set(
            7,
            format!(
                "{:.digits$}-{:.digits$}",
                test.low,
                test.high,
                digits = digits
            ),
        );
        seg.set(8, flag);
        seg
    }

    fn spm(&mut self, filler: &str, collected: DateTime<Utc>, fac: &Facility) -> Segment {
        let (code, name) = self.pick(&[
            ("119297000", "Blood specimen"),
            ("119364003", "Serum specimen"),
            ("122575003", "Urine specimen"),
        ]);
        let mut spm = Segment::new("SPM");
        spm.set(1, "1");
        spm.set(
            2,
            comps![
                "",
                subs![format!("S{filler}"), "LAB", fac.oid.as_str(), "ISO"]
            ],
        );
        spm.set(4, comps![code, name, "SCT"]);
        spm.set(17, comps![self.ts(collected, fac)]);
        let received = collected + Duration::minutes(self.rng.random_range(10..90));
        spm.set(18, self.ts(received, fac));
        spm
    }
}

/// OBX with the usual fields around a value; takes the generator last so the
/// value may be computed from it first.
fn obx(
    set_id: usize,
    value_type: &str,
    identifier: Node,
    value: Node,
    time: DateTime<Utc>,
    g: &mut Hl7Generator,
    fac: &Facility,
) -> Segment {
    let mut obx = Segment::new("OBX");
    obx.set(1, set_id.to_string());
    obx.set(2, value_type);
    obx.set(3, identifier);
    obx.set(5, value);
    obx.set(11, "F");
    obx.set(14, g.ts(time, fac));
    if g.chance(0.3) {
        obx.set(19, g.ts(time, fac));
    }
    obx
}

// ---------------------------------------------------------------------------
// Data types and values.

impl Hl7Generator {
    fn mr_cx(&self, mrn: &str, fac: &Facility) -> Node {
        comps![
            mrn,
            "",
            "",
            hd(self.compact, &fac.code, &fac.oid, Sep::Subcomponent),
            "MR",
            fac.code.as_str()
        ]
    }

    fn xpn(&self, p: &Patient, name_type: &str) -> Node {
        comps![
            p.family.as_str(),
            p.given.as_str(),
            p.middle.as_deref().unwrap_or(""),
            "",
            "",
            "",
            name_type
        ]
    }

    fn xad(&mut self, p: &Patient) -> Node {
        let other = if self.options.escapes_everywhere && self.chance(0.5) {
            self.pick(&[
                "Apt 4 & 5",
                "Unit #3",
                "c/o Smith^Jones",
                "Bldg B | Rear",
                "Suite 100~200",
                "Dept. \\ Mailroom",
            ])
            .to_string()
        } else if self.chance(0.2) {
            format!("Apt {}", self.rng.random_range(1..500))
        } else {
            String::new()
        };
        comps![
            p.address.line.as_str(),
            other,
            p.address.city.as_str(),
            p.address.state.as_str(),
            p.address.zip.as_str(),
            "USA",
            "H"
        ]
    }

    /// A timestamp at second or minute precision, usually with the facility's
    /// offset.
    fn ts(&mut self, time: DateTime<Utc>, fac: &Facility) -> String {
        let precision = if self.chance(0.8) {
            Precision::Second
        } else {
            Precision::Minute
        };
        let show_offset = self.chance(0.7);
        dtm(time, fac.offset, show_offset, precision)
    }

    /// `value`, or `""` (delete) now and then when nulls are on.
    fn optional(&mut self, value: Node) -> Node {
        if self.options.null_fields && self.chance(0.25) {
            Node::Null
        } else {
            value
        }
    }

    fn free_text(&mut self) -> String {
        let mut text = if self.options.escapes_everywhere && self.chance(0.6) {
            self.nasty_text()
        } else if self.options.unicode && self.chance(0.2) {
            self.pick(UNICODE_TEXT).to_string()
        } else {
            self.pick(CLEAN_TEXT).to_string()
        };
        if self.options.hex_escapes && self.chance(0.4) {
            let sep = self.pick(&["\r\n", "\t", "\n"]);
            let more = self.pick(CLEAN_TEXT);
            text = format!("{text}{sep}{more}");
        }
        text
    }

    /// Free text full of delimiter characters, of the standard set and of the
    /// set in use.
    fn nasty_text(&mut self) -> String {
        if self.chance(0.5) {
            let d = self.options.delimiters;
            format!(
                "Ratio 3{}4 {} level{}high {} see{}note",
                d.field(),
                d.component(),
                d.subcomponent(),
                d.repetition(),
                d.escape()
            )
        } else {
            self.pick(NASTY_TEXT).to_string()
        }
    }

    /// Narrative text: distinct lines joined by `\.br\`, or now and then by
    /// CR LF (sent as `\X0D0A\`) with hex escapes on, which also highlight
    /// lines with `\H\`...`\N\` sometimes.
    fn narrative(&mut self, pool: &[&str], lines: std::ops::RangeInclusive<usize>) -> Node {
        let count = self.rng.random_range(lines);
        let lines: Vec<&str> = pool
            .choose_multiple(&mut self.rng, count)
            .copied()
            .collect();
        let mut parts = Vec::new();
        for (i, &from_pool) in lines.iter().enumerate() {
            if i > 0 {
                // The first break is always `\.br\`.
                if i > 1 && self.options.hex_escapes && self.chance(0.3) {
                    parts.push(Node::from("\r\n"));
                } else {
                    parts.push(Node::Format(".br"));
                }
            }
            let line = if self.options.escapes_everywhere && self.chance(0.3) {
                self.nasty_text()
            } else if self.options.unicode && self.chance(0.1) {
                self.pick(UNICODE_TEXT).to_string()
            } else {
                from_pool.to_owned()
            };
            if self.options.hex_escapes && self.chance(0.2) {
                parts.push(Node::Format("H"));
                parts.push(Node::from(line));
                parts.push(Node::Format("N"));
            } else {
                parts.push(Node::from(line));
            }
        }
        Node::Seq(Sep::Concat, parts)
    }

    /// Base64 of an invented PDF, at least `big_payload_bytes` long when set.
    fn pdf_base64(&mut self) -> String {
        let raw_len = match self.options.big_payload_bytes {
            Some(n) => n.div_ceil(4) * 3,
            None => self.rng.random_range(200..600),
        };
        let head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
        let tail = b"\n%%EOF\n";
        let mut raw = Vec::with_capacity(raw_len.max(head.len() + tail.len()));
        raw.extend_from_slice(head);
        let middle = raw_len.saturating_sub(head.len() + tail.len());
        raw.resize(head.len() + middle, 0);
        self.rng.fill_bytes(&mut raw[head.len()..]);
        raw.extend_from_slice(tail);
        base64(&raw)
    }

    fn order_numbers(&mut self) -> (String, String) {
        let placer = format!("ORD{}", self.rng.random_range(100_000u64..999_999));
        let filler = format!("L{}", self.rng.random_range(1_000_000u64..9_999_999));
        (placer, filler)
    }

    fn staff_npi(&mut self) -> String {
        self.staff
            .choose(&mut self.rng)
            .expect("the staff is not empty")
            .clone()
    }

    fn control_id(&mut self) -> String {
        let id = format!("{}{:010}", self.control_prefix, self.next_control);
        self.next_control += 1;
        id
    }

    fn any_kind(&mut self) -> Hl7Kind {
        let total: u32 = Hl7Kind::ALL.iter().map(|k| k.weight()).sum();
        let mut n = self.rng.random_range(0..total);
        for kind in Hl7Kind::ALL {
            if n < kind.weight() {
                return kind;
            }
            n -= kind.weight();
        }
        Hl7Kind::OruR01
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("pools are not empty")
    }

    fn instant_in(&mut self, year: i32) -> DateTime<Utc> {
        let start = NaiveDate::from_ymd_opt(year, 1, 1)
            .expect("a valid date")
            .and_hms_opt(0, 0, 0)
            .expect("a valid time")
            .and_utc();
        start + Duration::seconds(self.rng.random_range(0..365 * 86_400))
    }

    // -- People and visits.

    /// The next person from [`Generator`], folded to ASCII unless Unicode is
    /// on, with delimiters in the name now and then when escapes are wanted
    /// everywhere.
    fn draw_patient(&mut self) -> Patient {
        let mut p = self.people.patient();
        if !self.options.unicode {
            p.family = ascii_fold(&p.family);
            p.given = ascii_fold(&p.given);
            p.middle = p.middle.map(|m| ascii_fold(&m));
        }
        if self.options.escapes_everywhere && self.chance(0.25) {
            let d = self.pick(&self.options.delimiters.all());
            let other = self.pick(&["Lee", "Kim", "Park", "Cruz", "Shah"]);
            p.family = format!("{}{}{}", p.family, char::from(d), other);
        }
        p
    }

    fn new_stay(&mut self) -> Stay {
        let patient = self.draw_patient();
        let encounter = self.people.encounter(&patient);
        let facility = facility(&encounter.facility);
        let location = self.location(encounter.class);
        let stay = Stay {
            patient,
            encounter,
            facility,
            location,
        };
        if self.census.len() == CENSUS_SIZE {
            self.census.remove(0);
        }
        self.census.push(stay.clone());
        stay
    }

    /// Index of a remembered visit (a new one now and then).
    fn existing_index(&mut self) -> usize {
        if self.census.is_empty() || self.chance(0.25) {
            self.new_stay();
            return self.census.len() - 1;
        }
        self.rng.random_range(0..self.census.len())
    }

    fn existing_stay(&mut self) -> Stay {
        let i = self.existing_index();
        self.census[i].clone()
    }

    fn location(&mut self, class: EncounterClass) -> Location {
        let (unit, kind, building) = match class {
            EncounterClass::Inpatient => {
                let unit = self.pick(&["4W", "3E", "5N", "ICU", "L&D", "MICU"]);
                (unit, "N", "MAIN")
            }
            EncounterClass::Emergency => ("ED", "D", "MAIN"),
            EncounterClass::Outpatient => (self.pick(&["CLIN", "RAD", "LAB"]), "C", "MOB"),
        };
        Location {
            unit,
            room: self.rng.random_range(100..700),
            bed: self.pick(&['A', 'B']),
            kind,
            building,
        }
    }

    // -- Encoding.

    fn terminator(&mut self) -> &'static [u8] {
        match self.options.line_ending {
            LineEnding::Cr => b"\r",
            LineEnding::CrLf => b"\r\n",
            LineEnding::Lf => b"\n",
            LineEnding::Mixed => self.pick(&[&b"\r"[..], b"\r\n", b"\n"]),
        }
    }

    fn encode_segment_into(&mut self, segment: &Segment, out: &mut Vec<u8>) {
        let keep = self.options.trailing_empties && self.chance(0.4);
        let extra = if keep {
            self.rng.random_range(0..=3)
        } else {
            0
        };
        encode_segment(segment, &self.options.delimiters, keep, extra, out);
        let terminator = self.terminator();
        out.extend_from_slice(terminator);
    }

    fn encode_message(&mut self, segments: &[Segment], bom: bool, out: &mut Vec<u8>) {
        if bom {
            out.extend_from_slice(BOM);
        }
        for segment in segments {
            self.encode_segment_into(segment, out);
        }
    }
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// A facility as named by [`Generator`], with a code, an OID under the HL7
/// example arc and a fixed UTC offset.
fn facility(name: &str) -> Facility {
    let code: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let offsets = [-300, -360, -420, -480, -240, -300];
    let offset = offsets[hash as usize % offsets.len()];
    Facility {
        name: name.to_owned(),
        code,
        oid: format!("2.16.840.1.113883.19.{}", 100 + hash % 900),
        offset: FixedOffset::east_opt(offset * 60).expect("a valid offset"),
    }
}

/// An HD: namespace, universal id and its type, as components or
/// sub-components; compact senders send the namespace alone.
fn hd(compact: bool, namespace: &str, oid: &str, sep: Sep) -> Node {
    if compact {
        Node::from(namespace)
    } else {
        Node::Seq(sep, vec![namespace.into(), oid.into(), "ISO".into()])
    }
}

/// PL: point of care, room, bed, facility, status, type, building.
fn pl(compact: bool, loc: &Location, fac: &Facility) -> Node {
    let bed = if loc.bed == ' ' {
        String::new()
    } else {
        loc.bed.to_string()
    };
    comps![
        loc.unit,
        loc.room.to_string(),
        bed,
        hd(compact, &fac.code, &fac.oid, Sep::Subcomponent),
        "",
        loc.kind,
        loc.building
    ]
}

/// XCN for a provider; the name is a function of the NPI, so the same NPI
/// always carries the same name. Compact senders leave out the assigning
/// authority and the name and identifier types.
fn xcn(compact: bool, npi: &str) -> Node {
    let n: usize = npi.bytes().fold(0, |h, b| {
        h.wrapping_mul(131).wrapping_add(usize::from(b - b'0'))
    });
    let family = DOCTOR_FAMILY[n % DOCTOR_FAMILY.len()];
    let given = DOCTOR_GIVEN[(n / 7) % DOCTOR_GIVEN.len()];
    let initial = char::from(b'A' + u8::try_from((n / 11) % 26).expect("below 26"));
    let degree = ["MD", "MD", "DO", "NP", "PA"][(n / 13) % 5];
    if compact {
        return comps![npi, family, given, initial.to_string(), "", "", degree];
    }
    comps![
        npi,
        family,
        given,
        initial.to_string(),
        "",
        "",
        degree,
        "",
        subs!["NPI", NPI_OID, "ISO"],
        "L",
        "",
        "",
        "NPI"
    ]
}

fn account_number(e: &Encounter) -> String {
    let hex = e.id.trim_start_matches("enc-");
    let n = u64::from_str_radix(hex, 16).unwrap_or(0);
    format!("{:09}", n % 1_000_000_000)
}

fn financial_class(payer: &str) -> &'static str {
    match payer {
        "commercial" => "COM",
        "medicare" => "MCR",
        "medicaid" => "MCD",
        "tricare" => "TRI",
        _ => "SP",
    }
}

/// `(615) 555-0100` → (`615`, `5550100`).
fn split_phone(phone: &str) -> (String, String) {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let (area, local) = digits.split_at(digits.len().min(3));
    (area.to_owned(), local.to_owned())
}

fn email(p: &Patient) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(20)
            .collect()
    };
    let given = clean(&ascii_fold(&p.given));
    let family = clean(&ascii_fold(&p.family));
    let local = match (given.is_empty(), family.is_empty()) {
        (false, false) => format!("{given}.{family}"),
        (true, false) => family,
        (false, true) => given,
        (true, true) => "patient".to_owned(),
    };
    format!("{local}@example.com")
}

fn date_string(d: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

#[derive(Clone, Copy, Debug)]
enum Precision {
    Minute,
    Second,
    /// Seconds with 1 to 4 fractional digits.
    Fraction(u8),
}

/// An HL7 DTM: `YYYYMMDDHHMM[SS[.S[S[S[S]]]]][+/-ZZZZ]`, as wall-clock time at
/// `offset`, which is written only if `show_offset`.
fn dtm(
    time: DateTime<Utc>,
    offset: FixedOffset,
    show_offset: bool,
    precision: Precision,
) -> String {
    let local = time.with_timezone(&offset);
    let mut s = format!(
        "{:04}{:02}{:02}{:02}{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute()
    );
    match precision {
        Precision::Minute => {}
        Precision::Second => s.push_str(&format!("{:02}", local.second())),
        Precision::Fraction(digits) => {
            let micros = format!("{:06}", local.nanosecond() / 1_000 % 1_000_000);
            s.push_str(&format!(
                "{:02}.{}",
                local.second(),
                &micros[..usize::from(digits.clamp(1, 4))]
            ));
        }
    }
    if show_offset {
        let secs = offset.local_minus_utc();
        let sign = if secs < 0 { '-' } else { '+' };
        let secs = secs.abs();
        s.push_str(&format!(
            "{sign}{:02}{:02}",
            secs / 3_600,
            secs % 3_600 / 60
        ));
    }
    s
}

/// Folds the Latin, Cyrillic and CJK names of [`Generator`] to ASCII.
fn ascii_fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_owned();
    }
    match s {
        "李" => return "Li".to_owned(),
        "明" => return "Ming".to_owned(),
        "Анна" => return "Anna".to_owned(),
        _ => {}
    }
    let folded: String = s
        .chars()
        .filter_map(|c| {
            if c.is_ascii() {
                return Some(c);
            }
            Some(match c {
                'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
                'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'A',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'É' | 'È' | 'Ê' | 'Ë' => 'E',
                'í' | 'ì' | 'î' | 'ï' => 'i',
                'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
                'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
                'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'O',
                'ú' | 'ù' | 'û' | 'ü' => 'u',
                'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
                'ñ' => 'n',
                'Ñ' => 'N',
                'ç' => 'c',
                'Ç' => 'C',
                _ => return None,
            })
        })
        .collect();
    if folded.is_empty() {
        "Doe".to_owned()
    } else {
        folded
    }
}

fn diagnosis_name(code: &str) -> &'static str {
    PRINCIPAL_DIAGNOSES
        .iter()
        .chain(SECONDARY_DIAGNOSES)
        .find(|(c, _)| *c == code)
        .map_or("Diagnosis", |(_, name)| name)
}

/// Letters and spaces only, so the text needs no escaping: exactly `len` bytes.
fn filler(len: usize) -> String {
    const WORDS: &str = "Patient reports good adherence to the care plan and would like \
        reminders by text message before each visit. Family members are involved in care \
        decisions and should be contacted first in an emergency. Transportation is arranged \
        through the community program ";
    let mut s = String::with_capacity(len);
    while s.len() < len {
        s.push_str(WORDS);
    }
    s.truncate(len);
    s
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
    String::from_utf8(out).expect("the base64 alphabet is ASCII")
}

// ---------------------------------------------------------------------------
// The encoding tree: values are built with positions, then escaped and
// joined with the delimiters in use.

#[derive(Clone, Debug)]
enum Node {
    /// Text, escaped on output.
    Text(String),
    /// `""`, the HL7 null.
    Null,
    /// A formatting escape written as is between escape characters
    /// (`.br`, `H`, `N`).
    Format(&'static str),
    /// Children joined by a separator.
    Seq(Sep, Vec<Node>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sep {
    /// No separator: runs of text and formatting escapes.
    Concat,
    Repetition,
    Component,
    Subcomponent,
}

impl Node {
    fn is_empty(&self) -> bool {
        match self {
            Node::Text(s) => s.is_empty(),
            Node::Null | Node::Format(_) => false,
            Node::Seq(_, items) => items.iter().all(Node::is_empty),
        }
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Node::Text(s.to_owned())
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Node::Text(s)
    }
}

impl From<&String> for Node {
    fn from(s: &String) -> Self {
        Node::Text(s.clone())
    }
}

fn reps(items: Vec<Node>) -> Node {
    Node::Seq(Sep::Repetition, items)
}

#[derive(Debug)]
struct Segment {
    id: &'static str,
    /// `fields[0]` is field 1. For MSH, FHS and BHS fields 1 and 2 (the
    /// delimiters) stay empty here and are written from the options.
    fields: Vec<Node>,
}

impl Segment {
    fn new(id: &'static str) -> Self {
        Segment {
            id,
            fields: Vec::new(),
        }
    }

    /// Sets field `n` (1-based, as HL7 numbers them).
    fn set(&mut self, n: usize, value: impl Into<Node>) {
        if self.fields.len() < n {
            self.fields.resize(n, Node::Text(String::new()));
        }
        self.fields[n - 1] = value.into();
    }

    /// Empties field `n` if it exists.
    fn clear(&mut self, n: usize) {
        if let Some(field) = self.fields.get_mut(n - 1) {
            *field = Node::Text(String::new());
        }
    }

    fn with(mut self, n: usize, value: impl Into<Node>) -> Self {
        self.set(n, value);
        self
    }
}

/// Writes a segment without its terminator. Trailing empty fields,
/// repetitions, components and sub-components are dropped unless
/// `keep_trailing`; `extra` empty fields are added at the end.
fn encode_segment(
    segment: &Segment,
    d: &Delimiters,
    keep_trailing: bool,
    extra: usize,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(segment.id.as_bytes());
    let header = matches!(segment.id, "MSH" | "FHS" | "BHS");
    let first = if header {
        out.push(d.field);
        out.extend_from_slice(&[d.component, d.repetition, d.escape, d.subcomponent]);
        2
    } else {
        0
    };
    let end = if keep_trailing {
        segment.fields.len()
    } else {
        used_len(&segment.fields)
    };
    for field in segment.fields.iter().take(end).skip(first) {
        out.push(d.field);
        encode_node(field, d, keep_trailing, out);
    }
    out.extend(std::iter::repeat_n(d.field, extra));
}

fn used_len(items: &[Node]) -> usize {
    items
        .iter()
        .rposition(|n| !n.is_empty())
        .map_or(0, |i| i + 1)
}

fn encode_node(node: &Node, d: &Delimiters, keep_trailing: bool, out: &mut Vec<u8>) {
    match node {
        Node::Text(s) => escape_into(s, d, out),
        Node::Null => out.extend_from_slice(b"\"\""),
        Node::Format(code) => {
            out.push(d.escape);
            out.extend_from_slice(code.as_bytes());
            out.push(d.escape);
        }
        Node::Seq(sep, items) => {
            let separator = match sep {
                Sep::Concat => None,
                Sep::Repetition => Some(d.repetition),
                Sep::Component => Some(d.component),
                Sep::Subcomponent => Some(d.subcomponent),
            };
            let end = if keep_trailing || separator.is_none() {
                items.len()
            } else {
                used_len(items)
            };
            for (i, item) in items[..end].iter().enumerate() {
                if i > 0
                    && let Some(b) = separator
                {
                    out.push(b);
                }
                encode_node(item, d, keep_trailing, out);
            }
        }
    }
}

/// Escapes text for the delimiters: `\F\ \S\ \T\ \R\ \E\` for the five
/// delimiter characters (written with the escape character in use) and
/// `\Xhh..\` for runs of control characters, which must never appear raw
/// (a CR would end the segment).
fn escape_into(text: &str, d: &Delimiters, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let code = match b {
            _ if b == d.field => Some(b'F'),
            _ if b == d.component => Some(b'S'),
            _ if b == d.subcomponent => Some(b'T'),
            _ if b == d.repetition => Some(b'R'),
            _ if b == d.escape => Some(b'E'),
            _ => None,
        };
        if let Some(code) = code {
            out.extend_from_slice(&[d.escape, code, d.escape]);
            i += 1;
        } else if b < 0x20 || b == 0x7f {
            out.push(d.escape);
            out.push(b'X');
            while i < bytes.len() && (bytes[i] < 0x20 || bytes[i] == 0x7f) {
                out.extend_from_slice(format!("{:02X}", bytes[i]).as_bytes());
                i += 1;
            }
            out.push(d.escape);
        } else {
            out.push(b);
            i += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Vocabulary.

const OTHER_FACILITIES: &[&str] = &[
    "Lakeview Regional Medical Center",
    "Mercy West Hospital",
    "County Health Clinic",
    "Valley Children's Hospital",
];

const NICKNAMES: &[(&str, &str)] = &[
    ("Robert", "Bob"),
    ("William", "Bill"),
    ("James", "Jim"),
    ("John", "Jack"),
    ("Michael", "Mike"),
    ("Richard", "Rick"),
    ("Joseph", "Joe"),
    ("Thomas", "Tom"),
    ("Charles", "Chuck"),
    ("Christopher", "Chris"),
    ("Daniel", "Dan"),
    ("Matthew", "Matt"),
    ("Anthony", "Tony"),
    ("Elizabeth", "Liz"),
    ("Patricia", "Pat"),
    ("Jennifer", "Jen"),
    ("Barbara", "Barb"),
    ("Susan", "Sue"),
    ("Jessica", "Jess"),
    ("Sandra", "Sandy"),
    ("Alex", "Lex"),
    ("Avery", "Ave"),
];

/// The usual short form of a given name, or its initial.
fn nickname(given: &str) -> String {
    NICKNAMES
        .iter()
        .find(|(full, _)| *full == given)
        .map_or_else(
            || given.chars().take(1).collect(),
            |(_, short)| (*short).to_owned(),
        )
}

const DOCTOR_FAMILY: &[&str] = &[
    "Alvarez",
    "Bennett",
    "Chen",
    "D'Souza",
    "Eriksen",
    "Fitzgerald",
    "Gupta",
    "Haddad",
    "Ibrahim",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Mendoza",
    "Nakamura",
    "O'Connor",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Turner",
];

const DOCTOR_GIVEN: &[&str] = &[
    "Amelia", "Benjamin", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Isabel", "Jonas",
    "Kavya", "Liam", "Mina", "Nikolai", "Olga", "Priya",
];

const RACES: &[(&str, &str)] = &[
    ("2106-3", "White"),
    ("2054-5", "Black or African American"),
    ("2028-9", "Asian"),
    ("1002-5", "American Indian or Alaska Native"),
    ("2076-8", "Native Hawaiian or Other Pacific Islander"),
    ("2131-1", "Other Race"),
];

const ETHNICITIES: &[(&str, &str)] = &[
    ("2135-2", "Hispanic or Latino"),
    ("2186-5", "Not Hispanic or Latino"),
];

const LANGUAGES: &[(&str, &str)] = &[
    ("en", "English"),
    ("en", "English"),
    ("en", "English"),
    ("es", "Spanish"),
    ("zh", "Chinese"),
    ("vi", "Vietnamese"),
];

const MARITAL: &[(&str, &str)] = &[
    ("M", "Married"),
    ("S", "Single"),
    ("D", "Divorced"),
    ("W", "Widowed"),
];

const RELATIONS: &[(&str, &str)] = &[
    ("SPO", "Spouse"),
    ("MTH", "Mother"),
    ("FTH", "Father"),
    ("CHD", "Child"),
    ("SIB", "Sibling"),
    ("FND", "Friend"),
];

/// ICD-10-CM names of the codes [`Generator`] gives encounters.
const PRINCIPAL_DIAGNOSES: &[(&str, &str)] = &[
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("I10", "Essential (primary) hypertension"),
    ("J45.909", "Unspecified asthma, uncomplicated"),
    ("M54.5", "Low back pain"),
    ("N39.0", "Urinary tract infection, site not specified"),
    ("R07.9", "Chest pain, unspecified"),
    ("J18.9", "Pneumonia, unspecified organism"),
    (
        "K21.9",
        "Gastro-esophageal reflux disease without esophagitis",
    ),
    ("F41.1", "Generalized anxiety disorder"),
    (
        "Z00.00",
        "Encounter for general adult medical examination without abnormal findings",
    ),
    (
        "S52.501A",
        "Unspecified fracture of the lower end of right radius, initial encounter for closed fracture",
    ),
    ("O80", "Encounter for full-term uncomplicated delivery"),
    ("I21.4", "Non-ST elevation (NSTEMI) myocardial infarction"),
    (
        "C50.911",
        "Malignant neoplasm of unspecified site of right female breast",
    ),
    ("U07.1", "COVID-19"),
];

const SECONDARY_DIAGNOSES: &[(&str, &str)] = &[
    ("E78.5", "Hyperlipidemia, unspecified"),
    ("E66.9", "Obesity, unspecified"),
    ("N18.3", "Chronic kidney disease, stage 3 (moderate)"),
    ("Z87.891", "Personal history of nicotine dependence"),
    ("I48.91", "Unspecified atrial fibrillation"),
    ("F32.A", "Depression, unspecified"),
];

const PROCEDURES: &[(&str, &str, &str)] = &[
    (
        "0DTJ4ZZ",
        "Resection of Appendix, Percutaneous Endoscopic Approach",
        "I10P",
    ),
    (
        "0SRC0J9",
        "Replacement of Right Knee Joint with Synthetic Substitute, Cemented, Open Approach",
        "I10P",
    ),
    (
        "5A1955Z",
        "Respiratory Ventilation, Greater than 96 Consecutive Hours",
        "I10P",
    ),
    (
        "02703ZZ",
        "Dilation of Coronary Artery, One Artery, Percutaneous Approach",
        "I10P",
    ),
];

const ALLERGENS: &[(&str, &str, &str, &str, &str)] = &[
    ("DA", "Drug allergy", "7980", "Penicillin G", "RXNORM"),
    ("DA", "Drug allergy", "2670", "Codeine", "RXNORM"),
    ("DA", "Drug allergy", "10180", "Sulfamethoxazole", "RXNORM"),
    ("FA", "Food allergy", "256349002", "Peanut", "SCT"),
    ("FA", "Food allergy", "227037002", "Fish", "SCT"),
    ("EA", "Environmental allergy", "111088007", "Latex", "SCT"),
];

const REACTIONS: &[&str] = &[
    "Hives",
    "Rash",
    "Anaphylaxis",
    "Shortness of breath",
    "Swelling (face/lips)",
    "Nausea",
];

const PANELS: &[(&str, &str)] = &[
    ("24323-8", "Comprehensive metabolic panel - Serum or Plasma"),
    ("58410-2", "CBC panel - Blood by Automated count"),
    ("24331-1", "Lipid panel - Serum or Plasma"),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
];

#[derive(Clone, Copy, Debug)]
struct NumericTest {
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
    decimals: u8,
}

const fn numeric(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
    decimals: u8,
) -> NumericTest {
    NumericTest {
        code,
        name,
        unit,
        low,
        high,
        decimals,
    }
}

const NUMERIC_TESTS: &[NumericTest] = &[
    numeric(
        "2345-7",
        "Glucose [Mass/volume] in Serum or Plasma",
        "mg/dL",
        70.0,
        99.0,
        0,
    ),
    numeric(
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        "mg/dL",
        0.6,
        1.3,
        2,
    ),
    numeric(
        "2951-2",
        "Sodium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        136.0,
        145.0,
        0,
    ),
    numeric(
        "2823-3",
        "Potassium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        3.5,
        5.1,
        1,
    ),
    numeric(
        "718-7",
        "Hemoglobin [Mass/volume] in Blood",
        "g/dL",
        12.0,
        17.5,
        1,
    ),
    numeric(
        "6690-2",
        "Leukocytes [#/volume] in Blood by Automated count",
        "10*3/uL",
        4.5,
        11.0,
        1,
    ),
    numeric(
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        "10*3/uL",
        150.0,
        400.0,
        0,
    ),
];

const TEXT_TESTS: &[(&str, &str, &str)] = &[
    ("5767-9", "Appearance of Urine", "Cloudy"),
    ("5767-9", "Appearance of Urine", "Clear"),
    (
        "664-3",
        "Microscopic observation [Identifier] in Specimen by Gram stain",
        "Gram positive cocci in clusters",
    ),
];

type Answers = &'static [(&'static str, &'static str)];

const CODED_TESTS: &[(&str, &str, Answers)] = &[
    (
        "94500-6",
        "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with probe detection",
        &[("260385009", "Negative"), ("10828004", "Positive")],
    ),
    (
        "600-7",
        "Bacteria identified in Blood by Culture",
        &[
            ("3092008", "Staphylococcus aureus"),
            ("112283007", "Escherichia coli"),
        ],
    ),
];

const DOCUMENT_TYPES: &[(&str, &str, &str, &str)] = &[
    ("DS", "Discharge summary", "18842-5", "Discharge summary"),
    ("PN", "Procedure note", "28570-0", "Procedure note"),
    ("CN", "Consultation", "11488-4", "Consult note"),
    (
        "HP",
        "History and physical examination",
        "34117-2",
        "History and physical note",
    ),
];

const NOTE_LINES: &[&str] = &[
    "HISTORY OF PRESENT ILLNESS: Patient presented with intermittent symptoms over 3 days.",
    "Vital signs stable on arrival. Afebrile.",
    "ASSESSMENT: Condition improving with current management.",
    "PLAN: Continue current medications; follow up with primary care in 2 weeks.",
    "Labs reviewed and discussed with the patient.",
    "Patient verbalized understanding of discharge instructions.",
    "No acute distress. Lungs clear to auscultation bilaterally.",
];

const INTERPRETATION_LINES: &[&str] = &[
    "Results reviewed by the laboratory director.",
    "Specimen slightly hemolyzed; potassium may be falsely elevated.",
    "Reference ranges apply to adults.",
    "Repeat testing recommended if clinically indicated.",
];

const CLEAN_TEXT: &[&str] = &[
    "Patient prefers morning appointments",
    "Interpreter requested",
    "Bring prior imaging to the visit",
    "Follow up in 2 weeks",
    "Fasting specimen",
    "Call patient with results",
];

const NASTY_TEXT: &[&str] = &[
    "BP 120/80 | HR 72 | afebrile",
    "Hx: HTN ^ DM2 ^ CKD3",
    "Meds: ASA 81mg & atorvastatin 40mg",
    "Allergies ~ see list ~ verify",
    "Scan at \\\\fileserver\\scans\\intake.pdf",
    "Pt states \"feels better\" & wants d/c",
    "50% improved; follow-up ~2 wks | call if worse",
];

const UNICODE_TEXT: &[&str] = &[
    "Température 38,5 °C à l'arrivée",
    "Patient spricht nur Deutsch – Dolmetscher nötig",
    "患者は日本語を話します",
    "Пациент жалуется на головную боль",
    "Allergie: Penicillin ✗",
];

const APPOINTMENT_REASONS: &[(&str, &str)] = &[
    ("ROUTINE", "Routine appointment"),
    ("FOLLOWUP", "A follow up visit from a previous appointment"),
    ("CHECKUP", "A routine check-up, such as an annual physical"),
];

const VACCINES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "08",
        "Hep B, adolescent or pediatric",
        "MSK",
        "Merck and Co., Inc.",
        "0.5",
    ),
    (
        "141",
        "Influenza, seasonal, injectable",
        "SKB",
        "GlaxoSmithKline",
        "0.5",
    ),
    (
        "208",
        "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose",
        "PFR",
        "Pfizer, Inc",
        "0.3",
    ),
    ("03", "MMR", "MSK", "Merck and Co., Inc.", "0.5"),
    ("115", "Tdap", "PMC", "sanofi pasteur", "0.5"),
];
