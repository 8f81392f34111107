"""`fireline check` lines for the status page: Fireline's own page, the providers it reads, the hosted Statuspage."""

from __future__ import annotations

from bot.core.check import Status
from bot.core.registry import Registry
from bot.core.settings import Settings
from bot.features.status.service import component_names
from bot.features.providers import service as providers
from bot.clients.statuspage import StatuspageClient, StatuspageError
from bot.features.status.sync import component_map


def check_status_page(settings: Settings) -> Status:
    names = component_names(settings)
    if not names:
        return Status("status-page", "error", "STATUS_COMPONENTS is empty: the public page would list nothing")
    where = settings.status_page_url or settings.web_base_url or ("the address `fireline serve` is reached at, "
                                                                  "with relative links (set STATUS_PAGE_URL for "
                                                                  "absolute ones in the feed and JSON)")
    return Status("status-page", "live", f"\"{settings.status_page_name}\" at {where} (/, /history.atom, "
                                         f"/api/v2/summary.json) with {len(names)} components: {', '.join(names)}")


def _provider_words(report) -> str:
    if report.fine:
        return f"{report.name}: all operational"
    counts = []
    if report.degraded:
        counts.append(f"{len(report.degraded)} component{'s' if len(report.degraded) != 1 else ''} degraded")
    if report.incidents:
        counts.append(f"{len(report.incidents)} open incident{'s' if len(report.incidents) != 1 else ''}")
    return f"{report.name}: {report.indicator}" + (f" ({', '.join(counts)})" if counts else "")


def check_providers(settings: Settings) -> Status:
    """Reads every configured page now: a line that only listed the URLs said "live" for a mistyped page."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    pages = providers.parse_pages(settings.provider_status_pages)
    if not pages:
        return Status("providers", "off", "PROVIDER_STATUS_PAGES is empty: /diagnose and SEV1/SEV2 cards do "
                                                "not read the providers' status pages")
    with httpx.Client(timeout=providers.TIMEOUT, follow_redirects=True) as client, \
            ThreadPoolExecutor(max_workers=min(8, len(pages))) as pool:
        reports = list(pool.map(lambda page: providers.fetch(page[0], page[1], client), pages))
    read = "; ".join(_provider_words(report) for report in reports if report.readable)
    failed = [report for report in reports if not report.readable]
    if not failed:
        return Status("providers", "live", read)
    unread = "; ".join(f"{report.name}'s status page ({report.url}/api/v2/summary.json): {report.error}"
                       for report in failed)
    return Status("providers", "error", f"could not read {unread}; fix PROVIDER_STATUS_PAGES (Name=https://status "
                                        "page, comma-separated) or this machine's network"
                                        + (f". Read: {read}" if read else ""))


def check_statuspage(settings: Settings) -> Status:
    """With a key, asks Statuspage for the page (GET /pages/{id}): a key merely set said "live" when revoked."""
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
    url, page_id = settings.statuspage_api_url, settings.statuspage_page_id
    client = StatuspageClient(url, settings.statuspage_api_key.get_secret_value(), page_id)
    try:
        page = client.request("GET", f"/pages/{page_id}", "read the page")
    except StatuspageError as exc:  # in words, the key redacted
        hint = "" if exc.status else (f" Check STATUSPAGE_API_URL ({url}; default https://api.statuspage.io/v1) "
                                      "and that this machine can reach it")
        return Status("statuspage", "error", f"{exc}{hint}")
    finally:
        client.close()
    name = page.get("name") if isinstance(page, dict) else None
    named = f"\"{name}\" (page {page_id})" if isinstance(name, str) and name else f"page {page_id}"
    return Status("statuspage", "live", f"{named} at {url}; {mapped}")


def register(registry: Registry) -> None:
    registry.check("status-page")(check_status_page)
    registry.check("providers")(check_providers)
    registry.check("statuspage")(check_statuspage)
