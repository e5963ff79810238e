"""The hand-held unit: reads and programs IEC 62056-21 meters through any transport."""

from .auth import Authenticator, PasswordAuthenticator
from .hhu import MeterClient, Readout

__all__ = ["Authenticator", "MeterClient", "PasswordAuthenticator", "Readout"]
