"""The entry's own storage, watched: a write that fails is a repair issue.

What an entry stores (see :data:`.const.STORAGE_PARTS`) lives in files under
Home Assistant's ``.storage``: the stations' newest states, the recent samples
of each hour, and in direct mode the stations' clocks and the packets kept
aside, which are the only copy there is. Home Assistant's :class:`Store`
writes them and only logs a write that fails (a read-only filesystem, a full
or failing disk); :class:`EntryStore` also raises a repair issue of that part
then, and removes it at the first write that succeeds, since each write holds
the whole part.

The statistics go to Home Assistant's recorder, which reports its own
database's failures itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util.file import WriteError

from .const import STORAGE_VERSION, storage_key
from .repairs import async_create_storage_issue, async_delete_storage_issue


class EntryStore(Store[dict[str, Any]]):
    """One part of an entry's storage; ``clock`` says when a failure began (unix seconds)."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, part: str, clock: Callable[[], float]
    ) -> None:
        super().__init__(hass, STORAGE_VERSION, storage_key(entry_id, part))
        self.entry_id = entry_id
        self.part = part
        self._clock = clock
        #: When writes began to fail, while they do.
        self.failing_since: float | None = None

    async def _async_write_data(self, *args: Any) -> None:
        # The one step of Store's writing that can fail on the disk: Home Assistant
        # logs the error and goes on, so it is seen here, and passed on as it was.
        # Its arguments differ between releases ((path, data) up to 2025, (data)
        # since), so they pass through untouched; the file is always self.path.
        try:
            await super()._async_write_data(*args)
        except WriteError as err:
            if self.failing_since is None:
                self.failing_since = self._clock()
            async_create_storage_issue(
                self.hass, self.entry_id, self.part, self.path, str(err), self.failing_since
            )
            raise
        if self.failing_since is not None:
            self.failing_since = None
            async_delete_storage_issue(self.hass, self.entry_id, self.part)
