"""Errors a user can act on. The CLI prints them as one line; they never carry a secret."""


class DynamarksError(Exception):
    """Base class: bad input, bad parameters, unreachable device or TPM."""


class ParameterError(DynamarksError):
    """A parameter set that fails SPEC §3.1 or a malformed encoding (SPEC §3.2)."""


class InputError(DynamarksError):
    """Input vectors that SPEC §2 refuses (NaN/Inf, negative, wrong length, sum far from 1)."""
