"""Splink (DuckDB backend) on the same FEBRL records and the same comparisons and blocking rules: the
batch reference the streaming resolver is measured against. Needs the `bench` extra."""

from __future__ import annotations

import logging
import time

from bench.febrl import FebrlData, PairScore, score

PROBABILITY_THRESHOLD = 0.5  # Splink's posterior: a pair is predicted a match when it is more likely than not


def run_splink(data: FebrlData) -> tuple[PairScore, float]:
    """Pairwise predictions at match probability 0.5, and the wall time of training plus prediction."""
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    frame = pd.DataFrame([{"unique_id": rid, **rec} for rid, rec in data.records.items()])
    db_api = DuckDBAPI()
    blocking = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname"),
        block_on("surname", "date_of_birth"),
        block_on("given_name", "date_of_birth"),
        block_on("postcode", "street_number"),
        block_on("surname", "postcode"),
        block_on("given_name", "postcode"),
        block_on("date_of_birth", "postcode"),
    ]
    settings = SettingsCreator(
        link_type="link_only" if data.linking else "dedupe_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]).configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
    )
    if data.linking:
        tables = [
            db_api.register(
                frame[[data.source[r] == side for r in frame["unique_id"]]].reset_index(drop=True)
            )
            for side in ("a", "b")
        ]
        linker = Linker(tables, settings, log_level=logging.WARNING)
    else:
        linker = Linker(db_api.register(frame), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth"), block_on("given_name", "surname", "postcode")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in (block_on("date_of_birth"), block_on("surname"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(
        threshold_match_probability=PROBABILITY_THRESHOLD
    ).as_pandas_dataframe()
    pairs = {frozenset(p) for p in zip(predictions["unique_id_l"], predictions["unique_id_r"], strict=True)}
    return score(pairs, data.truth), time.perf_counter() - started
