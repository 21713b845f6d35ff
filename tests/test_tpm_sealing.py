"""TPM sealing of the parameter set against a real software TPM (swtpm, see conftest.py).

Oracles: the parameter set that went in (``Params`` equality and its encoding), the TPM's
own dictionary-attack counter, and a second swtpm instance standing for "another TPM".
"""

from __future__ import annotations

import os
import stat
import struct

import numpy as np
import pytest

from dynamarks import cli
from dynamarks.host import sealing, tpm
from dynamarks.host.params import keygen, save_params
from dynamarks.host.sealing import SealedFileError, load_secret_params, seal_params

pytestmark = pytest.mark.tpm


@pytest.fixture
def params():
    return keygen(classes=10, seed=1234)


def test_roundtrip_and_file_mode(swtpm, params, tmp_path):
    out = tmp_path / "secrets.sealed"
    seal_params(params, out, tcti=swtpm.tcti)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert load_secret_params(out, tcti=swtpm.tcti) == params
    # A second seal of the same parameters uses a fresh key and nonce.
    out2 = tmp_path / "again.sealed"
    seal_params(params, out2, tcti=swtpm.tcti)
    assert out.read_bytes() != out2.read_bytes()
    assert load_secret_params(out2, tcti=swtpm.tcti) == params


def test_file_never_contains_a_parameter_in_clear(swtpm, params, tmp_path):
    out = tmp_path / "secrets.sealed"
    seal_params(params, out, tcti=swtpm.tcti, pcrs=[16])
    blob = out.read_bytes()
    encoded = params.encode()
    assert encoded not in blob
    assert params.key not in blob and params.iv not in blob
    # No 8-byte window of the encoding (header, key, IV, any table row) appears in the file.
    windows = {encoded[k : k + 8] for k in range(len(encoded) - 7)}
    leaked = [w.hex() for w in windows if w in blob]
    assert not leaked, f"plaintext fragments in the sealed file: {leaked[:5]}"
    assert b"DMKP" not in blob
    # The 4-byte config words of the key and IV are not there either.
    for w in struct.unpack("<5I", params.key + params.iv):
        assert struct.pack("<I", w) not in blob


def test_header_is_versioned(swtpm, params, tmp_path):
    out = tmp_path / "s.sealed"
    seal_params(params, out, tcti=swtpm.tcti, pcrs=[16], auth=b"pw")
    sf = sealing.read_sealed_file(out)
    assert out.read_bytes()[:8] == sealing.MAGIC
    assert sf.sealed.pcrs == (16,) and sf.sealed.auth_required
    good = out.read_bytes()
    data = bytearray(good)
    data[9] = 2  # version 2
    with pytest.raises(SealedFileError, match="version 2"):
        sealing.decode_sealed_file(bytes(data))
    with pytest.raises(SealedFileError, match="magic"):
        sealing.decode_sealed_file(b"XXXXXXXX" + bytes(data[8:]))
    with pytest.raises(SealedFileError, match="truncated"):
        sealing.decode_sealed_file(good[:60])


def test_pcr_policy_fails_after_extend(swtpm, params, tmp_path):
    out = tmp_path / "s.sealed"
    seal_params(params, out, tcti=swtpm.tcti, pcrs=[16])
    assert load_secret_params(out, tcti=swtpm.tcti) == params
    with tpm.open_tpm(swtpm.tcti) as ctx:
        tpm.extend_pcr(ctx, 16, b"something else booted")
    with pytest.raises(tpm.TpmPolicyError, match="PCR state changed"):
        load_secret_params(out, tcti=swtpm.tcti)


def test_wrong_auth_is_not_retried_and_counts_once(swtpm, params, tmp_path):
    out = tmp_path / "s.sealed"
    seal_params(params, out, tcti=swtpm.tcti, auth=b"correct horse")
    with tpm.open_tpm(swtpm.tcti) as ctx:
        before = tpm.lockout_counter(ctx)
    with pytest.raises(tpm.TpmAuthError, match="wrong auth"):
        load_secret_params(out, tcti=swtpm.tcti, auth=b"battery staple")
    with tpm.open_tpm(swtpm.tcti) as ctx:
        assert tpm.lockout_counter(ctx) == before + 1  # exactly one attempt reached the TPM
    with pytest.raises(tpm.TpmAuthError, match="needs an auth value"):
        load_secret_params(out, tcti=swtpm.tcti)  # refused before touching the TPM
    assert load_secret_params(out, tcti=swtpm.tcti, auth=b"correct horse") == params
    plain = tmp_path / "plain.sealed"
    seal_params(params, plain, tcti=swtpm.tcti)
    with pytest.raises(tpm.TpmAuthError, match="without an auth value"):
        load_secret_params(plain, tcti=swtpm.tcti, auth=b"x")  # refused, nothing counted
    with tpm.open_tpm(swtpm.tcti) as ctx:
        assert tpm.lockout_counter(ctx) == before + 1


def test_dictionary_attack_lockout_is_reported(swtpm, params, tmp_path):
    out = tmp_path / "s.sealed"
    seal_params(params, out, tcti=swtpm.tcti, pcrs=[16], auth=b"pw")
    with tpm.open_tpm(swtpm.tcti) as ctx:
        ctx.dictionary_attack_parameters(1, 1000, 1000)  # lock out after one failure
    with pytest.raises(tpm.TpmAuthError):
        load_secret_params(out, tcti=swtpm.tcti, auth=b"nope")
    with pytest.raises(tpm.TpmLockoutError, match="lockout"):
        load_secret_params(out, tcti=swtpm.tcti, auth=b"pw")


def test_tampered_file_is_refused(swtpm, params, tmp_path):
    out = tmp_path / "s.sealed"
    seal_params(params, out, tcti=swtpm.tcti)
    good = out.read_bytes()
    sf = sealing.read_sealed_file(out)

    def flipped(offset: int) -> bytes:
        b = bytearray(good)
        b[offset] ^= 0x01
        return bytes(b)

    # Ciphertext (last bytes, incl. the GCM tag): the TPM is happy, AES-GCM is not.
    out.write_bytes(flipped(len(good) - 20))
    with pytest.raises(SealedFileError, match="tampered"):
        load_secret_params(out, tcti=swtpm.tcti)
    # Nonce: part of the AAD and the GCM input.
    out.write_bytes(flipped(len(good) - len(sf.ciphertext) - 4 - 1))
    with pytest.raises(SealedFileError, match="tampered"):
        load_secret_params(out, tcti=swtpm.tcti)
    # The TPM's private blob: its integrity check fails in TPM2_Load.
    priv_at = good.index(sf.sealed.private)
    out.write_bytes(flipped(priv_at + len(sf.sealed.private) - 3))
    with pytest.raises(tpm.TpmForeignObject, match="altered"):
        load_secret_params(out, tcti=swtpm.tcti)
    # Truncation.
    out.write_bytes(good[:-7])
    with pytest.raises(SealedFileError, match="truncated"):
        load_secret_params(out, tcti=swtpm.tcti)


def test_file_from_another_tpm(swtpm_factory, params, tmp_path):
    first, second = swtpm_factory(), swtpm_factory()
    out = tmp_path / "s.sealed"
    seal_params(params, out, tcti=first.tcti)
    with pytest.raises(tpm.TpmForeignObject, match="another TPM"):
        load_secret_params(out, tcti=second.tcti)
    assert load_secret_params(out, tcti=first.tcti) == params


def test_unreachable_tpm_writes_nothing(swtpm, params, tmp_path):
    out = tmp_path / "s.sealed"
    dead = "swtpm:host=127.0.0.1,port=1"
    with pytest.raises(tpm.TpmUnreachable, match="cannot reach a TPM"):
        seal_params(params, out, tcti=dead)
    assert not out.exists() and os.listdir(tmp_path) == [swtpm.state_dir.name]
    seal_params(params, out, tcti=swtpm.tcti)
    with pytest.raises(tpm.TpmUnreachable):
        load_secret_params(out, tcti=dead)
    swtpm.stop()
    with pytest.raises(tpm.TpmUnreachable):
        load_secret_params(out, tcti=swtpm.tcti)


def test_seal_cli(swtpm, params, tmp_path, capsys):
    pfile, out = tmp_path / "params.dmk", tmp_path / "secrets.sealed"
    save_params(params, pfile)
    argv = ["seal", "--params", str(pfile), "-o", str(out), "--tcti", swtpm.tcti]
    assert cli.main([*argv, "--pcr", "16", "--auth", "str:s3cret"]) == 0
    assert "PCR 16" in capsys.readouterr().out
    before = out.read_bytes()
    assert cli.main(argv) == 2  # exists, no --force: refused, file unchanged
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert load_secret_params(out, tcti=swtpm.tcti, auth=b"s3cret") == params
    # An unreachable TPM: one-line error, exit 2, no file.
    out2 = tmp_path / "other.sealed"
    assert cli.main(["seal", "--params", str(pfile), "-o", str(out2), "--tcti",
                     "swtpm:host=127.0.0.1,port=1"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach a TPM" in err and not out2.exists()
    assert params.key.hex() not in err


def test_read_auth_specs(tmp_path, monkeypatch):
    monkeypatch.setenv("DMK_TEST_AUTH", "from-env")
    f = tmp_path / "auth.txt"
    f.write_bytes(b"from-file\nsecond line")
    assert sealing.read_auth("env:DMK_TEST_AUTH") == b"from-env"
    assert sealing.read_auth(f"file:{f}") == b"from-file"
    assert sealing.read_auth("str:x:y") == b"x:y"
    assert sealing.read_auth(None) == b""


def test_open_sealed_backend(swtpm, params, tmp_path):
    from dynamarks.host.driver import open_sealed_backend
    from dynamarks.host.reference import ReferenceUnit
    from tests.strategies import random_vectors

    out = tmp_path / "s.sealed"
    seal_params(params, out, tcti=swtpm.tcti, pcrs=[16], auth=b"pw")
    p = random_vectors(np.random.default_rng(0), 50, params)
    with open_sealed_backend("reference", out, tcti=swtpm.tcti, auth=b"pw") as be:
        assert (be.process(p) == ReferenceUnit(params).process(p)).all()
    with tpm.open_tpm(swtpm.tcti) as ctx:
        tpm.extend_pcr(ctx, 16, b"x")
    with pytest.raises(tpm.TpmPolicyError):
        open_sealed_backend("reference", out, tcti=swtpm.tcti, auth=b"pw")
