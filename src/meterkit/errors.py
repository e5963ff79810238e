"""The one exception hierarchy of meterkit.

Everything meterkit raises on purpose derives from :class:`MeterkitError`.  The tree separates
who is at fault:

* :class:`LocalProtocolError` - this program used the protocol API wrongly (a bug or misuse here).
* :class:`RemoteProtocolError` - the peer sent bytes that break the protocol; carries the bytes.
* :class:`TransportError` - the line, socket or device failed or timed out.
* :class:`SecurityError` - authentication material is wrong, expired, tampered or locked out.
* :class:`ConfigError` - a setting or configuration file is invalid.
* :class:`DataError` - an input file (load profile, key package, state) is malformed.
* :class:`DeviceError` - a meter refused a request (error message, NAK after retries).

A meter's *normal* refusals inside the protocol (an error data set, a NAK, a refused write) are values
in the protocol layer, not exceptions.  The client library turns them into :class:`DeviceError` only
where a caller asked for a value and did not get one.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DeviceError",
    "LocalProtocolError",
    "MeterkitError",
    "ProtocolError",
    "RemoteProtocolError",
    "SecurityError",
    "TransportError",
    "TransportTimeout",
]


class MeterkitError(Exception):
    """Root of every error meterkit raises on purpose."""


class ProtocolError(MeterkitError):
    """Something about the IEC 62056-21 exchange is wrong.

    ``data`` holds the offending bytes (possibly empty) so a trace can show them.
    """

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = bytes(data)

    def __str__(self) -> str:
        base = super().__str__()
        if self.data:
            shown = self.data if len(self.data) <= 64 else self.data[:64] + b"..."
            return f"{base} (bytes: {shown!r})"
        return base


class LocalProtocolError(ProtocolError):
    """This side tried something the protocol state does not allow (API misuse)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that violate the protocol (framing, BCC, syntax, length limits)."""


class TransportError(MeterkitError):
    """The underlying line (serial, TCP, pty) failed."""


class TransportTimeout(TransportError):
    """No (complete) answer arrived in time."""


class SecurityError(MeterkitError):
    """Authentication or key material was refused (wrong, expired, tampered, locked out)."""


class ConfigError(MeterkitError):
    """A setting or configuration file is invalid; the message says which and why."""


class DataError(MeterkitError):
    """An input file or stored state is malformed; the message names the place."""


class DeviceError(MeterkitError):
    """The meter refused a request (error message, NAK after retries, unexpected break)."""
