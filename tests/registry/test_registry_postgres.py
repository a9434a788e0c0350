"""The same registry on a real PostgreSQL server (skipped when scripts/postgres.sh cannot start one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import gate, make_adapter, make_dataset
from sqlalchemy import inspect

from tunewise.errors import RegistryError
from tunewise.registry import Registry
from tunewise.store.migrate import current_revision, head_revision, migrate


def test_postgres_flow(tmp_path: Path, pg_url: str) -> None:
    ds = make_dataset(tmp_path)
    with Registry(pg_url) as reg:
        assert reg.engine.dialect.name == "postgresql"
        assert current_revision(reg.engine) == head_revision()
        migrate(reg.engine)  # idempotent
        assert "alias_events" in inspect(reg.engine).get_table_names()
        for i, name in enumerate(("m1", "m2")):
            reg.register_model(make_adapter(tmp_path / "runs", name, ds, seed=i))
        with pytest.raises(RegistryError, match="no gate decision"):
            reg.promote("m1", "support")
        reg.record_gate(gate("m1", "base"), feature="support")
        reg.promote("m1", "support", reason="first")
        reg.record_gate(gate("m2", "m1"), feature="support")
        reg.promote("m2", "support", reason="better")
        assert reg.rollback("support")["model"] == "m1"
        assert reg.routing_table()["routes"]["support@production"]["model"] == "m1"
    with Registry(pg_url) as reg:  # reopen: schema at head, data kept
        assert [e["model"] for e in reg.history("support")] == ["m1", "m2", "m1"]
        (tmp_path / "runs" / "m1" / "adapter_model.safetensors").write_bytes(b"x")
        with pytest.raises(RegistryError, match="changed since registration"):
            reg.routing_table()
