"""TPM 2.0 sealing primitives (tpm2-pytss ESAPI): seal a short secret, unseal it into memory.

The shape follows systemd-cryptenroll and clevis: the TPM keeps no state for us. At seal
and at unseal time the owner hierarchy's *storage root key* (SRK) is re-derived with
``CreatePrimary`` from the TCG's ECC P-256 template (same template, same owner seed, same
key), and the secret is a ``keyedhash`` data object created under it. What comes back from
``Create`` -- the object's public area and its private area, encrypted and integrity
protected by the SRK -- is what the caller stores (:class:`SealedObject`); it is useless
without this very TPM.

Access control of the sealed object:

* no PCRs and no auth value: ``userWithAuth`` with an empty auth value;
* an auth value only: ``userWithAuth``, the auth value checked by the TPM under its
  dictionary-attack (DA) protection (the object is *not* ``noDA``): a wrong value increments
  the TPM's failure counter, and enough of them lock the TPM out. :func:`unseal_secret`
  never retries;
* PCRs (optionally plus an auth value): ``userWithAuth`` cleared and ``authPolicy`` =
  ``PolicyPCR(selection, values at seal time)`` [+ ``PolicyAuthValue``], so a changed PCR
  makes ``Unseal`` fail with ``TPM_RC_POLICY_FAIL``.

Every session is salted with the SRK and uses AES-128-CFB parameter encryption, so neither
the secret (``Create``) nor the unsealed bytes (``Unseal``) cross the TPM's bus in clear.
Every transient object and session is flushed, also on error.

Errors are :class:`TpmError` subclasses that name what went wrong and what to do, and
never carry the secret.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dynamarks.host.errors import DynamarksError

#: The kernel's TPM resource manager, the default way to reach a real TPM.
DEFAULT_TCTI = "device:/dev/tpmrm0"
#: The PCR bank policies are computed over.
PCR_BANK = "sha256"
#: The largest secret a TPM sealed data object takes (TPM2B_SENSITIVE_DATA).
MAX_SEALED_BYTES = 128


class TpmError(DynamarksError):
    """A TPM operation failed; the message says which and why."""


class TpmUnreachable(TpmError):
    """No TPM answers at the TCTI given (no device, no swtpm on that port, no TCTI library)."""


class TpmPolicyError(TpmError):
    """The PCR policy is not satisfied: the PCR state changed since sealing."""


class TpmAuthError(TpmError):
    """The auth value is wrong (counted by the TPM's dictionary-attack protection)."""


class TpmLockoutError(TpmError):
    """The TPM is in dictionary-attack lockout and refuses authorisations for a while."""


class TpmForeignObject(TpmError):
    """The sealed object does not belong to this TPM's storage key, or was altered."""


def _tss():
    """Import tpm2-pytss on first use, so that importing this module never needs it."""
    try:
        import tpm2_pytss  # noqa: F401
    except ImportError as exc:  # pragma: no cover - dependency is pinned in pyproject
        raise TpmError(f"tpm2-pytss is not available: {exc}") from exc
    import tpm2_pytss as t

    return t


def _rc_error(exc: Exception) -> int:
    """The TPM response code of a TSS2_Exception with handle/parameter/session bits removed."""
    return int(getattr(exc, "error", 0) or 0)


@contextlib.contextmanager
def open_tpm(tcti: str | None = None) -> Iterator[object]:
    """An ESAPI context on the TPM at ``tcti`` (default :data:`DEFAULT_TCTI`), closed on exit.

    Raises :class:`TpmUnreachable` when the TCTI cannot be loaded or nothing answers.
    The TSS libraries' own error logging is silenced (``TSS2_LOG``) unless the user set it:
    our exceptions say what failed.
    """
    os.environ.setdefault("TSS2_LOG", "all+NONE")
    t = _tss()
    spec = tcti or DEFAULT_TCTI
    try:
        ctx = t.ESAPI(spec)
    except Exception as exc:  # TSS2_Exception from the TCTI loader/initialiser, or ValueError
        raise TpmUnreachable(
            f"cannot reach a TPM through TCTI {spec!r} ({exc}); is the TPM (or swtpm) running, "
            "and is the TCTI string right (e.g. device:/dev/tpmrm0, "
            "swtpm:host=127.0.0.1,port=2321)?"
        ) from None
    try:
        # A cheap round trip, so that a TCTI that opens lazily fails here, not mid-operation.
        ctx.get_capability(t.TPM2_CAP.TPM_PROPERTIES, t.TPM2_PT.MANUFACTURER, 1)
    except Exception as exc:
        ctx.close()
        raise TpmUnreachable(f"the TPM at TCTI {spec!r} does not answer ({exc})") from None
    try:
        yield ctx
    finally:
        ctx.close()


@dataclass(frozen=True)
class SealedObject:
    """What a caller stores to unseal later: marshalled TPM structures, no secret in clear.

    ``parent_name`` is the SRK's TPM name at seal time (it identifies the TPM's owner seed);
    ``pcrs`` the PCR indices of the policy (empty: no PCR policy), in the :data:`PCR_BANK`
    bank; ``auth_required`` whether unsealing needs an auth value.
    """

    public: bytes
    private: bytes
    parent_name: bytes
    pcrs: tuple[int, ...]
    auth_required: bool


def _pcr_selection(t, pcrs: Sequence[int]):
    return t.TPML_PCR_SELECTION.parse(f"{PCR_BANK}:" + ",".join(str(p) for p in pcrs))


def _check_pcrs(pcrs: Sequence[int]) -> tuple[int, ...]:
    out = tuple(sorted(set(int(p) for p in pcrs)))
    if any(p < 0 or p > 23 for p in out):
        raise TpmError(f"PCR indices must be 0..23, got {list(pcrs)}")
    return out


def _create_srk(ctx, t):
    """Re-derive the owner hierarchy's ECC P-256 storage root key; returns (handle, name)."""
    attrs = (
        t.TPMA_OBJECT.RESTRICTED
        | t.TPMA_OBJECT.DECRYPT
        | t.TPMA_OBJECT.FIXEDTPM
        | t.TPMA_OBJECT.FIXEDPARENT
        | t.TPMA_OBJECT.SENSITIVEDATAORIGIN
        | t.TPMA_OBJECT.USERWITHAUTH
        | t.TPMA_OBJECT.NODA
    )
    template = t.TPM2B_PUBLIC.parse("ecc256:aes128cfb", objectAttributes=attrs)
    try:
        handle, _pub, _cd, _ch, _tk = ctx.create_primary(None, template, t.ESYS_TR.OWNER)
    except t.TSS2_Exception as exc:
        if _rc_error(exc) in (int(t.TPM2_RC.BAD_AUTH), int(t.TPM2_RC.AUTH_FAIL)):
            raise TpmAuthError(
                "the TPM's owner hierarchy has an auth value; this tool needs an empty owner auth"
            ) from None
        if _rc_error(exc) == int(t.TPM2_RC.LOCKOUT):
            raise TpmLockoutError("the TPM is in dictionary-attack lockout") from None
        raise TpmError(f"TPM2_CreatePrimary (storage key) failed: {exc}") from None
    return handle, bytes(ctx.tr_get_name(handle))


def _encrypting_session(ctx, t, srk, kind):
    """A session salted with the SRK, AES-128-CFB parameter encryption both ways."""
    sess = ctx.start_auth_session(
        tpm_key=srk,
        bind=t.ESYS_TR.NONE,
        session_type=kind,
        symmetric=t.TPMT_SYM_DEF.parse("aes128cfb"),
        auth_hash=t.TPM2_ALG.SHA256,
    )
    ctx.trsess_set_attributes(
        sess,
        t.TPMA_SESSION.CONTINUESESSION | t.TPMA_SESSION.DECRYPT | t.TPMA_SESSION.ENCRYPT,
    )
    return sess


def _policy_commands(ctx, t, session, pcrs: tuple[int, ...], auth: bool) -> None:
    """Run the policy assertions of a sealed object in ``session`` (trial or real)."""
    ctx.policy_pcr(session, None, _pcr_selection(t, pcrs))
    if auth:
        ctx.policy_auth_value(session)


def _flush(ctx, handles) -> None:
    for h in handles:
        with contextlib.suppress(Exception):
            ctx.flush_context(h)


def seal_secret(
    ctx, secret: bytes, pcrs: Sequence[int] = (), auth: bytes = b""
) -> SealedObject:
    """Seal ``secret`` (1..128 bytes) under this TPM's SRK; returns the blobs to store.

    With ``pcrs`` the object is bound to those PCRs' *current* values (sha256 bank).
    With ``auth`` unsealing also needs that auth value (DA-protected).
    """
    t = _tss()
    if not 1 <= len(secret) <= MAX_SEALED_BYTES:
        raise TpmError(f"a sealed secret is 1..{MAX_SEALED_BYTES} bytes, got {len(secret)}")
    pcrs = _check_pcrs(pcrs)
    handles = []
    try:
        srk, srk_name = _create_srk(ctx, t)
        handles.append(srk)
        attrs = t.TPMA_OBJECT.FIXEDTPM | t.TPMA_OBJECT.FIXEDPARENT
        policy = b""
        if pcrs:
            trial = ctx.start_auth_session(
                tpm_key=t.ESYS_TR.NONE,
                bind=t.ESYS_TR.NONE,
                session_type=t.TPM2_SE.TRIAL,
                symmetric=None,
                auth_hash=t.TPM2_ALG.SHA256,
            )
            handles.append(trial)
            _policy_commands(ctx, t, trial, pcrs, bool(auth))
            policy = bytes(ctx.policy_get_digest(trial))
        else:
            attrs |= t.TPMA_OBJECT.USERWITHAUTH
        template = t.TPM2B_PUBLIC.parse(
            "keyedhash", objectAttributes=attrs, nameAlg="sha256", authPolicy=policy or None
        )
        sensitive = t.TPM2B_SENSITIVE_CREATE(
            t.TPMS_SENSITIVE_CREATE(
                userAuth=t.TPM2B_AUTH(auth), data=t.TPM2B_SENSITIVE_DATA(secret)
            )
        )
        sess = _encrypting_session(ctx, t, srk, t.TPM2_SE.HMAC)
        handles.append(sess)
        priv, pub, _cd, _ch, _tk = ctx.create(srk, sensitive, template, session1=sess)
    except TpmError:
        raise
    except Exception as exc:
        raise TpmError(f"sealing failed in the TPM: {exc}") from None
    finally:
        _flush(ctx, handles)
    return SealedObject(
        public=bytes(pub.marshal()),
        private=bytes(priv.marshal()),
        parent_name=srk_name,
        pcrs=pcrs,
        auth_required=bool(auth),
    )


def unseal_secret(ctx, obj: SealedObject, auth: bytes = b"") -> bytes:
    """Unseal ``obj`` into memory. One attempt only: a wrong auth value is never retried,
    since every failure counts towards the TPM's dictionary-attack lockout.

    Raises :class:`TpmForeignObject` (other TPM, or blobs altered), :class:`TpmPolicyError`
    (PCRs changed), :class:`TpmAuthError` (wrong auth), :class:`TpmLockoutError`.
    """
    t = _tss()
    if obj.auth_required and not auth:
        raise TpmAuthError("this sealed file needs an auth value (--auth); none was given")
    if auth and not obj.auth_required:
        raise TpmAuthError("this sealed file was sealed without an auth value; drop --auth")
    handles = []
    try:
        srk, srk_name = _create_srk(ctx, t)
        handles.append(srk)
        if srk_name != obj.parent_name:
            raise TpmForeignObject(
                "the sealed file was made by another TPM (its storage key differs from this "
                "TPM's); seal the parameters again on this machine"
            )
        try:
            pub, _ = t.TPM2B_PUBLIC.unmarshal(obj.public)
            priv, _ = t.TPM2B_PRIVATE.unmarshal(obj.private)
            sealed = ctx.load(srk, priv, pub)
        except t.TSS2_Exception as exc:
            raise TpmForeignObject(
                f"the TPM refuses the sealed object ({exc}): the file was altered or comes "
                "from another TPM"
            ) from None
        except Exception as exc:
            raise TpmForeignObject(f"the sealed object is malformed ({exc})") from None
        handles.append(sealed)
        if obj.pcrs:
            sess = _encrypting_session(ctx, t, srk, t.TPM2_SE.POLICY)
            handles.append(sess)
            try:
                _policy_commands(ctx, t, sess, obj.pcrs, obj.auth_required)
            except t.TSS2_Exception as exc:
                raise TpmError(f"TPM policy session failed: {exc}") from None
        else:
            sess = _encrypting_session(ctx, t, srk, t.TPM2_SE.HMAC)
            handles.append(sess)
        ctx.tr_set_auth(sealed, auth)
        try:
            data = ctx.unseal(sealed, session1=sess)
        except t.TSS2_Exception as exc:
            raise _unseal_error(t, exc, obj) from None
        return bytes(data)
    finally:
        _flush(ctx, handles)


def _unseal_error(t, exc: Exception, obj: SealedObject) -> TpmError:
    """Map a TPM2_Unseal failure to an actionable error."""
    rc = _rc_error(exc)
    if rc == int(t.TPM2_RC.POLICY_FAIL) or rc == int(t.TPM2_RC.PCR_CHANGED):
        pcrs = ",".join(map(str, obj.pcrs))
        return TpmPolicyError(
            f"the PCR state changed since sealing (policy on {PCR_BANK} PCR {pcrs} not "
            "satisfied); nothing was unsealed"
        )
    if rc in (int(t.TPM2_RC.AUTH_FAIL), int(t.TPM2_RC.BAD_AUTH)):
        return TpmAuthError(
            "wrong auth value for the sealed object; the TPM counted the failure against its "
            "dictionary-attack limit, so it was not retried"
        )
    if rc == int(t.TPM2_RC.LOCKOUT):
        return TpmLockoutError(
            "the TPM is in dictionary-attack lockout (too many wrong auth values); wait for "
            "the lockout to expire or reset it with the lockout auth"
        )
    return TpmError(f"TPM2_Unseal failed: {exc}")


def extend_pcr(ctx, index: int, data: bytes) -> None:
    """Extend PCR ``index`` of the sha256 bank with sha256(``data``) (tests, demos)."""
    import hashlib

    t = _tss()
    digest = t.TPMT_HA(hashAlg=t.TPM2_ALG.SHA256)
    digest.digest.sha256 = hashlib.sha256(data).digest()
    values = t.TPML_DIGEST_VALUES([digest])
    ctx.pcr_extend(_pcr_handle(t, index), values)


def _pcr_handle(t, index: int):
    return getattr(t.ESYS_TR, f"PCR{index}")


def lockout_counter(ctx) -> int:
    """The TPM's dictionary-attack failure counter (TPM_PT_LOCKOUT_COUNTER)."""
    t = _tss()
    _more, data = ctx.get_capability(t.TPM2_CAP.TPM_PROPERTIES, t.TPM2_PT.LOCKOUT_COUNTER, 1)
    for prop in data.data.tpmProperties:
        if int(prop.property) == int(t.TPM2_PT.LOCKOUT_COUNTER):
            return int(prop.value)
    raise TpmError("the TPM did not report its lockout counter")


# ---- a software TPM for tests and demos ----------------------------------------------------


def _port_pair_free(port: int) -> bool:
    """True when both ``port`` and ``port + 1`` can be bound on 127.0.0.1 right now."""
    import socket

    for p in (port, port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def _free_port_pair() -> int:
    """A port P with P and P+1 free on 127.0.0.1 (the kernel picks P; retried on collision)."""
    import socket

    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_pair_free(port):
            return port
    raise TpmError("no free loopback port pair for swtpm")


class SoftwareTpm:
    """``swtpm socket --tpm2`` on a free loopback port pair (command P, control P+1) with its
    state in ``state_dir``; ``tcti`` is ``swtpm:host=127.0.0.1,port=P``.

    ``start()`` returns once the TPM accepts connections (started up, ``startup-clear``);
    ``stop()`` terminates it (SIGTERM, then SIGKILL). Also a context manager. Each state
    directory is its own TPM (own owner seed): two instances are "two machines".
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        from pathlib import Path

        self.state_dir = Path(state_dir)
        self.port = 0
        self.proc = None

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def start(self) -> SoftwareTpm:
        import shutil
        import socket
        import subprocess
        import time

        exe = shutil.which("swtpm")
        if exe is None:
            raise TpmUnreachable("swtpm is not installed (Debian package swtpm)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        last_err = ""
        for _attempt in range(5):
            port = _free_port_pair()
            proc = subprocess.Popen(
                [
                    exe, "socket", "--tpm2",
                    "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                    "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                    "--tpmstate", f"dir={self.state_dir}",
                    "--flags", "not-need-init,startup-clear",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        self.port, self.proc = port, proc
                        return self
                except OSError:
                    time.sleep(0.05)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                last_err = proc.stderr.read().decode(errors="replace")
                proc.stderr.close()
        raise TpmUnreachable(f"swtpm did not start: {last_err.strip()}")

    def stop(self) -> None:
        """Terminate the process (idempotent)."""
        import subprocess

        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()

    def __enter__(self) -> SoftwareTpm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
