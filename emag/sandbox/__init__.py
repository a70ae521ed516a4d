"""The eMAG Marketplace API sandbox: see `Sandbox` and docs/architecture.md ("The sandbox")."""

from emag.sandbox.faults import FAULT_KINDS, FaultSpecError, parse_faults
from emag.sandbox.handler import DEFAULT_ACCOUNTS, Sandbox
from emag.sandbox.injection import CorruptedRecord, DriftEvent
from emag.sandbox.wire import LogEntry, SandboxResponse

__all__ = [
    "DEFAULT_ACCOUNTS",
    "FAULT_KINDS",
    "CorruptedRecord",
    "DriftEvent",
    "FaultSpecError",
    "LogEntry",
    "Sandbox",
    "SandboxResponse",
    "parse_faults",
]
