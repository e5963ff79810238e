"""The virtual meter: metrology, demand, billing, tariffs, logs, and its optical-port sessions."""
