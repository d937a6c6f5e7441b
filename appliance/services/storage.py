"""Free space in the state directory: the reserve that keeps every payment recordable.

A payment writes the journal at least twice: the PENDING row before the request leaves, and the
outcome when the answer arrives. If the second write fails after the bank approved, the card is
charged and the terminal cannot say so. So a new payment is refused *before anything is sent*
when free space on the journal's file system is below ``[state] reserve_kib``; status and the
status screen warn below ``[state] warn_kib``. See docs/storage.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StorageStatus:
    """Free space where the journal lives, against the configured reserve and warning level."""

    directory: Path
    free_kib: int | None  # None: the file system could not be asked (the check then passes)
    reserve_kib: int
    warn_kib: int

    @property
    def level(self) -> str:
        """``ok``, ``low`` (below warn_kib) or ``reserve`` (below reserve_kib: payments refused)."""
        if self.free_kib is None:
            return "ok"
        if self.free_kib < self.reserve_kib:
            return "reserve"
        if self.free_kib < self.warn_kib:
            return "low"
        return "ok"

    @property
    def params(self) -> dict[str, Any]:
        """The parameters of the storage message codes."""
        return {
            "directory": str(self.directory),
            "free_kib": self.free_kib if self.free_kib is not None else "?",
            "reserve_kib": self.reserve_kib,
            "warn_kib": self.warn_kib,
        }

    def as_dict(self) -> dict[str, Any]:
        """The stable machine-readable form (``status --json``: ``storage``)."""
        return {"level": self.level, **self.params, "free_kib": self.free_kib}


def free_kib(directory: Path) -> int | None:
    """KiB an unprivileged writer may still use on ``directory``'s file system (None: unknown)."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize // 1024


def storage_status(config: Any, directory: Path | None = None) -> StorageStatus:
    """Free space of the state directory against ``[state] reserve_kib`` and ``warn_kib``.

    ``directory``: the state directory already resolved (``config.state_dir`` resolves the
    configured path on every call: a few file-system calls a payment need not repeat).
    """
    directory = config.state_dir if directory is None else directory
    return StorageStatus(
        directory=directory,
        free_kib=free_kib(directory),
        reserve_kib=config.state.reserve_kib,
        warn_kib=config.state.warn_kib,
    )
