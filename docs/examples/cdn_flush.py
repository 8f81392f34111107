"""Example Fireline plug-in: purge the CDN cache, planned, confirmed and audited like the built-ins.

The guide puts Cloudflare in front of the app ("Cloudflare dashboard - DNS/CDN issues?"); when a bad
asset or a cached error page is being served, on-call purges the cache. This playbook does it with
one HTTP call to a purge endpoint (Cloudflare's `POST /zones/<zone>/purge_cache` by default shape),
so it also shows how to write a playbook that is not about Fly at all.

Use it:
  1. copy this file into a folder and point PLAYBOOKS_PATH at the folder;
  2. set CDN_PURGE_URL (e.g. https://api.cloudflare.com/client/v4/zones/<zone id>/purge_cache) and
     CDN_API_TOKEN (a token allowed to purge that zone);
  3. add `/cdn` to your Slack app (slack-manifest.yml) if you use Slack, and restart Fireline.
Then `/cdn flush --prefix www.example.com/assets/` or `/cdn flush all` shows the plan; a responder
presses Confirm. Without FLY_API_TOKEN Fireline runs every playbook as a dry run: the plan is shown
and Confirm goes through every check, but nothing is sent.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.core.errors import UserError
from playbooks.framework import Env, Param, Plan, Playbook, Step, StepResult

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class FlushCdn(Playbook):
    name = "cdn-flush"  # stored with every execution: keep it stable
    command = "cdn"  # /cdn ...
    subcommand = "flush"  # /cdn flush ...
    usage = "all | --prefix HOST/PATH [--prefix ...] [#N]"
    help = "purge the CDN cache (everything, or some URL prefixes)"
    params = (Param("all", "purge everything: the origin takes the full load until the cache warms up"),
              Param("--prefix HOST/PATH", "purge only URLs starting with this, e.g. www.example.com/assets/"))
    destructive = True  # plan first, Confirm by an allowed person, one at a time, audited
    who = "responders"  # RESPONDERS (and the console user) may confirm; "anyone" would let everyone
    verb = "purge the CDN cache"
    sends_to = "the CDN"  # dry runs say "nothing is sent to the CDN" (the default names no service)
    dry_run_text = ("DRY RUN: {why}, so the purge is planned and Confirm is checked as in a live run, but nothing "
                    "is sent to the CDN.")  # the banner over a dry-run plan; {why} is Fireline's reason

    def parse(self, args) -> dict[str, Any]:
        prefixes = []
        while (prefix := args.flag("prefix")) is not None:
            prefixes.append(prefix.strip())
        everything = [w for w in args.words if w.lower() == "all"]
        unknown = [w for w in args.words if w.lower() != "all"]
        if unknown:
            raise UserError(f"`{unknown[0][:40]}` is not something `/cdn flush` understands.",
                            f"Type `/cdn flush {self.usage}`.")
        if bool(everything) == bool(prefixes):
            raise UserError("Say what to purge: `all`, or one or more `--prefix`.",
                            "For example `/cdn flush --prefix www.example.com/assets/`, or `/cdn flush all`.")
        bad = [p for p in prefixes if not p or "://" in p or " " in p]
        if bad:
            raise UserError(f"`{bad[0][:60]}` is not a prefix: write it as host/path, without https://.",
                            "For example `--prefix www.example.com/assets/`.")
        return {"everything": bool(everything), "prefixes": prefixes}

    def plan(self, env: Env, params: dict[str, Any]) -> Plan:
        url = os.environ.get("CDN_PURGE_URL", "")
        host = urlsplit(url).hostname or "the CDN"
        what = "everything" if params["everything"] else ", ".join(params["prefixes"])
        if not url.startswith(("https://", "http://")):
            return Plan(self.name, "cdn", f"Purge {what} from the CDN cache",
                        blocked="CDN_PURGE_URL is not set, so Fireline does not know where to send the purge.",
                        hints=["Set CDN_PURGE_URL (e.g. https://api.cloudflare.com/client/v4/zones/<zone>/purge_cache) "
                               "and CDN_API_TOKEN, then restart Fireline."])
        if not os.environ.get("CDN_API_TOKEN") and not env.dry_run:
            return Plan(self.name, "cdn", f"Purge {what} from the CDN cache", blocked="CDN_API_TOKEN is not set.",
                        hints=["Create a token allowed to purge the zone and set CDN_API_TOKEN."])
        body = {"purge_everything": True} if params["everything"] else {"prefixes": params["prefixes"]}
        return Plan(
            playbook=self.name,
            app=f"cdn:{host}",  # its own lock: a purge never waits for (or blocks) a Fly restart
            title=f"Purge {what} from the CDN cache",
            lines=[f"Sends `POST {url}` with `{body}`" + (" (not in this dry run: Confirm sends nothing)."
                                                          if env.dry_run else "."),
                   "Nothing on Fly changes; the next requests for these URLs go to the origin."],
            steps=[Step(f"Purge {what} at {host}", "purge", {"url": url, "body": body},
                        targets=params["prefixes"] or ["everything"])],
            risks=["The origin takes every request for the purged URLs until the cache warms up: if the app is "
                   "already struggling, purge a prefix rather than everything."],
            params=params,
        )

    def run_step(self, env: Env, plan: Plan, step: Step, progress) -> StepResult:
        url, body = step.args["url"], step.args["body"]
        if env.dry_run:
            return StepResult(True, f"Dry run: would POST {body} to {url}", done=list(step.targets))
        progress(f"asking {urlsplit(url).hostname} to purge")
        token = os.environ.get("CDN_API_TOKEN", "")
        try:
            response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            return StepResult(False, f"Could not reach {urlsplit(url).hostname} ({type(exc).__name__}); nothing "
                                     "was purged. Try again, or purge from the CDN's dashboard.",
                              failed=list(step.targets))
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.is_success and answer.get("success", True):
            return StepResult(True, f"The CDN accepted the purge (HTTP {response.status_code}).",
                              details=[f"Purge id: {answer['result']['id']}"] if isinstance(answer.get("result"), dict)
                              and answer["result"].get("id") else [], done=list(step.targets))
        errors = "; ".join(str(e.get("message", e)) for e in answer.get("errors", [])[:3] if isinstance(e, dict))
        return StepResult(False, f"The CDN refused the purge (HTTP {response.status_code}"
                                 + (f": {errors[:200]}" if errors else "") + "). Check CDN_API_TOKEN's permissions.",
                          failed=list(step.targets))

    def summary(self, plan: Plan, results: list[StepResult | None]) -> list[str]:
        """The closing message: what the CDN said, then the framework's done / not done lines."""
        return [r.summary for r in results if r] + super().summary(plan, results)
