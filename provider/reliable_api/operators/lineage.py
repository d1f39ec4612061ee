"""OpenLineage for the provider's operators: the datasets a task read and wrote, and its checks.

The naming follows OpenLineage's conventions: an API resource is ``{scheme}://{host}[:{port}]`` +
its path; a table ``postgres://{host}:{port}`` + ``{database}.{schema}.{table}`` (MySQL
``mysql://{host}:{port}`` + ``{database}.{table}``, SQLite ``sqlite://{file}`` + ``{table}``); a
staged batch its storage (``file``, ``s3://{bucket}``) + its path, so that extract, validate and
load join up into one graph.

Operators call :func:`api_dataset` and friends while they run (cheap, no OpenLineage import) and
:func:`operator_lineage` when the OpenLineage listener asks; it returns ``None`` when the
OpenLineage provider is not installed, and a facet it cannot build is logged, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetId:
    """An OpenLineage dataset's identity."""

    namespace: str
    name: str


@dataclass
class TaskLineage:
    """What one task read and wrote, and the data-quality assertions on what it read."""

    inputs: list[DatasetId] = field(default_factory=list)
    outputs: list[DatasetId] = field(default_factory=list)
    #: the validation summary (``expectations`` of :meth:`GxValidationResult.summary_dict`)
    quality: Mapping[str, Any] | None = None


def api_dataset(base_url: str, path: str) -> DatasetId:
    """An API resource: ``https://api.example.com`` + ``/v1/contacts``."""
    parts = urlsplit(base_url)
    base_path = parts.path.rstrip("/")
    resource = path if path.startswith(("http://", "https://")) else f"{base_path}/{path.lstrip('/')}"
    if resource.startswith(("http://", "https://")):
        return api_dataset(resource, "")
    return DatasetId(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", resource.rstrip("/") or "/")


def table_dataset(url: str, table: str, schema: str | None = None) -> DatasetId:
    """A table behind a SQLAlchemy URL (credentials left out)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return DatasetId(f"sqlite://{parsed.database or ':memory:'}", table)
    if backend in ("mysql", "mariadb"):
        return DatasetId(f"mysql://{parsed.host}:{parsed.port or 3306}", f"{parsed.database}.{table}")
    namespace = f"{'postgres' if backend == 'postgresql' else backend}://{parsed.host}:{parsed.port or 5432}"
    return DatasetId(namespace, f"{parsed.database}.{schema or 'public'}.{table}")


def staged_dataset(batch: Mapping[str, Any] | str | Sequence[Any]) -> DatasetId | None:
    """A staged batch (its XCom dict or path); ``None`` for records given inline."""
    path = batch.get("path") if isinstance(batch, Mapping) else batch
    if not isinstance(path, str) or not path:
        return None
    parts = urlsplit(path)
    if parts.scheme in ("", "file"):
        return DatasetId("file", parts.path if parts.scheme else path)
    return DatasetId(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))


def operator_lineage(lineage: TaskLineage | None) -> Any:
    """The ``OperatorLineage`` of ``lineage``; ``None`` without it or without OpenLineage."""
    if lineage is None:
        return None
    try:
        from airflow.providers.common.compat.openlineage.facet import InputDataset, OutputDataset
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    input_facets = _quality_facets(lineage.quality) if lineage.quality is not None else {}
    return OperatorLineage(
        inputs=[InputDataset(item.namespace, item.name, inputFacets=input_facets) for item in lineage.inputs],
        outputs=[OutputDataset(item.namespace, item.name) for item in lineage.outputs],
    )


def _quality_facets(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``dataQualityAssertions``: one assertion per expectation, with its failing-row count."""
    try:
        from openlineage.client.generated.data_quality_assertions_dataset import (
            Assertion,
            DataQualityAssertionsDatasetFacet,
        )

        assertions = [
            Assertion(
                assertion=str(item["type"]),
                success=bool(item["success"]),
                column=_column(item.get("kwargs")),
                severity="error" if item.get("level") == "table" else "warn",
                name=str(item["expectation"]),
                actual=str(item.get("failed", 0)),
                params={"evaluated": item.get("evaluated"), "failed": item.get("failed")},
            )
            for item in summary.get("expectations", [])
            if item.get("success") is not None
        ]
        return {"dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=assertions)}
    except Exception as error:  # lineage must never fail the task
        log.warning("No data-quality facet for OpenLineage: %s", error)
        return {}


def _column(kwargs: Any) -> str | None:
    column = kwargs.get("column") if isinstance(kwargs, Mapping) else None
    return column if isinstance(column, str) else None
