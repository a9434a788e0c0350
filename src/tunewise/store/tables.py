"""The store's own table: which legacy database files were imported (see legacy.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tunewise.store.base import Base, utcnow


class LegacyImport(Base):
    """One imported file. `fingerprint` (sha256 of the rows read) makes the import idempotent."""

    __tablename__ = "legacy_imports"
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # registry | jobs
    source: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
