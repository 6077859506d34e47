"""Services and pipelines are found through entry points and merged into one table.

Group ``iaqgw.services`` names :class:`~responders.base.Service` objects; group
``iaqgw.pipelines`` names bare :class:`~responders.base.Pipeline` objects (SPEC.md §12). A
bare pipeline joins the service of its name when one is declared (a new message key for the
LESC), else it is the short form of a service with that one pipeline and no state.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import Final

from responders.base import ANY_MKE, Pipeline, Service

SERVICES_GROUP: Final = "iaqgw.services"
PIPELINES_GROUP: Final = "iaqgw.pipelines"


class PluginError(ValueError):
    """Installed services or pipelines that contradict each other, or an entry point of the
    wrong kind: one line naming them and what to change."""


def installed() -> list[Service | Pipeline]:
    """Every installed service and bare pipeline, services first, each group by name."""
    found: list[Service | Pipeline] = []
    for group, kind in ((SERVICES_GROUP, Service), (PIPELINES_GROUP, Pipeline)):
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            plugin = ep.load()
            if not isinstance(plugin, kind):
                raise PluginError(
                    f"entry point {ep.name} in {group} is not a responders.base.{kind.__name__}"
                )
            found.append(plugin)
    return found


@dataclass(frozen=True, slots=True)
class ServiceTable:
    """The services the switch runs, with what routing and answering need from them."""

    services: Mapping[str, Service]
    pipelines: Mapping[tuple[str, str], Pipeline]
    # Header destination -> name of the service it reaches.
    destinations: Mapping[str, str]
    # Service name -> name of the service whose runtime it uses (itself, or what it shares).
    owners: Mapping[str, str]

    @property
    def sends_as(self) -> frozenset[str]:
        """Every ORI only the gateway sends as, for one service or another."""
        return frozenset(ori for service in self.services.values() for ori in service.sends_as)

    def find(self, service: str, mke: str) -> Pipeline | None:
        """The pipeline for this key at this service, else the service's catch-all, else None."""
        return self.pipelines.get((service, mke)) or self.pipelines.get((service, ANY_MKE))


def service_table(plugins: Iterable[Service | Pipeline]) -> ServiceTable:
    """Merge services and bare pipelines; raises PluginError where two of them clash."""
    services: dict[str, Service] = {}
    bare: list[Pipeline] = []
    for plugin in plugins:
        if isinstance(plugin, Pipeline):
            bare.append(plugin)
        elif plugin.name in services:
            raise PluginError(f"two services are named {plugin.name}: give one another name")
        else:
            services[plugin.name] = plugin
    for pipeline in bare:
        # A bare pipeline joins its service, or is a service of its own with no state.
        existing = services.get(pipeline.service, Service(pipeline.service))
        services[pipeline.service] = replace(existing, pipelines=(*existing.pipelines, pipeline))
    pipelines: dict[tuple[str, str], Pipeline] = {}
    destinations: dict[str, str] = {}
    for service in services.values():
        for pipeline in service.pipelines:
            if pipeline.service != service.name:
                raise PluginError(
                    f"service {service.name} lists a pipeline of service {pipeline.service}:"
                    " a service's pipelines carry its name"
                )
            for mke in pipeline.accepts:
                if (service.name, mke) in pipelines:
                    raise PluginError(f"two pipelines answer {mke} to {service.name}")
                pipelines[(service.name, mke)] = pipeline
        claimed = service.destinations.union(*(p.destinations for p in service.pipelines))
        for dest in sorted(claimed):
            other = destinations.setdefault(dest, service.name)
            if other != service.name:
                raise PluginError(
                    f"destination {dest} is claimed by services {other} and {service.name}:"
                    " uninstall one, or give one another destination"
                )
    owners = {name: _owner(services, service) for name, service in services.items()}
    return ServiceTable(services, pipelines, destinations, owners)


def _owner(services: Mapping[str, Service], service: Service) -> str:
    if service.shares is None:
        return service.name
    shared = services.get(service.shares)
    if shared is None:
        raise PluginError(
            f"service {service.name} shares the runtime of {service.shares}, which is not"
            " installed"
        )
    if shared.shares is not None or shared.open is None:
        raise PluginError(
            f"service {service.name} shares the runtime of {service.shares}, which has none"
            " of its own"
        )
    return shared.name
