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
        executionForLatestMaterialization { status partition }
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
    """Per day of `days`: the asset's partition status, each check's status, the latest
    materialization's numeric metadata; and each check's execution for the latest
    materialization."""
    node = dev.graphql(ASSET_TRUTH, key={"path": [asset]})["assetNodeOrError"]
    metadata: dict[str, dict] = {}
    for event in node["assetMaterializations"]:  # newest first
        values = {
            e["label"]: e.get("intValue", e.get("floatValue")) for e in event["metadataEntries"]
        }
        metadata.setdefault(event["partition"], values)
    checks = (node["assetChecksOrError"] or {}).get("checks", [])
    return {
        "partitions": _by_day(node["assetPartitionStatuses"]["ranges"], days, "MISSING"),
        "checks": {
            c["name"]: _by_day(c["partitionStatuses"]["ranges"], days, "MISSING") for c in checks
        },
        "latest": {c["name"]: c["executionForLatestMaterialization"] or {} for c in checks},
        "metadata": metadata,
    }


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
