"""Readers that turn files, folders and stdin into a stream of located raw records."""

from tunix_rt.ingest.readers import (
    Location,
    RawRecord,
    expand_inputs,
    input_size,
    read_records,
)

__all__ = ["Location", "RawRecord", "expand_inputs", "input_size", "read_records"]
