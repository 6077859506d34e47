"""Pipelines are found through the ``iaqgw.pipelines`` entry point group."""

from importlib.metadata import entry_points

from responders.base import ANY_MKE, Pipeline

ENTRY_POINT_GROUP = "iaqgw.pipelines"


def load_pipelines() -> dict[tuple[str, str], Pipeline]:
    """Every installed pipeline, keyed by (service, MKE); a later duplicate is an error."""
    table: dict[tuple[str, str], Pipeline] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        pipeline = ep.load()
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"entry point {ep.name} is not a responders.base.Pipeline")
        for mke in pipeline.accepts:
            key = (pipeline.service, mke)
            if key in table:
                raise ValueError(f"two pipelines answer {mke} to {pipeline.service}: {ep.name}")
            table[key] = pipeline
    return table


def find_pipeline(
    table: dict[tuple[str, str], Pipeline], service: str, mke: str
) -> Pipeline | None:
    """The pipeline for this key at this service, else the service's catch-all, else None."""
    return table.get((service, mke)) or table.get((service, ANY_MKE))
