"""MQTT topic names: the line-facing ones of SPEC.md §7 and the instances' own ``iaqgw/v1/…``."""

from typing import Final

INPUT_FILTER: Final = "nlets/v1/in/+"
OUTPUT_FILTER: Final = "nlets/v1/out/+"
# Gateway instances share the input load through this group (SPEC.md §7).
SHARED_INPUT: Final = "$share/iaqgw/" + INPUT_FILTER
INTERNAL_FILTER: Final = "iaqgw/v1/#"
PRESENCE_FILTER: Final = "iaqgw/v1/presence/+"
INSTANCES_FILTER: Final = "iaqgw/v1/instances/+"

# MQTT v5 user property that carries the output sequence number.
SEQ_PROPERTY: Final = "seq"


def input_topic(line: str) -> str:
    """Where a line publishes its input texts."""
    return f"nlets/v1/in/{line}"


def output_topic(line: str) -> str:
    """Where a line reads its outputs."""
    return f"nlets/v1/out/{line}"


def route_topic(line: str) -> str:
    """Where outputs for a line wait, un-numbered, for the instance that is the line's home."""
    return f"iaqgw/v1/route/{line}"


def presence_topic(line: str) -> str:
    """Retained: how the line is reached now (``tcp <instance>``, ``mqtt``, or gone)."""
    return f"iaqgw/v1/presence/{line}"


def instance_topic(instance: str) -> str:
    """Retained: an instance that is connected, with the instance list it was given."""
    return f"iaqgw/v1/instances/{instance}"


def last_level(topic: str) -> str:
    """The last level of a topic name (the line code or instance of the topics above)."""
    return topic.rsplit("/", 1)[-1]
