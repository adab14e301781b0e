"""Plans for bootstrap and teardown: look at what exists (reads only), decide per resource, then apply.

A plan is a list of :class:`Step`; ``--dry-run`` prints it, otherwise :func:`apply` carries it out in
order. Running bootstrap on an up-to-date account plans nothing but ``keep`` steps, so it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from smartcity.aws.clients import AwsClients, AwsSetupError
from smartcity.aws.kinds import Resource, resources
from smartcity.aws.resources import Names


class Change(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    KEEP = "keep"  # nothing to do
    SKIP = "skip"  # would be deleted, but is left alone for a reason the detail gives


@dataclass(frozen=True)
class Step:
    kind: str
    name: str
    change: Change
    detail: str
    resource: Resource | None = None

    @property
    def changes_anything(self) -> bool:
        return self.change in (Change.CREATE, Change.UPDATE, Change.DELETE)


def plan_bootstrap(clients: AwsClients, names: Names) -> list[Step]:
    steps = []
    for resource in resources(clients, names):
        seen = resource.observe()
        owner = "created by bootstrap" if seen.managed else "not created by bootstrap"
        if not seen.exists:
            step = Step(resource.kind, resource.name, Change.CREATE, "missing", resource)
        elif seen.drift:
            if seen.busy:
                raise AwsSetupError(
                    f"{resource.kind} {resource.name} needs an update ({', '.join(seen.drift)}) but {seen.busy}; "
                    "run bootstrap again when it has finished."
                )
            step = Step(
                resource.kind, resource.name, Change.UPDATE, f"differs: {', '.join(seen.drift)} ({owner})", resource
            )
        else:
            step = Step(resource.kind, resource.name, Change.KEEP, f"exists, up to date ({owner})")
        steps.append(step)
    return steps


def plan_teardown(clients: AwsClients, names: Names, *, delete_data: bool) -> list[Step]:
    steps = []
    for resource in reversed(resources(clients, names)):
        seen = resource.observe()
        change, detail = Change.DELETE, "created by bootstrap"
        if not seen.exists:
            change, detail = Change.KEEP, "absent"
        elif not seen.managed:
            change, detail = Change.KEEP, "not created by bootstrap: left alone"
        elif seen.busy:
            change, detail = Change.SKIP, f"{seen.busy}: wait for it, then rerun"
        elif not delete_data and (count := resource.holds_data()):
            more = "+" if count >= 1000 else ""
            change, detail = Change.SKIP, f"holds {count}{more} objects: rerun with --delete-data to delete them"
        steps.append(Step(resource.kind, resource.name, change, detail, resource if change is Change.DELETE else None))
    return steps


def apply(steps: list[Step], *, delete_data: bool = False, progress: Callable[[Step], None] = lambda _: None) -> None:
    """Carry out the steps in order; ``progress`` is told before each change."""
    for step in steps:
        if not step.changes_anything or step.resource is None:
            continue
        progress(step)
        if step.change is Change.CREATE:
            step.resource.create()
        elif step.change is Change.UPDATE:
            step.resource.update()
        else:
            step.resource.delete(delete_data)
