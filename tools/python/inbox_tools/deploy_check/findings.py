"""Findings and how they are printed."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "ERROR"
WARNING = "WARN"


@dataclass(frozen=True)
class Finding:
    """One problem found by a check."""

    rule: str
    severity: str
    subject: str
    message: str

    def format(self, source: str = "") -> str:
        where = f"{source}: " if source else ""
        return f"{self.severity:5} [{self.rule}] {where}{self.subject}: {self.message}"


def error(rule: str, subject: str, message: str) -> Finding:
    return Finding(rule, ERROR, subject, message)


def warning(rule: str, subject: str, message: str) -> Finding:
    return Finding(rule, WARNING, subject, message)
