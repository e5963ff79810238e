"""Load-profile files: reading (CSV dialects, Parquet, data frames, arrays) onto an exact integer grid, and writing
the meter's own profile in the same format.  Used by the analytics and by the meter's replay; imports neither."""

from .grid import LoadProfile, profile_from_arrays, read_load_profile

__all__ = ["LoadProfile", "profile_from_arrays", "read_load_profile"]
