"""What differs between the Home Assistant releases the integration supports.

From 2026 on, Home Assistant validates with probatio, which keeps voluptuous's
API and which Home Assistant installs under the name ``voluptuous`` when it is
imported, so the same code runs on every release; their types differ, and
repair flows have a result type of their own. mypy checks the integration
against each release with that release's names: ``--always-true HA_PROBATIO``
for the newest, ``--always-false HA_PROBATIO`` for 2025.4 (see scripts/test).
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

__all__ = ["HA_PROBATIO", "RepairsFlowResult", "vol"]

#: Whether this Home Assistant validates with probatio.
HA_PROBATIO = find_spec("probatio") is not None

if HA_PROBATIO:
    import probatio as vol
else:
    import voluptuous as vol

# Only in annotations: a release between the two may lack the name at run time.
if TYPE_CHECKING:
    if HA_PROBATIO:
        from homeassistant.components.repairs import RepairsFlowResult
    else:
        from homeassistant.data_entry_flow import FlowResult as RepairsFlowResult
