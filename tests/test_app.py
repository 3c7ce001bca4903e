"""The app's lifetime: what start-up built is kept out of the collector's full passes while the
app runs (they held the event loop for ~100 ms under load), and handed back at shutdown, so a
process that starts several apps keeps nothing of the earlier ones."""

import gc

from relaydesk.app import create_app
from relaydesk.config import Settings


async def test_start_up_objects_are_frozen_while_the_app_runs(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
