"""failures.har: the failing exchanges of a run, as an HTTP Archive (HAR 1.2) that browsers'
developer tools and HAR viewers open, and that `python -m conformance.replay` re-sends.

One page per root cause, most serious first; its entries are the exchanges of the first test
that showed it (one for a check that judges one answer, the whole sequence for a check that
compares answers). What is HAR: the request and response as the run saw them, keys masked
(`***`); the response body as far as the reports keep it (its first 400 bytes). What is ours,
under `_dcs` (HAR allows custom fields that start with `_`): per entry the request as a
template naming each key by its variable (`${DCS_API_KEY}`), never the key, and how it went
on the wire when not as the pooled client's usual request (`wire`: written byte for byte, its
HTTP version, absolute-form, a pipelined GET after it; or on a new connection), so that the
replay writes the same bytes again with the real key; per page the root cause and the findings
to re-check: check, message, and how it was called (`arguments`, the entries by their index in
the page).

A pure function of the summary dict built by `summary.build_summary`.
"""

from __future__ import annotations

import http
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance._report.common import json_text

HAR_FORMAT = "dcs-conformance/failures/1"
CREATOR = {"name": "dcs-conformance", "version": "0.1.0"}


def render_har(summary: Mapping[str, Any]) -> str:
    """failures.har (HAR 1.2) of a run's summary: its root causes' first failing exchanges."""
    pages, entries = [], []
    started = summary.get("started") or "1970-01-01T00:00:00Z"
    for cause in summary.get("groups") or []:
        page_id = f"cause-{cause['rank']}"
        exchanges: list[Mapping[str, Any]] = []
        findings = []
        for finding in cause["first"]["violations"]:
            indexes = [_index(exchanges, exchange) for exchange in finding.get("exchanges") or []]
            findings.append(
                {
                    "check": finding.get("check"),
                    "message": finding.get("message", ""),
                    "location": finding.get("location", ""),
                    "arguments": finding.get("arguments"),
                    "entries": indexes,
                }
            )
        first = next((e.get("started") for e in exchanges if e.get("started")), started)
        pages.append(
            {
                "startedDateTime": first,
                "id": page_id,
                "title": f"{cause['rank']}. [{cause['severity']['category']}] {cause['id']}",
                "pageTimings": {},
                "_dcs": {
                    "cause": cause["id"],
                    "rank": cause["rank"],
                    "severity": cause["severity"],
                    "primary": cause["primary"],
                    "test": cause["first"]["test"],
                    "findings": findings,
                },
            }
        )
        entries += [_entry(page_id, exchange, started) for exchange in exchanges]
    har = {
        "log": {
            "version": "1.2",
            "creator": CREATOR,
            "pages": pages,
            "entries": entries,
            "comment": "dcs-conformance: the first failing exchanges of each root cause; keys "
            "masked. Re-send them: python -m conformance.replay failures.har",
            "_dcs": {
                "format": HAR_FORMAT,
                "target": summary.get("target"),
                "base_url": (summary.get("replay") or {}).get("base_url"),
                "spec_sha256": (summary.get("spec") or {}).get("sha256"),
                "started": started,
                "warnings": summary.get("warnings") or [],  # they fail nothing: no entries
            },
        }
    }
    return json_text(har)


def _index(exchanges: list[Mapping[str, Any]], exchange: Mapping[str, Any]) -> int:
    """The index of `exchange` among the page's, appended if it is not there yet (two findings
    of one test about the same answer share its entry)."""
    for index, known in enumerate(exchanges):
        if known == exchange:
            return index
    exchanges.append(exchange)
    return len(exchanges) - 1


def _entry(page_id: str, exchange: Mapping[str, Any], started: str) -> dict[str, Any]:
    request, response = exchange["request"], exchange["response"]
    elapsed = round(float(exchange.get("elapsed_s") or 0) * 1000, 3)
    entry: dict[str, Any] = {
        "pageref": page_id,
        "startedDateTime": exchange.get("started") or started,
        "time": elapsed,
        "request": {
            "method": request["method"],
            "url": request["url"],
            "httpVersion": f"HTTP/{(request.get('wire') or {}).get('version') or '1.1'}",
            "cookies": [],
            "headers": _pairs(request.get("headers") or {}),
            "queryString": [
                {"name": name, "value": value}
                for name, value in parse_qsl(urlsplit(request["url"]).query, True)
            ],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": _response(response),
        "cache": {},
        "timings": {"send": 0, "wait": elapsed, "receive": 0},
    }
    ours = {key: request[key] for key in ("template", "wire") if request.get(key)}
    if ours:
        entry["_dcs"] = ours
    return entry


def _response(response: Mapping[str, Any]) -> dict[str, Any]:
    status = response.get("status")
    headers = response.get("headers") or {}
    text = str(response.get("body_excerpt") or "")
    answer: dict[str, Any] = {
        "status": status or 0,  # 0: no response (as browsers record a failed request)
        "statusText": _reason(status),
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs(headers),
        "content": {
            "size": len(text.encode()),
            "mimeType": headers.get("content-type", "x-unknown"),
            "text": text,
        },
        "redirectURL": headers.get("location", ""),
        "headersSize": -1,
        "bodySize": -1,
    }
    if response.get("error"):
        answer["_error"] = response["error"]
    return answer


def _pairs(headers: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers.items()]


def _reason(status: int | None) -> str:
    try:
        return http.HTTPStatus(status).phrase if status else ""
    except ValueError:
        return ""


def page_findings(page: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The findings a page of failures.har asks to re-check (see `render_har`)."""
    return (page.get("_dcs") or {}).get("findings") or []
