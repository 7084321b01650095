#![allow(clippy::unwrap_used)]

use super::{MasterKey, Vault, VaultError};

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

#[test]
fn a_sealed_value_opens_for_its_name_only_and_hides_the_plaintext() {
    let vault = Vault::new(key(1), None);
    let sealed = vault.seal("openai-eu", "sk-live-secret").unwrap();
    assert!(
        !sealed.windows(6).any(|w| w == b"secret"),
        "plaintext must not appear"
    );
    assert_eq!(vault.open("openai-eu", &sealed).unwrap(), "sk-live-secret");
    assert!(matches!(
        vault.open("other-row", &sealed),
        Err(VaultError::Corrupt)
    ));
    let again = vault.seal("openai-eu", "sk-live-secret").unwrap();
    assert_ne!(sealed, again, "a fresh nonce each time");
}

#[test]
fn a_flipped_bit_or_a_short_value_does_not_open() {
    let vault = Vault::new(key(1), None);
    let mut sealed = vault.seal("p", "value").unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    assert!(matches!(vault.open("p", &sealed), Err(VaultError::Corrupt)));
    assert!(matches!(
        vault.open("p", &[1, 2, 3]),
        Err(VaultError::Corrupt)
    ));
}

#[test]
fn rotation_opens_old_values_with_the_previous_key_and_flags_them() {
    let old = Vault::new(key(1), None);
    let sealed = old.seal("p", "k").unwrap();
    let rotated = Vault::new(key(2), Some(key(1)));
    assert_eq!(rotated.open("p", &sealed).unwrap(), "k");
    assert!(rotated.needs_reseal(&sealed));
    let resealed = rotated.seal("p", "k").unwrap();
    assert!(!rotated.needs_reseal(&resealed));
    let without_previous = Vault::new(key(2), None);
    match without_previous.open("p", &sealed) {
        Err(VaultError::UnknownKey(id)) => assert_eq!(id, key(1).id()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hex_keys_round_trip_and_bad_ones_are_refused() {
    let k = MasterKey::generate().unwrap();
    let back = MasterKey::from_hex(&format!("  {}\n", k.to_hex()), "env").unwrap();
    assert_eq!(back.id(), k.id());
    for bad in ["", "zz", &"g".repeat(64), &"a".repeat(63)] {
        assert!(matches!(
            MasterKey::from_hex(bad, "PATCHBAY_MASTER_KEY"),
            Err(VaultError::BadKey { .. })
        ));
    }
}

#[test]
fn the_key_file_is_created_private_once_and_read_back() {
    let dir = std::env::temp_dir().join(format!("pb-vault-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("master.key");
    let _ = std::fs::remove_file(&file);
    let first = MasterKey::load_or_create(None, &file).unwrap();
    let second = MasterKey::load_or_create(None, &file).unwrap();
    assert_eq!(first.id(), second.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let from_env = MasterKey::load_or_create(Some(&key(7).to_hex()), &file).unwrap();
    assert_eq!(
        from_env.id(),
        key(7).id(),
        "the variable wins over the file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
