"""What the deploy watch and the pre-deploy checklist both read: Fly's recent releases, and the deploy channel.

One copy for both (the checklist had its own of each, and of the image tag's parsing, now
playbooks.fleet_models.image_tag), so a change to how releases are read reaches both.
"""

from __future__ import annotations

from bot.core.container import Container
from bot.core.errors import UserError
from bot.features.playbooks.env import build_env, close_env
from playbooks.fleet_models import Release
from playbooks.framework import ServiceError


def read_releases(container: Container) -> tuple[list[Release], str, bool]:
    """(Fly's recent usable releases newest first, the app, whether it is the example fleet of a dry run)."""
    env = build_env(container)
    try:
        machines = env.fly.list_machines()
        releases = env.releases.recent(env.app, limit=10, machine_id=machines[0].id if machines else None)
        return [r for r in releases if r.usable], env.app, env.dry_run
    except ServiceError as exc:
        raise UserError(f"Could not read the releases of {env.app}: {exc}",
                        "Try `/deploy watch` again in a minute.") from None
    finally:
        close_env(env)


def channel(container: Container) -> str:
    """Where deploys are talked about: DEPLOY_CHANNEL, else the incidents channel."""
    name = container.settings.deploy_channel.strip() or container.settings.incidents_channel_name
    return "#" + name.lstrip("#")
