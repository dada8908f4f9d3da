//! Flattening typed claims and remittances into Arrow record batches for
//! lake tables: `claim`, `claim_line` and `claim_diagnosis` from 837s;
//! `remittance`, `remittance_line` and `adjustment` from 835s.
//!
//! ```
//! use caresync_x12::Document;
//! use caresync_x12::claim::read_document_claims;
//! use caresync_x12::flatten::{Table, flatten_claims};
//!
//! let input = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~\
//! GS*HC*A*B*20240101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~\
//! BHT*0019*00*1*20240101*1200*CH~NM1*41*2*SUBMITTER*****46*S1~NM1*40*2*RECEIVER*****46*R1~\
//! HL*1**20*1~NM1*85*2*CLINIC*****XX*1234567893~REF*EI*123456789~\
//! HL*2*1*22*0~SBR*P*18*******CI~NM1*IL*1*DOE*JANE****MI*M1~NM1*PR*2*PAYER*****PI*P1~\
//! CLM*C1*50.00***11:B:1*Y*A*Y*Y~HI*ABK:J020~LX*1~SV1*HC:99213:25*50.00*UN*1***1~DTP*472*D8*20240105~\
//! SE*16*0001~GE*1*1~IEA*1*000000001~";
//! let doc = Document::read(input)?;
//! let claims = read_document_claims(&doc);
//! let tables = flatten_claims(&doc, &claims.claims);
//! assert_eq!(tables.claim.schema(), Table::Claim.schema());
//! assert_eq!(
//!     (tables.claim.num_rows(), tables.claim_line.num_rows(), tables.claim_diagnosis.num_rows()),
//!     (1, 1, 1)
//! );
//! let keys = tables.claim.column_by_name("claim_key").expect("a key column");
//! let keys = keys.as_any().downcast_ref::<arrow_array::StringArray>().expect("Utf8");
//! assert_eq!(keys.value(0), "S1|C1|000000001");
//! # Ok::<(), caresync_x12::Error>(())
//! ```
//!
//! # Rows
//!
//! One `claim` row per [`Claim`], one `claim_line` row
//! per service line, one `claim_diagnosis` row per HI diagnosis code. One
//! `remittance` row per paid claim (CLP) with the transaction set's header
//! (BPR, TRN, payer, payee) repeated on it, one `remittance_line` row per
//! service line (SVC), and one `adjustment` row per CAS
//! reason/amount/quantity triplet and per PLB reason/amount pair.
//!
//! Rules:
//!
//! - **Absent means null.** A missing or unreadable element is a null cell
//!   (the reader has already raised an issue for it when it matters; the
//!   claim's issue codes are in `issue_codes`). Lists are never null: empty
//!   when there is nothing.
//! - **Amounts are exact.** Every amount and quantity is a
//!   `Decimal128(19, 4)` whose integer value is the [`Amount`](crate::Amount)'s
//!   ten-thousandths (`100.50` is `1005000`): sums in the lake are exact,
//!   never floating. 19 digits hold every `i64`, so every `Amount` fits.
//! - **Dates** are `Date32` (days since 1970-01-01); a period gives a
//!   `_from` and a `_to` column.
//! - **Every column is nullable except the keys** (and `payment_key` and
//!   `level`, which are never null).
//!
//! # Keys
//!
//! Keys are text made of parts joined by `|`. A `|` or `\` inside a part
//! taken from the data is escaped with a `\` (the X12 extended character
//! set allows `|` in data), so two different sets of parts never give the
//! same key. Parts made by the flattener start with `\#`, which escaping
//! makes impossible in a part from the data. A missing element is an empty
//! part.
//!
//! - **`claim_key`** = 1000A NM109 (submitter id) `|` CLM01 `|` ISA13. The
//!   interchange control number is unique per sender, and the guide wants
//!   CLM01 unique per claim of a submitter, so the key names one claim of
//!   one submission: a re-sent file (same ISA13) maps to the same keys,
//!   while a corrected claim sent later (CLM05-3 `7`, a new ISA13) is a new
//!   row. When CLM01 is missing its part is `\#` and the number of the CLM
//!   segment in the document. The n-th claim (n ≥ 2) of a transaction set
//!   with the same CLM01 gets a last part `\#n`.
//! - `claim_line`: (`claim_key`, `line_number`); `claim_diagnosis`:
//!   (`claim_key`, `sequence`). Positions, not LX01, so broken LX numbers
//!   never collide.
//! - **`payment_key`** = TRN03 (payer identifier) `|` TRN02 (check or EFT
//!   trace number): one payment. It does not use ISA13, GS06 or ST02, which
//!   a payer re-sending an 835 regenerates, so a re-sent 835 maps to the
//!   same keys. Without TRN02 (already an issue) the trace part is `\#`
//!   followed by ISA13, `.` and ST02.
//! - **`remittance_key`** = `payment_key` `|` CLP01 `|` CLP07 (payer claim
//!   control number). A payment may hold the same claim twice (a reversal
//!   and its correction); the n-th claim (n ≥ 2) of a transaction set with
//!   the same CLP01 and CLP07 gets a last part `\#n`, so two claim
//!   payments never collide and a re-sent 835 gives the same keys.
//! - `remittance_line`: (`remittance_key`, `line_number`).
//! - `adjustment`: (`payment_key`, `sequence`), the 1-based position of the
//!   adjustment in its transaction set: claim by claim, the claim's own CAS
//!   triplets then its lines' line by line, then the PLB amounts.
//!   `remittance_key` and `line_number` link a row to its claim and line.
//!
//! # Schemas
//!
//! Sources name the loop and element the value comes from.
#![doc = include_str!("flatten/schemas.md")]

mod claims;
mod columns;
mod remits;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use self::claims::ClaimBuilders;
use self::columns::{ColumnSpec, Role};
use self::remits::RemittanceBuilders;
use crate::claim::Claim;
use crate::envelope::{Document, Transaction};
use crate::remit::Remittance;

/// A lake table this module fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Table {
    /// One row per 837 claim.
    Claim,
    /// One row per 837 service line.
    ClaimLine,
    /// One row per 837 diagnosis code.
    ClaimDiagnosis,
    /// One row per 835 claim payment (CLP).
    Remittance,
    /// One row per 835 service line payment (SVC).
    RemittanceLine,
    /// One row per 835 adjustment (CAS triplet, PLB amount).
    Adjustment,
}

impl Table {
    /// Every table, in declaration order.
    pub const ALL: [Table; 6] = [
        Table::Claim,
        Table::ClaimLine,
        Table::ClaimDiagnosis,
        Table::Remittance,
        Table::RemittanceLine,
        Table::Adjustment,
    ];

    /// The table's name (`claim_line`).
    pub const fn name(self) -> &'static str {
        match self {
            Table::Claim => "claim",
            Table::ClaimLine => "claim_line",
            Table::ClaimDiagnosis => "claim_diagnosis",
            Table::Remittance => "remittance",
            Table::RemittanceLine => "remittance_line",
            Table::Adjustment => "adjustment",
        }
    }

    fn spec(self) -> &'static [ColumnSpec] {
        match self {
            Table::Claim => claims::CLAIM,
            Table::ClaimLine => claims::CLAIM_LINE,
            Table::ClaimDiagnosis => claims::CLAIM_DIAGNOSIS,
            Table::Remittance => remits::REMITTANCE,
            Table::RemittanceLine => remits::REMITTANCE_LINE,
            Table::Adjustment => remits::ADJUSTMENT,
        }
    }

    /// The Arrow schema of the table's batches.
    pub fn schema(self) -> SchemaRef {
        columns::schema(self.spec())
    }

    /// The columns whose values together identify a row (never null).
    pub fn key_columns(self) -> Vec<&'static str> {
        self.spec()
            .iter()
            .filter(|c| c.role == Role::Key)
            .map(|c| c.name)
            .collect()
    }
}

/// The envelope of a transaction set, repeated on its rows.
#[derive(Clone, Copy, Debug, Default)]
struct Envelope<'a> {
    /// ISA13.
    interchange: Option<&'a str>,
    /// GS06.
    group: Option<&'a str>,
    /// ST02.
    transaction: Option<&'a str>,
    /// ST03, else GS08.
    implementation: Option<&'a str>,
}

impl<'a> Envelope<'a> {
    fn of(tx: &Transaction<'_, 'a>) -> Self {
        Envelope {
            interchange: tx.interchange().control_number(),
            group: tx.group().control_number(),
            transaction: tx.control_number().filter(|t| !t.is_empty()),
            implementation: tx.implementation(),
        }
    }
}

/// The claim tables of a batch of claims.
#[derive(Clone, Debug)]
pub struct ClaimTables {
    /// [`Table::Claim`].
    pub claim: RecordBatch,
    /// [`Table::ClaimLine`].
    pub claim_line: RecordBatch,
    /// [`Table::ClaimDiagnosis`].
    pub claim_diagnosis: RecordBatch,
}

/// Builds the claim tables from claims fed transaction set by transaction
/// set; [`ClaimFlattener::finish`] hands out the batches and starts new
/// ones, so a large input can be cut into batches of any size.
#[derive(Debug)]
pub struct ClaimFlattener {
    b: ClaimBuilders,
}

impl Default for ClaimFlattener {
    fn default() -> Self {
        Self::new()
    }
}

impl ClaimFlattener {
    /// A flattener with room for a thousand claims.
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// A flattener with room for `claims` claims before it grows.
    pub fn with_capacity(claims: usize) -> Self {
        ClaimFlattener {
            b: ClaimBuilders::new(claims),
        }
    }

    /// Appends the claims read from `tx` (by
    /// [`read_claims`](crate::claim::read_claims)); the envelope columns
    /// and `claim_key` come from `tx`.
    pub fn push_transaction(&mut self, tx: &Transaction<'_, '_>, claims: &[Claim<'_>]) {
        self.b.push(&Envelope::of(tx), claims);
    }

    /// Appends claims read from `doc` (by
    /// [`read_document_claims`](crate::claim::read_document_claims)), each
    /// with the envelope of the transaction set its CLM segment is in.
    pub fn push_document(&mut self, doc: &Document<'_>, claims: &[Claim<'_>]) {
        let sets: Vec<(u32, Envelope<'_>)> = doc
            .transactions()
            .map(|tx| (tx.st().number(), Envelope::of(&tx)))
            .collect();
        let set_of = |c: &Claim<'_>| sets.partition_point(|(st, _)| *st <= c.at.segment);
        let mut rest = claims;
        while let Some(first) = rest.first() {
            let set = set_of(first);
            let run = rest.iter().take_while(|c| set_of(c) == set).count();
            let env = set
                .checked_sub(1)
                .and_then(|i| sets.get(i))
                .map(|(_, e)| *e)
                .unwrap_or_default();
            self.b.push(&env, &rest[..run]);
            rest = &rest[run..];
        }
    }

    /// Claims appended since the last [`ClaimFlattener::finish`].
    pub fn len(&self) -> usize {
        self.b.claim.len()
    }

    /// Whether no claim was appended since the last
    /// [`ClaimFlattener::finish`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches of the claims appended so far; the flattener starts
    /// again empty.
    pub fn finish(&mut self) -> ClaimTables {
        ClaimTables {
            claim: self.b.claim.finish(),
            claim_line: self.b.line.finish(),
            claim_diagnosis: self.b.diagnosis.finish(),
        }
    }
}

/// Flattens claims read from `doc` (see [`ClaimFlattener::push_document`]).
pub fn flatten_claims(doc: &Document<'_>, claims: &[Claim<'_>]) -> ClaimTables {
    let mut f = ClaimFlattener::with_capacity(claims.len());
    f.push_document(doc, claims);
    f.finish()
}

/// The remittance tables of a batch of 835 transaction sets.
#[derive(Clone, Debug)]
pub struct RemittanceTables {
    /// [`Table::Remittance`].
    pub remittance: RecordBatch,
    /// [`Table::RemittanceLine`].
    pub remittance_line: RecordBatch,
    /// [`Table::Adjustment`].
    pub adjustment: RecordBatch,
}

/// Builds the remittance tables from remittances fed one transaction set at
/// a time; [`RemittanceFlattener::finish`] hands out the batches and
/// starts new ones.
#[derive(Debug)]
pub struct RemittanceFlattener {
    b: RemittanceBuilders,
}

impl Default for RemittanceFlattener {
    fn default() -> Self {
        Self::new()
    }
}

impl RemittanceFlattener {
    /// A flattener with room for a thousand claim payments.
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// A flattener with room for `claims` claim payments before it grows.
    pub fn with_capacity(claims: usize) -> Self {
        RemittanceFlattener {
            b: RemittanceBuilders::new(claims),
        }
    }

    /// Appends the remittance read from `tx` (by
    /// [`read_remittance`](crate::remit::read_remittance)).
    pub fn push_transaction(&mut self, tx: &Transaction<'_, '_>, remittance: &Remittance) {
        self.b.push(&Envelope::of(tx), remittance);
    }

    /// Appends remittances read from `doc` (by
    /// [`read_remittances`](crate::remit::read_remittances)), each with the
    /// envelope of the transaction set whose ST it was read from.
    pub fn push_document(&mut self, doc: &Document<'_>, remittances: &[Remittance]) {
        let sets: Vec<(u32, Envelope<'_>)> = doc
            .transactions()
            .map(|tx| (tx.st().number(), Envelope::of(&tx)))
            .collect();
        for r in remittances {
            let env = sets
                .binary_search_by_key(&r.segment, |(st, _)| *st)
                .map(|i| sets[i].1)
                .unwrap_or_default();
            self.b.push(&env, r);
        }
    }

    /// Claim payments appended since the last
    /// [`RemittanceFlattener::finish`].
    pub fn len(&self) -> usize {
        self.b.remittance.len()
    }

    /// Whether no claim payment was appended since the last
    /// [`RemittanceFlattener::finish`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches of the remittances appended so far; the flattener starts
    /// again empty.
    pub fn finish(&mut self) -> RemittanceTables {
        RemittanceTables {
            remittance: self.b.remittance.finish(),
            remittance_line: self.b.line.finish(),
            adjustment: self.b.adjustment.finish(),
        }
    }
}

/// Flattens remittances read from `doc` (see
/// [`RemittanceFlattener::push_document`]).
pub fn flatten_remittances(doc: &Document<'_>, remittances: &[Remittance]) -> RemittanceTables {
    let claims = remittances.iter().map(|r| r.claims.len()).sum();
    let mut f = RemittanceFlattener::with_capacity(claims);
    f.push_document(doc, remittances);
    f.finish()
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;

    fn render_docs() -> String {
        let mut out = String::new();
        for table in Table::ALL {
            let keys = table.key_columns();
            writeln!(out, "\n## `{}`\n", table.name()).expect("writing to a String");
            writeln!(out, "Key: ({}).\n", keys.join(", ")).expect("writing to a String");
            out.push_str("| column | type | null | source |\n|---|---|---|---|\n");
            for c in table.spec() {
                let null = match c.role {
                    Role::Key => "key",
                    Role::Required => "never",
                    Role::Nullable => "yes",
                };
                writeln!(
                    out,
                    "| `{}` | `{}` | {} | {} |",
                    c.name,
                    c.ty.doc_name(),
                    null,
                    c.source.replace('*', "\\*")
                )
                .expect("writing to a String");
            }
        }
        out
    }

    #[test]
    fn schema_docs_match_the_schemas() {
        expect_test::expect_file!["flatten/schemas.md"].assert_eq(&render_docs());
    }

    #[test]
    fn column_names_are_unique() {
        for table in Table::ALL {
            let spec = table.spec();
            for (i, c) in spec.iter().enumerate() {
                assert!(
                    spec[..i].iter().all(|d| d.name != c.name),
                    "{}.{}",
                    table.name(),
                    c.name
                );
            }
        }
    }
}
