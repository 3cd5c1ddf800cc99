"""Master-key providers: environment, keyring file, KMS-style; wrapped keys survive a rotation."""

import stat

import pytest

from sync_pipeline.store.keys import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyUnavailable,
    KmsKeyProvider,
    LocalKms,
    generate_key,
    provider_from_spec,
)


def _roundtrip_across_rotation(provider, rotate) -> None:
    data_key = b"k" * 32
    kid, wrapped = provider.wrap(data_key, "data_key:d1")
    provider = rotate()
    assert provider.current_key_id() != kid
    assert provider.unwrap(kid, wrapped, "data_key:d1") == data_key  # the old master key still unwraps
    new_kid, _ = provider.wrap(data_key, "data_key:d1")
    assert new_kid == provider.current_key_id()
    with pytest.raises(KeyUnavailable, match="does not unwrap"):
        provider.unwrap(kid, wrapped, "data_key:d2")  # bound to its context


def test_file_keyring_is_private_and_rotates(tmp_path):
    path = tmp_path / "keys" / "keyring.json"
    provider = FileKeyProvider(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    def rotate():
        provider.rotate()
        return FileKeyProvider(path)  # what another process reads afterwards

    _roundtrip_across_rotation(provider, rotate)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_env_provider_first_key_is_current_and_old_ones_still_unwrap():
    old = generate_key()
    provider = EnvKeyProvider("KEYS", {"KEYS": old})
    _roundtrip_across_rotation(provider, lambda: EnvKeyProvider("KEYS", {"KEYS": f"{generate_key()},{old}"}))
    with pytest.raises(KeyUnavailable, match="KEYS is empty"):
        EnvKeyProvider("KEYS", {})
    with pytest.raises(KeyUnavailable, match="must be 32"):
        EnvKeyProvider("KEYS", {"KEYS": "k1:c2hvcnQ"})


def test_kms_provider_never_holds_master_keys(tmp_path):
    kms = LocalKms(tmp_path / "kms")
    provider = KmsKeyProvider(kms)
    assert not hasattr(provider, "_keys")
    _roundtrip_across_rotation(provider, lambda: (provider.rotate(), provider)[1])
    assert len(kms.key_ids()) == 2


def test_spec_names_the_provider(tmp_path):
    assert isinstance(provider_from_spec(f"file:{tmp_path / 'k.json'}"), FileKeyProvider)
    assert isinstance(provider_from_spec(f"local-kms:{tmp_path / 'kms'}"), KmsKeyProvider)
    with pytest.raises(KeyUnavailable, match="is not a key provider"):
        provider_from_spec("vault:nowhere")
