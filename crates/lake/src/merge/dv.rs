//! Deletion vectors: the rows of a data file that are no longer in the
//! table, stored as Delta's protocol specifies them.
//!
//! A deletion vector is a 64-bit roaring bitmap of row positions in its data
//! file, serialized in the bitmap's portable format after the magic number
//! 1681511377 (little-endian). Merges write them to files under the table
//! root, `deletion_vector_<uuid>.bin`: a version byte (1), then for each
//! vector its size (big-endian, magic included), the magic, the bitmap and
//! the CRC-32 of magic and bitmap (big-endian). The log's descriptor names
//! the file by its UUID (Z85-encoded) and the vector by its offset.

use deltalake::kernel::{DeletionVectorDescriptor, StorageType};
use deltalake::logstore::ObjectStoreRef;
use deltalake::logstore::object_store::{ObjectStoreExt as _, PutPayload, path::Path};
use deltalake::{DeltaResult, DeltaTableError};
use roaring::RoaringTreemap;

/// The magic number before a bitmap in the portable format.
const MAGIC: u32 = 1_681_511_377;
/// The version byte that opens a deletion vector file.
const FORMAT_VERSION: u8 = 1;
/// Characters of a Z85-encoded UUID at the end of a relative descriptor.
const UUID_CHARS: usize = 20;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The rows `descriptor` deletes from its data file.
///
/// # Errors
///
/// A descriptor this crate cannot follow (an absolute path, a malformed
/// UUID), a missing file, or stored bytes that do not check out (version,
/// size, magic, checksum, cardinality).
pub(crate) async fn read(
    store: &ObjectStoreRef,
    descriptor: &DeletionVectorDescriptor,
) -> DeltaResult<RoaringTreemap> {
    let bad = |detail: String| DeltaTableError::Generic(format!("deletion vector: {detail}"));
    let size = usize::try_from(descriptor.size_in_bytes)
        .map_err(|_| bad(format!("negative size {}", descriptor.size_in_bytes)))?;
    let bitmap = match descriptor.storage_type {
        StorageType::Inline => {
            let bytes = z85::decode(&descriptor.path_or_inline_dv)
                .map_err(|_| bad("inline data is not Z85".to_owned()))?;
            let stored = bytes
                .get(..size)
                .ok_or_else(|| bad(format!("inline data holds fewer than {size} bytes")))?;
            decode(stored).map_err(bad)?
        }
        StorageType::UuidRelativePath => {
            let path = relative_path(&descriptor.path_or_inline_dv).map_err(bad)?;
            let start = usize::try_from(descriptor.offset.unwrap_or(1))
                .map_err(|_| bad("negative offset".to_owned()))?;
            // Size, stored bytes, checksum.
            let end = start + 4 + size + 4;
            let bytes = store.get_range(&path, start as u64..end as u64).await?;
            if bytes.len() != end - start {
                return Err(bad("the file ends early".to_owned()));
            }
            let (head, rest) = bytes.split_at(4);
            let stored_size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            if stored_size as usize != size {
                return Err(bad(format!(
                    "the log says {size} bytes, the file {stored_size}"
                )));
            }
            let (stored, crc) = rest.split_at(size);
            let crc = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
            if CRC.checksum(stored) != crc {
                return Err(bad("checksum mismatch".to_owned()));
            }
            decode(stored).map_err(bad)?
        }
        StorageType::AbsolutePath => {
            return Err(bad(
                "vectors stored at an absolute path are not read".to_owned()
            ));
        }
    };
    if i64::try_from(bitmap.len()).ok() != Some(descriptor.cardinality) {
        return Err(bad(format!(
            "the log says {} rows, the vector holds {}",
            descriptor.cardinality,
            bitmap.len()
        )));
    }
    Ok(bitmap)
}

/// Writes `vectors` to one new deletion vector file and returns their
/// descriptors, in the same order.
pub(crate) async fn write(
    store: &ObjectStoreRef,
    vectors: &[&RoaringTreemap],
) -> DeltaResult<Vec<DeletionVectorDescriptor>> {
    if vectors.is_empty() {
        return Ok(Vec::new());
    }
    let too_big = || DeltaTableError::Generic("deletion vector file over 2 GiB".to_owned());
    let uuid = uuid::Uuid::new_v4();
    let mut bytes = vec![FORMAT_VERSION];
    let mut out = Vec::with_capacity(vectors.len());
    for bitmap in vectors {
        let offset = i32::try_from(bytes.len()).map_err(|_| too_big())?;
        let stored = encode(bitmap)?;
        let size = u32::try_from(stored.len()).map_err(|_| too_big())?;
        bytes.extend_from_slice(&size.to_be_bytes());
        bytes.extend_from_slice(&stored);
        bytes.extend_from_slice(&CRC.checksum(&stored).to_be_bytes());
        out.push(DeletionVectorDescriptor {
            storage_type: StorageType::UuidRelativePath,
            path_or_inline_dv: z85::encode(uuid.as_bytes()),
            offset: Some(offset),
            size_in_bytes: i32::try_from(size).map_err(|_| too_big())?,
            cardinality: i64::try_from(bitmap.len()).map_err(|_| too_big())?,
        });
    }
    i32::try_from(bytes.len()).map_err(|_| too_big())?;
    store
        .put(
            &Path::from(format!("deletion_vector_{uuid}.bin")),
            PutPayload::from(bytes),
        )
        .await?;
    Ok(out)
}

/// The magic and the bitmap in the portable format.
fn encode(bitmap: &RoaringTreemap) -> DeltaResult<Vec<u8>> {
    let mut stored = Vec::with_capacity(4 + bitmap.serialized_size());
    stored.extend_from_slice(&MAGIC.to_le_bytes());
    bitmap
        .serialize_into(&mut stored)
        .map_err(|e| DeltaTableError::Generic(format!("deletion vector: {e}")))?;
    Ok(stored)
}

/// The bitmap of stored bytes (magic, then the portable format).
fn decode(stored: &[u8]) -> Result<RoaringTreemap, String> {
    let Some((magic, bitmap)) = stored.split_first_chunk::<4>() else {
        return Err("fewer than four bytes".to_owned());
    };
    if u32::from_le_bytes(*magic) != MAGIC {
        return Err("not a portable roaring bitmap (wrong magic number)".to_owned());
    }
    RoaringTreemap::deserialize_from(bitmap).map_err(|e| format!("malformed bitmap: {e}"))
}

/// The file of a relative descriptor: an optional folder prefix, then the
/// Z85-encoded UUID of `deletion_vector_<uuid>.bin`.
fn relative_path(encoded: &str) -> Result<Path, String> {
    let cut = encoded
        .len()
        .checked_sub(UUID_CHARS)
        .filter(|&at| encoded.is_char_boundary(at))
        .ok_or_else(|| "a relative descriptor shorter than a UUID".to_owned())?;
    let (prefix, id) = encoded.split_at(cut);
    let uuid = z85::decode(id)
        .ok()
        .and_then(|b| uuid::Uuid::from_slice(&b).ok())
        .ok_or_else(|| "a relative descriptor without a Z85 UUID".to_owned())?;
    let name = format!("deletion_vector_{uuid}.bin");
    Ok(if prefix.is_empty() {
        Path::from(name)
    } else {
        Path::from(format!("{prefix}/{name}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bytes_round_trip() {
        let bitmap: RoaringTreemap = [0_u64, 3, 62_499, 1 << 33].into_iter().collect();
        let stored = encode(&bitmap).expect("encodes");
        assert_eq!(&stored[..4], &MAGIC.to_le_bytes());
        assert_eq!(decode(&stored).expect("decodes"), bitmap);
        assert!(decode(&stored[..3]).is_err());
        let mut wrong = stored.clone();
        wrong[0] ^= 1;
        assert!(decode(&wrong).is_err());
    }

    #[test]
    fn relative_paths_keep_their_prefix() {
        let uuid = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let id = z85::encode(uuid.as_bytes());
        assert_eq!(id.len(), UUID_CHARS);
        assert_eq!(
            relative_path(&id).expect("a path").as_ref(),
            format!("deletion_vector_{uuid}.bin")
        );
        assert_eq!(
            relative_path(&format!("ab{id}")).expect("a path").as_ref(),
            format!("ab/deletion_vector_{uuid}.bin")
        );
        assert!(relative_path("short").is_err());
    }
}
