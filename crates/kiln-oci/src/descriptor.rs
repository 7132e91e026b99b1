//! Descriptor helpers over `oci-spec`'s types, and the [`BlobSource`] trait writers read from.

use std::io::Read;

pub use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use crate::digest::Digest;
use crate::error::Result;

/// A descriptor with the given media type, digest and size.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(
        MediaType::from(media_type),
        size,
        oci_spec::image::Digest::from(digest),
    )
}

/// The descriptor's digest as a kiln [`Digest`] (fails for algorithms kiln does not support).
pub fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest> {
    Digest::try_from(descriptor.digest())
}

/// The descriptor's media type as text.
pub fn descriptor_media_type(descriptor: &Descriptor) -> String {
    descriptor.media_type().to_string()
}

/// Where writers read blobs from (the store, or a map in tests).
pub trait BlobSource {
    /// Opens the blob with `digest` for reading.
    fn open_blob(&self, digest: &Digest) -> std::io::Result<Box<dyn Read + '_>>;

    /// Reads the whole blob with `digest` into memory.
    fn read_blob(&self, digest: &Digest) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_type::OCI_LAYER_GZIP;

    #[test]
    fn descriptor_round_trip() {
        let digest = Digest::sha256_of(b"layer");
        let desc = descriptor(OCI_LAYER_GZIP, &digest, 5);
        assert_eq!(desc.size(), 5);
        assert_eq!(descriptor_media_type(&desc), OCI_LAYER_GZIP);
        assert_eq!(descriptor_digest(&desc).unwrap(), digest);
        let json = serde_json::to_string(&desc).unwrap();
        assert!(json.contains(&format!("\"digest\":\"{digest}\"")), "{json}");
    }
}
