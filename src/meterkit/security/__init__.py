"""Optical-port security: access levels, passwords, OP2-HMAC challenge-response with per-meter keys, lockout,
terminal cover and tamper handling, the security log, and key packages for hand-held units."""

from .keys import MeterIdentity, derive_meter_key
from .port import AlarmSink, PortSecurity, SecurityConfig, SecuritySession

__all__ = ["AlarmSink", "MeterIdentity", "PortSecurity", "SecurityConfig", "SecuritySession", "derive_meter_key"]
