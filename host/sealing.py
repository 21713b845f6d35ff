"""Secrets at rest: the parameter set encrypted under a TPM-sealed key (the ``.sealed`` file).

A fresh 32-byte AES key is sealed in the TPM (:mod:`dynamarks.host.tpm`; a sealed object
holds at most 128 bytes, the 592-byte parameter set does not fit), and the encoded parameter
set (``Params.encode()``, SPEC §3.2) is stored next to it as an AES-256-GCM ciphertext.
The file never holds a parameter, the key or the IV in clear; unsealing happens only in
memory (:func:`load_secret_params`).

File format, version 1 (all integers big-endian, like the TPM's own structures)::

    offset size  field
    0      8     magic b"DMKSEAL\\0"
    8      2     version = 1
    10     2     flags: bit 0 = an auth value is needed to unseal
    12     2     PCR bank (TPM2_ALG_SHA256 = 0x000B)
    14     4     PCR selection bitmask (bit k = PCR k; 0 = no PCR policy)
    18     2+n   parent name: the TPM name of the storage key the object was sealed under
    ..     2+n   sealed object's public area (TPM2B_PUBLIC, marshalled)
    ..     2+n   sealed object's private area (TPM2B_PRIVATE, marshalled; encrypted by the TPM)
    ..     12    AES-GCM nonce
    ..     4+n   ciphertext of Params.encode() with the 16-byte GCM tag appended

The GCM associated data is every byte before the ciphertext's length field, so a changed
header, PCR selection or blob is detected even where the TPM itself would not notice.
Files are written atomically with mode 0600: an error leaves no file behind.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dynamarks.host.atomic import check_writable, write_bytes_atomic
from dynamarks.host.errors import DynamarksError
from dynamarks.host.params import Params
from dynamarks.host.tpm import SealedObject, open_tpm, seal_secret, unseal_secret

MAGIC = b"DMKSEAL\0"
VERSION = 1
FLAG_AUTH = 0x0001
ALG_SHA256 = 0x000B
KEY_BYTES = 32
NONCE_BYTES = 12
_HEAD = struct.Struct(">8sHHHI")


class SealedFileError(DynamarksError):
    """The sealed file is unreadable, malformed, of an unknown version, or was tampered with."""


@dataclass(frozen=True)
class SealedFile:
    """A parsed ``.sealed`` file: the TPM object plus the encrypted parameter set."""

    sealed: SealedObject
    nonce: bytes
    ciphertext: bytes
    aad: bytes

    def __repr__(self) -> str:
        return f"SealedFile(pcrs={self.sealed.pcrs}, auth={self.sealed.auth_required})"


def _pcr_mask(pcrs: Sequence[int]) -> int:
    mask = 0
    for p in pcrs:
        mask |= 1 << p
    return mask


def _lv(data: bytes, width: str = "H") -> bytes:
    return struct.pack(f">{width}", len(data)) + data


def encode_sealed_file(sealed: SealedObject, nonce: bytes, ciphertext: bytes) -> bytes:
    """Serialise a sealed file (see the module docstring)."""
    head = _HEAD.pack(
        MAGIC,
        VERSION,
        FLAG_AUTH if sealed.auth_required else 0,
        ALG_SHA256,
        _pcr_mask(sealed.pcrs),
    )
    aad = head + _lv(sealed.parent_name) + _lv(sealed.public) + _lv(sealed.private) + nonce
    return aad + _lv(ciphertext, "I")


def _aad_for(sealed: SealedObject, nonce: bytes) -> bytes:
    return encode_sealed_file(sealed, nonce, b"")[:-4]


def decode_sealed_file(data: bytes) -> SealedFile:
    """Parse a sealed file; raise :class:`SealedFileError` on anything malformed."""
    if len(data) < _HEAD.size or data[:8] != MAGIC:
        raise SealedFileError("not a DynaMarks sealed file (bad magic)")
    _magic, version, flags, bank, mask = _HEAD.unpack_from(data)
    if version != VERSION:
        raise SealedFileError(f"unsupported sealed-file version {version} (this tool reads 1)")
    if bank != ALG_SHA256 or flags & ~FLAG_AUTH or mask >> 24:
        raise SealedFileError("sealed file has an unknown PCR bank, flag or PCR index")
    off = _HEAD.size
    fields = []
    try:
        for _ in range(3):
            (n,) = struct.unpack_from(">H", data, off)
            fields.append(data[off + 2 : off + 2 + n])
            if len(fields[-1]) != n:
                raise struct.error
            off += 2 + n
        nonce = data[off : off + NONCE_BYTES]
        off += NONCE_BYTES
        aad = data[:off]
        (n,) = struct.unpack_from(">I", data, off)
        ciphertext = data[off + 4 : off + 4 + n]
    except struct.error:
        raise SealedFileError("sealed file is truncated") from None
    if len(nonce) != NONCE_BYTES or len(ciphertext) != n or off + 4 + n != len(data):
        raise SealedFileError("sealed file is truncated or has trailing bytes")
    sealed = SealedObject(
        public=fields[1],
        private=fields[2],
        parent_name=fields[0],
        pcrs=tuple(k for k in range(24) if mask >> k & 1),
        auth_required=bool(flags & FLAG_AUTH),
    )
    return SealedFile(sealed=sealed, nonce=nonce, ciphertext=ciphertext, aad=aad)


def seal_params(
    params: Params,
    path: str | os.PathLike[str],
    *,
    tcti: str | None = None,
    pcrs: Sequence[int] = (),
    auth: bytes = b"",
    overwrite: bool = False,
) -> None:
    """Seal ``params`` into the file ``path`` with the TPM at ``tcti``.

    Nothing is written unless every TPM and crypto step succeeded.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    plaintext = params.validate().encode()
    path = check_writable(path, overwrite=overwrite)  # before the TPM is asked anything
    key = secrets.token_bytes(KEY_BYTES)
    with open_tpm(tcti) as ctx:
        sealed = seal_secret(ctx, key, pcrs=pcrs, auth=auth)
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, _aad_for(sealed, nonce))
    del key
    write_bytes_atomic(path, encode_sealed_file(sealed, nonce, ciphertext), mode=0o600,
                       overwrite=overwrite)


def read_sealed_file(path: str | os.PathLike[str]) -> SealedFile:
    """Read and parse ``path`` (no TPM access)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SealedFileError(f"cannot read sealed file {path}: {exc.strerror}") from None
    return decode_sealed_file(data)


def load_secret_params(
    path: str | os.PathLike[str], tcti: str | None = None, auth: bytes = b""
) -> Params:
    """Unseal the parameter set of ``path`` into memory with the TPM at ``tcti``.

    This is what every verb's ``--secrets`` option calls before it configures a device, so
    that a failure here leaves no device half-configured. Raises a
    :class:`~dynamarks.host.tpm.TpmError` (unreachable TPM, PCRs changed, wrong auth,
    lockout, other TPM) or :class:`SealedFileError` (malformed or tampered file).
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sf = read_sealed_file(path)
    with open_tpm(tcti) as ctx:
        key = unseal_secret(ctx, sf.sealed, auth=auth)
    if len(key) != KEY_BYTES:
        raise SealedFileError("the unsealed key has the wrong length; the file was tampered with")
    try:
        plaintext = AESGCM(key).decrypt(sf.nonce, sf.ciphertext, sf.aad)
    except InvalidTag:
        raise SealedFileError(
            f"{path} was tampered with (authentication tag mismatch); nothing was loaded"
        ) from None
    finally:
        del key
    return Params.decode(plaintext)


def read_auth(spec: str | None) -> bytes:
    """An auth value from a tpm2-tools-like spec: ``str:VALUE``, ``env:VAR``, ``file:PATH``
    (first line, newline stripped), or a plain string. ``None`` or empty: no auth value."""
    if not spec:
        return b""
    if spec.startswith("env:"):
        value = os.environ.get(spec[4:])
        if value is None:
            raise DynamarksError(f"--auth: environment variable {spec[4:]} is not set")
        return value.encode()
    if spec.startswith("file:"):
        try:
            return Path(spec[5:]).read_bytes().split(b"\n", 1)[0]
        except OSError as exc:
            raise DynamarksError(f"--auth: cannot read {spec[5:]}: {exc.strerror}") from None
    if spec.startswith("str:"):
        return spec[4:].encode()
    return spec.encode()
