"""What a meter's error message means, in words a person can act on.

The standard leaves error texts to the manufacturer (at most 32 characters, ``ER`` by convention).  This table
covers the codes of meterkit's virtual meter (documented in :mod:`meterkit.meter.session`), the static test meter and
the LIS-200 ``#nnnn`` codes; an unknown text is shown as it came.
"""

from __future__ import annotations

from ..errors import DeviceError

__all__ = ["MEANINGS", "MeterRefusal", "meaning"]

MEANINGS: dict[str, str] = {
    "ER01": "unknown address or function: check the register address (OBIS) or the function name",
    "ER02": "access level too low: sign on with a higher level (--password, or --key-file with --level 3)",
    "ER03": "invalid value for this register (format or range)",
    "ER04": "command not supported by this meter",
    "ER05": "refused now: the port is locked after failed logins, or the operation is not allowed at this moment",
    "ER06": "terminal cover closed (or the write window after opening it expired): open the cover, then retry",
    "ER10": "authentication failed: wrong password or key",
    "ER11": "request not authenticated: the meter saw a missing, wrong or replayed MAC (a man in the middle?)",
    "ERPASSWORD": "wrong password",
    "ERUNKNOWN": "unknown address",
    "ERNOACCESS": "no write access: sign on with a password first",
    "ERCOMMAND": "command not supported by this meter",
    "#0001": "unknown address (LIS-200)",
    "#0018": "no read authorisation (LIS-200)",
    "#0019": "no write authorisation (LIS-200)",
    "#0201": "wrong password (LIS-200)",
}


def meaning(text: str) -> str | None:
    """The meaning of an error text (``ER02``), or None when the code is not known."""
    return MEANINGS.get(text.strip())


class MeterRefusal(DeviceError):
    """The meter answered a command with an error message.

    ``code`` is the meter's text (``ER02``), ``command`` the refused command (``R1 1.8.0``), ``reason`` what the meter
    says about it where it can be read (``C.91.0`` at level 2 or more), ``bcc_ok`` False when the error text came with
    a wrong BCC (it may be garbled).
    """

    def __init__(
        self, command: str, code: str, *, reason: str = "", note: str = "", bcc_ok: bool | None = None
    ) -> None:
        self.command = command
        self.code = code
        self.reason = reason
        self.note = note
        self.bcc_ok = bcc_ok
        text = f"the meter refused {command}: {code}"
        known = meaning(code)
        if known:
            text += f" ({known})"
        if reason:
            text += f"; the meter says: {reason}"
        if note:
            text += f"; {note}"
        if bcc_ok is False:
            text += " [error message with a wrong BCC: the code may be garbled]"
        super().__init__(text)
