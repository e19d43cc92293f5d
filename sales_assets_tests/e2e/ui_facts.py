"""What the Dagster UI's pages are built from, read over GraphQL, for the browser test.

A page and its GraphQL answer disagreeing is a DOM-reading or rendering failure; the GraphQL
answer disagreeing with the days is a behaviour failure. These helpers give the second half.
"""

from __future__ import annotations

from datetime import date

from .dagster_dev import DagsterDev

ASSET_TRUTH = """
query Truth($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } }
      assetMaterializations {
        partition
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
        }
      }
      assetChecksOrError { ... on AssetChecks { checks {
        name
        executionForLatestMaterialization { status partition evaluation { severity } }
        partitionStatuses { ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } }
      } } }
    }
  }
}"""

BACKFILL_COUNTS = """
query Counts($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { assetBackfillData { assetBackfillStatuses {
      ... on AssetPartitionsStatusCounts {
        assetKey { path } numPartitionsTargeted numPartitionsInProgress
        numPartitionsMaterialized numPartitionsFailed
      }
    } } }
  }
}"""

INSTIGATORS = """
query States($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) { ... on Sensors { results { name sensorState { id status } } } }
  schedulesOrError(repositorySelector: $repo) { ... on Schedules { results { name scheduleState { id status } } } }
}"""


def asset_truth(dev: DagsterDev, asset: str, days: list[str]) -> dict:
    """What the asset's pages are built from: per day of `days` its partition status and each
    per-day check's status; per check the statuses of all its days and its execution for the
    latest materialization; per day the numeric metadata of its latest materialization."""
    node = dev.graphql(ASSET_TRUTH, key={"path": [asset]})["assetNodeOrError"]
    metadata: dict[str, dict] = {}
    for event in node["assetMaterializations"]:  # newest first
        values = {
            e["label"]: e.get("intValue", e.get("floatValue")) for e in event["metadataEntries"]
        }
        metadata.setdefault(event["partition"], values)
    checks = (node["assetChecksOrError"] or {}).get("checks", [])
    ranges = {c["name"]: (c["partitionStatuses"] or {}).get("ranges") or [] for c in checks}
    return {
        "partitions": _by_day(node["assetPartitionStatuses"]["ranges"], days, "MISSING"),
        "checks": {name: _by_day(r, days, "MISSING") for name, r in ranges.items() if r},
        "all_days": {name: {x["status"] for x in r} for name, r in ranges.items()},
        "latest": {c["name"]: c["executionForLatestMaterialization"] or {} for c in checks},
        "metadata": metadata,
    }


def graph_passed(truth: dict) -> int:
    """How many checks an asset card on the graph counts in "N / M Passed" (Dagster 1.13's
    AssetChecksStatusSummary): a check with day statuses passes only when every day it ran
    SUCCEEDED (one failed day in the whole history is enough to not pass); a check without
    days passes when its execution for the latest materialization SUCCEEDED."""
    return sum(
        days == {"SUCCEEDED"} if days else truth["latest"][name].get("status") == "SUCCEEDED"
        for name, days in truth["all_days"].items()
    )


def latest_icons(truth: dict) -> dict[str, int]:
    """The Overview tab's "Latest check results" tags (icon name -> count), from each check's
    execution for the latest materialization; a failure is a warning when its severity is."""
    icons: dict[str, int] = {}
    for execution in truth["latest"].values():
        status = execution.get("status")
        warn = (execution.get("evaluation") or {}).get("severity") == "WARN"
        icon = "warning_outline" if status == "FAILED" and warn else LATEST_ICONS[status]
        icons[icon] = icons.get(icon, 0) + 1
    return icons


LATEST_ICONS = {
    "SUCCEEDED": "check_circle",
    "FAILED": "cancel",
    "EXECUTION_FAILED": "cancel",
    "SKIPPED": "dot",
    None: "dot",  # not evaluated
}


def check_list_item(truth: dict, name: str) -> tuple[str, str]:
    """The Checks tab's list item of a check (icon, word), summed up as Dagster 1.13 does it
    (asset-checks/util.tsx): any failed day makes it failed, drawn as a warning when the
    *latest* execution's severity is WARN, whatever the failed day's own severity."""
    latest = truth["latest"][name]
    statuses = truth["all_days"][name] or {latest.get("status")}
    warn = (latest.get("evaluation") or {}).get("severity") == "WARN"
    if statuses & {"FAILED", "EXECUTION_FAILED"}:
        return ("warning_outline" if warn else "cancel"), "Failed"
    if "SKIPPED" in statuses:
        return "dot", "Skipped"
    if "SUCCEEDED" in statuses:
        return "check_circle", "Succeeded"
    return "status", "Not evaluated"


def _by_day(ranges: list[dict], days: list[str], default: str) -> dict[str, str]:
    statuses = dict.fromkeys(days, default)
    for r in ranges:
        start, end = date.fromisoformat(r["startKey"]), date.fromisoformat(r["endKey"])
        for day in days:
            if start <= date.fromisoformat(day) <= end:
                statuses[day] = r["status"]
    return statuses


def backfill_counts(dev: DagsterDev, backfill_id: str) -> dict[str, list[int]]:
    data = dev.graphql(BACKFILL_COUNTS, id=backfill_id)["partitionBackfillOrError"]
    return {
        s["assetKey"]["path"][-1]: [
            s["numPartitionsTargeted"],
            s["numPartitionsInProgress"],
            s["numPartitionsMaterialized"],
            s["numPartitionsFailed"],
        ]
        for s in data["assetBackfillData"]["assetBackfillStatuses"]
    }


def stop_automations(dev: DagsterDev) -> None:
    """Stop every running schedule and the landing sensor (what their UI toggles do)."""
    location, repository = dev.location
    repo = {"repositoryLocationName": location, "repositoryName": repository}
    data = dev.graphql(INSTIGATORS, repo=repo)
    for sensor in data["sensorsOrError"].get("results", []):
        if sensor["name"] == "landing_zone_sensor" and sensor["sensorState"]["status"] == "RUNNING":
            dev.graphql(
                "mutation Stop($id: String) { stopSensor(id: $id) { __typename } }",
                id=sensor["sensorState"]["id"],
            )
    for schedule in data["schedulesOrError"].get("results", []):
        if schedule["scheduleState"]["status"] == "RUNNING":
            dev.graphql(
                "mutation Stop($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                id=schedule["scheduleState"]["id"],
            )
