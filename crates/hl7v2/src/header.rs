//! The message header (MSH) read into typed values.

use std::borrow::Cow;
use std::fmt;

use caresync_core::{EventTime, Tiebreaker, Version};

use crate::parse::{Message, Segment};
use crate::time::{Timestamp, TimestampError};
use crate::value::Value;

/// A view of a message's MSH segment.
#[derive(Clone, Copy, Debug)]
pub struct Header<'m> {
    msh: Option<Segment<'m>>,
}

/// A hierarchic designator (HD): an application or facility.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HierarchicDesignator<'m> {
    /// HD.1, the local name.
    pub namespace_id: Cow<'m, str>,
    /// HD.2, a universal id such as an OID.
    pub universal_id: Option<Cow<'m, str>>,
    /// HD.3, the kind of universal id (`ISO`, `DNS`, ...).
    pub universal_id_type: Option<Cow<'m, str>>,
}

/// MSH-9: message code, trigger event and message structure.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageType<'m> {
    /// MSG.1, e.g. `ADT`.
    pub code: Cow<'m, str>,
    /// MSG.2, e.g. `A01`.
    pub trigger: Cow<'m, str>,
    /// MSG.3, e.g. `ADT_A01`, when sent.
    pub structure: Option<Cow<'m, str>>,
}

impl fmt::Display for MessageType<'_> {
    /// `CODE^TRIGGER`, the usual way to name a message type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}^{}", self.code, self.trigger)
    }
}

/// Message types this crate knows the meaning of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KnownType {
    /// ADT A01 (admit).
    AdtA01,
    /// ADT A02 (transfer).
    AdtA02,
    /// ADT A03 (discharge).
    AdtA03,
    /// ADT A04 (register).
    AdtA04,
    /// ADT A05 (pre-admit).
    AdtA05,
    /// ADT A06 (outpatient to inpatient).
    AdtA06,
    /// ADT A07 (inpatient to outpatient).
    AdtA07,
    /// ADT A08 (update patient information).
    AdtA08,
    /// ADT A11 (cancel admit).
    AdtA11,
    /// ADT A13 (cancel discharge).
    AdtA13,
    /// ADT A17 (swap patients).
    AdtA17,
    /// ADT A28 (add person information).
    AdtA28,
    /// ADT A31 (update person information).
    AdtA31,
    /// ADT A40 (merge patient identifier list).
    AdtA40,
    /// ORU R01 (unsolicited observation result).
    OruR01,
    /// ORM O01 (general order).
    OrmO01,
    /// OML O21 (laboratory order).
    OmlO21,
    /// SIU S12–S26 (scheduling).
    Siu,
    /// MDM T01–T11 (medical document management).
    Mdm,
    /// VXU V04 (vaccination update).
    VxuV04,
    /// ACK (general acknowledgement).
    Ack,
}

impl KnownType {
    /// Whether this is an ADT event.
    pub fn is_adt(self) -> bool {
        use KnownType::*;
        matches!(
            self,
            AdtA01
                | AdtA02
                | AdtA03
                | AdtA04
                | AdtA05
                | AdtA06
                | AdtA07
                | AdtA08
                | AdtA11
                | AdtA13
                | AdtA17
                | AdtA28
                | AdtA31
                | AdtA40
        )
    }
}

impl MessageType<'_> {
    /// The known type this is, if any. ADT A01-family structures reused by
    /// other events (A04, A08 use ADT_A01) are recognised by trigger.
    pub fn known(&self) -> Option<KnownType> {
        use KnownType::*;
        let code = self.code.as_ref();
        let trigger = self.trigger.as_ref();
        let numbered = |prefix: char, lo: u32, hi: u32| {
            trigger
                .strip_prefix(prefix)
                .filter(|n| n.len() == 2)
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| (lo..=hi).contains(&n))
        };
        Some(match (code, trigger) {
            ("ADT", "A01") => AdtA01,
            ("ADT", "A02") => AdtA02,
            ("ADT", "A03") => AdtA03,
            ("ADT", "A04") => AdtA04,
            ("ADT", "A05") => AdtA05,
            ("ADT", "A06") => AdtA06,
            ("ADT", "A07") => AdtA07,
            ("ADT", "A08") => AdtA08,
            ("ADT", "A11") => AdtA11,
            ("ADT", "A13") => AdtA13,
            ("ADT", "A17") => AdtA17,
            ("ADT", "A28") => AdtA28,
            ("ADT", "A31") => AdtA31,
            ("ADT", "A40") => AdtA40,
            ("ORU", "R01") => OruR01,
            ("ORM", "O01") => OrmO01,
            ("OML", "O21") => OmlO21,
            ("SIU", _) if numbered('S', 12, 26) => Siu,
            ("MDM", _) if numbered('T', 1, 11) => Mdm,
            ("VXU", "V04") => VxuV04,
            ("ACK", _) => Ack,
            _ => return None,
        })
    }
}

fn text<'m>(v: Option<Value<'m>>) -> Option<Cow<'m, str>> {
    v.and_then(|v| v.text())
}

impl<'m> Header<'m> {
    fn field(&self, n: usize) -> Option<Value<'m>> {
        self.msh?.field(n)
    }

    fn hd(&self, n: usize) -> Option<HierarchicDesignator<'m>> {
        let f = self.field(n)?;
        let namespace_id = text(f.component(1));
        let universal_id = text(f.component(2));
        if namespace_id.is_none() && universal_id.is_none() {
            return None;
        }
        Some(HierarchicDesignator {
            namespace_id: namespace_id.unwrap_or_default(),
            universal_id,
            universal_id_type: text(f.component(3)),
        })
    }

    /// The MSH segment itself.
    pub fn segment(&self) -> Option<Segment<'m>> {
        self.msh
    }

    /// MSH-3.
    pub fn sending_application(&self) -> Option<HierarchicDesignator<'m>> {
        self.hd(3)
    }
    /// MSH-4.
    pub fn sending_facility(&self) -> Option<HierarchicDesignator<'m>> {
        self.hd(4)
    }
    /// MSH-5.
    pub fn receiving_application(&self) -> Option<HierarchicDesignator<'m>> {
        self.hd(5)
    }
    /// MSH-6.
    pub fn receiving_facility(&self) -> Option<HierarchicDesignator<'m>> {
        self.hd(6)
    }

    /// MSH-7, the time the message was created, parsed; `None` when absent.
    pub fn timestamp(&self) -> Option<Result<Timestamp, TimestampError>> {
        let v = self.field(7)?.component(1)?;
        if v.is_empty() {
            return None;
        }
        Some(Timestamp::parse(v.raw()))
    }

    /// MSH-9.
    pub fn message_type(&self) -> Option<MessageType<'m>> {
        let f = self.field(9)?;
        Some(MessageType {
            code: text(f.component(1))?,
            trigger: text(f.component(2)).unwrap_or_default(),
            structure: text(f.component(3)),
        })
    }

    /// MSH-10, the message control id.
    pub fn control_id(&self) -> Option<Cow<'m, str>> {
        text(self.field(10))
    }

    /// MSH-11.1, the processing id (`P` production, `T` training, `D` debugging).
    pub fn processing_id(&self) -> Option<Cow<'m, str>> {
        text(self.field(11).and_then(|f| f.component(1)))
    }

    /// MSH-12.1, the version (`2.5.1`).
    pub fn version(&self) -> Option<Cow<'m, str>> {
        text(self.field(12).and_then(|f| f.component(1)))
    }

    /// MSH-15, the accept acknowledgement type (`AL`, `NE`, `ER`, `SU`).
    pub fn accept_ack_type(&self) -> Option<Cow<'m, str>> {
        text(self.field(15))
    }

    /// MSH-16, the application acknowledgement type.
    pub fn application_ack_type(&self) -> Option<Cow<'m, str>> {
        text(self.field(16))
    }
}

impl Message<'_> {
    /// The message header.
    pub fn header(&self) -> Header<'_> {
        Header {
            msh: self.segment_at(0).filter(|s| s.id_bytes() == b"MSH"),
        }
    }

    /// The version the merge engine orders this message by: MSH-7 as an
    /// instant (a timestamp without offset is read as UTC; pass the
    /// sender's offset with [`Message::version_with_offset`] when known),
    /// then the control id MSH-10. `None` when either is missing or MSH-7
    /// is not a valid timestamp.
    pub fn version(&self) -> Option<Version> {
        self.version_with_offset(0)
    }

    /// [`Message::version`] with the offset (in minutes east of UTC) assumed
    /// for an MSH-7 that has none.
    pub fn version_with_offset(&self, default_offset_minutes: i16) -> Option<Version> {
        let header = self.header();
        let time: EventTime = header
            .timestamp()?
            .ok()?
            .to_event_time(default_offset_minutes);
        let control_id = header.control_id()?;
        Some(Version::new(time, Tiebreaker::from_text(&control_id)))
    }
}
