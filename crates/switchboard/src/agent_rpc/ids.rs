//! Ids the server makes up: request ids shaped like UUIDv4 (what agents
//! built for Diagox expect to see) and dialog ids unique per call.
//!
//! They only need to be unique, not secret, so `fastrand` does.

/// A random request id in UUIDv4 form.
pub(super) fn new_request_id() -> String {
    let bits = fastrand::u128(..);
    // Version 4 in the third group's first nibble, variant 0b10 in the fourth's.
    let bits = (bits & !(0xf << 76)) | (0x4 << 76);
    let bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        bits >> 96,
        (bits >> 80) & 0xffff,
        (bits >> 64) & 0xffff,
        (bits >> 48) & 0xffff,
        bits & 0xffff_ffff_ffff
    )
}

/// A dialog id for a call: its SIP Call-ID (for tracing), then 64 random bits.
pub(super) fn new_did(call_id: &str) -> String {
    format!("{call_id}__{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuid_v4() {
        for _ in 0..100 {
            let id = new_request_id();
            let groups: Vec<&str> = id.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(groups[2].starts_with('4'), "{id}");
            assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{id}");
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        }
        assert_ne!(new_request_id(), new_request_id());
    }

    #[test]
    fn dids_start_with_the_call_id() {
        let did = new_did("abc@host");
        assert!(did.starts_with("abc@host__"), "{did}");
        assert_eq!(did.len(), "abc@host__".len() + 16);
    }
}
