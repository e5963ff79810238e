"""Thin I/O around the sans-IO protocol core: serial/TCP client transport, the async meter server, pty."""

from .base import Transport
from .serial_port import SerialTransport, TcpTransport, open_transport

__all__ = ["SerialTransport", "TcpTransport", "Transport", "open_transport"]
