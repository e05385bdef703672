"""The plan: every phase with its hooks in run order, and the driver's own steps between
the phases (pure and printable)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dibpy.elements import ElementSet, Hook
from dibpy.legacy.hooktree import check_duplicate_scripts
from dibpy.phases import PHASES, Phase
from dibpy.planning.steps import DriverStep, steps_after


@dataclass(frozen=True)
class Plan:
    """What a build will run, and in which order."""

    element_set: ElementSet
    phases: dict[Phase, tuple[Hook, ...]]

    @classmethod
    def of(cls, element_set: ElementSet) -> Plan:
        """Order the hooks of every phase by (order, hook name, element name): legacy
        scripts interleave with Python hooks by their number, as dib-run-parts orders them."""
        hooks = [hook for element in element_set.elements for hook in element.hooks]
        check_duplicate_scripts(hooks)
        return cls(
            element_set,
            {
                phase: tuple(
                    sorted((h for h in hooks if h.phase is phase), key=lambda h: h.sort_key)
                )
                for phase in PHASES
            },
        )

    @property
    def elements(self) -> tuple[str, ...]:
        return self.element_set.names

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` over the elements' ENVIRONMENT defaults (DIB's environment.d).

        A variable the user set (non-empty) wins, as ``${VAR:-default}`` does; among
        elements, the first in resolution order sets a default.
        """
        merged: dict[str, str] = {}
        for element in reversed(self.element_set.elements):
            merged.update(element.environment)
        merged.update({k: v for k, v in env.items() if v != ""})
        return merged

    def run_order(self) -> list[Phase | DriverStep]:
        """Everything the build does, in order: each phase (its hooks in ``phases``) and the
        driver's own steps between them."""
        order: list[Phase | DriverStep] = [*steps_after(None)]
        for phase in PHASES:
            order += [phase, *steps_after(phase)]
        return order

    def to_dict(self) -> dict[str, Any]:
        """The shape ``dibpy plan --json`` prints: every phase key present, and ``run_order``
        listing phases and the driver's steps as the build runs them."""
        return {
            "elements": list(self.elements),
            "phases": {
                phase.value: [
                    {"order": h.order, "element": h.element, "hook": h.name, "kind": h.kind}
                    for h in self.phases[phase]
                ]
                for phase in PHASES
            },
            "run_order": [
                {"phase": item.value}
                if isinstance(item, Phase)
                else {"driver": item.name, "doc": item.doc}
                for item in self.run_order()
            ],
        }

    def describe(self) -> str:
        """A readable listing: each phase, then order, element, hook and its doc line; the
        driver's own steps between the phases, marked ``driver``."""
        lines = [f"Elements: {' '.join(self.elements)}"]
        for phase in self.run_order():
            if isinstance(phase, DriverStep):
                lines.append(f"  --  {'(driver)':<22} {phase.name}  {phase.doc}")
                continue
            lines.append(f"{phase.value}:")
            hooks = self.phases[phase]
            if not hooks:
                lines.append("  (no hooks)")
            for h in hooks:
                doc = f"  {h.doc}" if h.doc else ""
                name = f"{h.name} [legacy]" if h.kind == "legacy" else h.name
                lines.append(f"  {h.order:02d}  {h.element:<22} {name}{doc}")
        return "\n".join(lines)
