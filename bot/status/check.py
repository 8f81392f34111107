"""`fireline check` lines for the status page: Fireline's own page, the providers it reads, the hosted Statuspage."""

from __future__ import annotations

from bot.check import Status
from bot.commands.registry import Registry
from bot.settings import Settings


def check_status_page(settings: Settings) -> Status:
    from bot.status.service import component_names

    names = component_names(settings)
    if not names:
        return Status("status-page", "error", "STATUS_COMPONENTS is empty: the public page would list nothing")
    where = settings.status_page_url or "the address `fireline serve` is reached at"
    return Status("status-page", "live", f"\"{settings.status_page_name}\" at {where} (/, /history.atom, "
                                         f"/api/v2/summary.json) with {len(names)} components: {', '.join(names)}")


def check_providers(settings: Settings) -> Status:
    from bot.status.providers import parse_pages

    pages = parse_pages(settings.provider_status_pages)
    if not pages:
        return Status("providers", "off", "PROVIDER_STATUS_PAGES is empty: /diagnose and SEV1/SEV2 cards do "
                                                "not read the providers' status pages")
    return Status("providers", "live", "reads " + ", ".join(f"{name} ({url})" for name, url in pages))


def check_statuspage(settings: Settings) -> Status:
    from bot.status.service import component_names
    from bot.status.sync import component_map

    mapping = component_map(settings)
    unknown = sorted(set(mapping) - set(component_names(settings)))
    if unknown:
        return Status("statuspage", "error", f"STATUSPAGE_COMPONENTS names {', '.join(unknown)}, not in "
                                             "STATUS_COMPONENTS: those would never be sent")
    if not settings.statuspage_page_id and not settings.statuspage_api_key:
        return Status("statuspage", "off", "STATUSPAGE_PAGE_ID and STATUSPAGE_API_KEY not set: public updates go "
                                           "to Fireline's own page only")
    if not settings.statuspage_page_id:
        return Status("statuspage", "error", "STATUSPAGE_API_KEY is set but STATUSPAGE_PAGE_ID is empty")
    mapped = f"{len(mapping)} component(s) mapped" if mapping else "no component mapped (STATUSPAGE_COMPONENTS)"
    if not settings.statuspage_api_key:
        return Status("statuspage", "dry-run", f"page {settings.statuspage_page_id}, STATUSPAGE_API_KEY not set: "
                                               f"the timeline says what would be sent; {mapped}")
    return Status("statuspage", "live", f"page {settings.statuspage_page_id} at {settings.statuspage_api_url}; "
                                        f"{mapped}")


def register(registry: Registry) -> None:
    registry.check("status-page")(check_status_page)
    registry.check("providers")(check_providers)
    registry.check("statuspage")(check_statuspage)
