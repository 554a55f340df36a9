"""Durable mode: the journal, snapshots and recovery of a data directory."""

from .log import TailDamage, frame, read_frames
from .store import FSYNC_POLICIES, DataDirLocked, Recovered, Store

__all__ = ["FSYNC_POLICIES", "DataDirLocked", "Recovered", "Store", "TailDamage", "frame", "read_frames"]
