"""The hand-held unit: reads and programs IEC 62056-21 meters through any transport."""

from .auth import Authenticator, PasswordAuthenticator
from .hhu import BinaryLink, MeterClient, Readout

__all__ = ["Authenticator", "BinaryLink", "MeterClient", "PasswordAuthenticator", "Readout"]
