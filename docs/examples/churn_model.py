"""Train a churn classifier on point-in-time features of the demo world (docs/LAKEHOUSE.md, "Training sets").

The demo world's history is written in two parts through the profile writer into the MongoDB of
`c360 dev up` (a database of its own, dropped at the end) and synced to a lake in a temporary directory:
first every event up to a cutoff 60 days before the world's end, then the rest. The labels are taken
between the two: every live profile at that moment, churned when its customer made no transaction in
the 60 days after the cutoff (read from the lake's events table once everything is synced). The
features come from `training_set()`, as of the label time, so nothing after the cutoff reaches them.
For contrast, the same model is trained on features read at the end of the history, which do see the
outcome: that AUC is what leakage looks like.

    c360 dev up
    pip install -e '.[ml]'
    python docs/examples/churn_model.py --people 3000
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import typer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from c360.settings import load_settings
from c360.storage import Location
from c360.world import DEFAULT_SEED, generate_world
from c360.world_events import world_events
from lakehouse.tables import Lakehouse
from lakehouse.training import training_set
from operational.store import Store
from operational.writer import ProfileWriter
from sync.runner import LakeSync
from sync.stream import BatchReport

HORIZON = timedelta(days=60)
NOT_FEATURES = {"profile_id", "labelled_at", "churned", "feature_profile_id", "features_as_of",
                "first_seen", "last_seen"}  # fmt: skip
LABELS = """
SELECT p.profile_id, NOT EXISTS (
    SELECT 1 FROM events e
    WHERE e.profile_id = coalesce(c.merged_into, p.profile_id) AND e.type = 'transaction'
      AND e.occurred_at > TIMESTAMPTZ '{cutoff}'
) AS churned
FROM live_at_label p JOIN profiles_current c USING (profile_id)
"""


def sync_all(store: Store, lake: Path, in_lake: int = 0) -> int:
    """Run the lake sync until every event MongoDB holds is in the lake (which held `in_lake` of them);
    how many that is."""
    settings = load_settings(lake={"path": str(lake)})
    synced: dict[str, int] = {}

    def record(report: BatchReport) -> None:
        synced[report.table] = synced.get(report.table, 0) + report.rows

    stop = threading.Event()
    runner = threading.Thread(target=LakeSync(store, settings.lake, record).run, args=(stop,))
    runner.start()
    stored = store.events.count_documents({})
    while synced.get("events", 0) < stored - in_lake:
        time.sleep(0.5)
    time.sleep(3)  # the profile stream's last batch
    stop.set()
    runner.join()
    return stored


def auc(features: pa.Table) -> tuple[float, int, float]:
    """Held-out AUC of a gradient-boosted classifier, the test rows, and the churn rate."""
    names = [n for n in features.column_names if n not in NOT_FEATURES]
    x = np.column_stack([features[n].cast(pa.float64()).to_numpy(zero_copy_only=False) for n in names])
    y = features["churned"].to_numpy(zero_copy_only=False).astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=7, stratify=y)
    model = HistGradientBoostingClassifier(random_state=7).fit(x_train, y_train)
    return roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]), len(y_test), y.mean()


def main(
    people: Annotated[int, typer.Option(help="People in the demo world.")] = 3_000,
    seed: Annotated[int, typer.Option(help="The demo world's seed.")] = DEFAULT_SEED,
) -> None:
    settings = load_settings()
    world = generate_world(people=people, events_per_person=20, seed=seed)
    events = sorted(world_events(world), key=lambda e: e.occurred_at)
    cutoff = world.now - HORIZON
    known = sum(1 for e in events if e.occurred_at <= cutoff)
    store = Store.open(settings.mongo.uri, "c360_churn_example")
    store.client.drop_database("c360_churn_example")
    store.ensure_indexes()
    try:
        with tempfile.TemporaryDirectory(prefix="c360-churn-") as tmp:
            lake, writer = Path(tmp) / "lake", ProfileWriter(store)
            for start in range(0, known, 2_000):
                writer.apply(events[start : min(start + 2_000, known)])
            synced = sync_all(store, lake)
            labelled_at = datetime.now(UTC)
            time.sleep(1)  # every later change is strictly after the label time
            live = [d["_id"] for d in store.profiles.find({"merged_into": {"$exists": False}}, {"_id": 1})]
            for start in range(known, len(events), 2_000):
                writer.apply(events[start : start + 2_000])
            sync_all(store, lake, synced)

            con = Lakehouse(Location(str(lake))).duckdb()
            con.register("live_at_label", pa.table({"profile_id": live}))
            labels = con.sql(LABELS.format(cutoff=cutoff.isoformat())).to_arrow_table()
            at = pa.array([labelled_at] * labels.num_rows, pa.timestamp("us", "UTC"))
            point_in_time = training_set(con, labels.append_column("labelled_at", at), "labelled_at")
            end = pa.array([datetime.now(UTC)] * labels.num_rows, pa.timestamp("us", "UTC"))
            leaky = training_set(con, labels.append_column("labelled_at", end), "labelled_at")
    finally:
        store.client.drop_database("c360_churn_example")
        store.close()

    print(f"{len(events):,} events of {people:,} people; {known:,} before the cutoff, {cutoff:%Y-%m-%d}")
    score, tested, rate = auc(point_in_time)
    print(f"{labels.num_rows:,} labelled profiles, churn rate {rate:.1%}; features as of the label time")
    print(f"AUC on {tested:,} held-out profiles: {score:.3f}")
    leaked, _, _ = auc(leaky)
    print(f"the same model on features read after the outcome (leakage): AUC {leaked:.3f}")


if __name__ == "__main__":
    typer.run(main)
