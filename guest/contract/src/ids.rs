//! The formats of the identity the host keeps and the component uses: the installation id
//! (`install_` + 16 hex digits, or `ephemeral_` + 16 for a run that cannot store one) and the
//! pseudonymization key (32 random bytes, written as 64 hex digits).

/// Opens a stored installation id.
pub const INSTALLATION_PREFIX: &str = "install_";
/// Opens an installation id made for one instance, when none can be stored.
pub const EPHEMERAL_PREFIX: &str = "ephemeral_";
/// Hex digits after either prefix.
pub const ID_HEX_DIGITS: usize = 16;
/// Bytes of a pseudonymization key the host makes.
pub const HASH_KEY_BYTES: usize = 32;
/// The shortest key the component takes, in bytes (a shorter one keeps the random default).
pub const MIN_HASH_KEY_BYTES: usize = 16;

/// Whether `id` is a stored installation id: `install_` and 16 hex digits.
pub fn is_installation_id(id: &str) -> bool {
    id.strip_prefix(INSTALLATION_PREFIX)
        .is_some_and(|h| h.len() == ID_HEX_DIGITS && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `key` is a key as the host writes it: 64 hex digits.
pub fn is_hash_key(key: &str) -> bool {
    key.len() == HASH_KEY_BYTES * 2 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installation_ids_have_one_form() {
        assert!(is_installation_id("install_0123456789abcdef"));
        assert!(!is_installation_id("install_0123456789abcde"));
        assert!(!is_installation_id("install_0123456789abcdeg"));
        assert!(!is_installation_id("ephemeral_0123456789abcdef"));
        assert!(!is_installation_id(" install_0123456789abcdef"));
        assert!(is_hash_key(&"ab".repeat(32)));
        assert!(!is_hash_key(&"ab".repeat(31)));
    }
}
