"""Fleet reporting: the terminal's MQTT agent and the Ed25519 parameter signatures.

See docs/fleet.md for the topics, the payload schema and how parameter changes are signed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.journal.journal import Journal


def effective_config(cfg: Config, journal: Journal) -> Config:
    """The config with the parameters the back office pushed (and this terminal applied).

    Also switches the journal's event outbox on or off to match ``[fleet] broker``: the
    triggers record events only while a broker is configured.
    """
    from appliance.journal import fleet as outbox

    want = bool(cfg.fleet.broker)
    if outbox.enabled(journal) != want:
        outbox.set_enabled(journal, want)
    if not want:
        return cfg
    values = outbox.applied_params(journal).values
    return cfg.with_values(values) if values else cfg
