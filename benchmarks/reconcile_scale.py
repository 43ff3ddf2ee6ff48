"""Invoice reconciliation at scale: 1,000,000 earned visits, 50,000 invoice lines (issue 5).

    python -m benchmarks.reconcile_scale [--sites 2000] [--subjects 25] [--visits 20]
        [--lines 50000] [--sample 10000] [--seed 0] [--skip-earned]

A synthetic study: sites over 10 countries (EUR, GBP, USD, CAD, JPY, PLN), 25
subjects a site, 20 scheduled visits each, every visit earned at the fee in
force (country templates, a dated amendment of visit 10, site overrides of
visit 1 at 5 % of the sites, overhead 0-30 %). The invoices bill a sample of
the visits, a quarter's visits per site per invoice, with a few percent of
perturbations whose status is known: amounts up or down, exact duplicates on a
later invoice, visits that do not exist, codes not in the contract, invoices in
the wrong currency, dates a few days off, and invoiceable IRB fees over their
cap of 2 (counted in line order). Times ``contracts.reconcile.reconcile`` and its
peak memory (the process's peak resident set during the call, inputs included; Linux
``VmHWM`` reset just before), checks every line's status against the
perturbation that made it, and compares with

* the floor: a bare pandas merge of the lines and items on the same keys;
* a naive per-row Python loop implementing the same rules
  (``benchmarks/reconcile_naive.py``): its index over all items is timed in
  full, its line loop on a random sample of lines and scaled to all lines
  (labelled extrapolated); on the sample its statuses and expected amounts must
  equal ``reconcile``'s.

Also times ``contracts.earned.earned_items`` on the same visits when that module
is there. Exit status 2 when a check fails, else 0 (targets: ≤ 20 s, ≤ 2 GB).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine_info import machine, warning_summary
from benchmarks.reconcile_naive import build_index, naive_reconcile
from contracts.minor import percent_factor, scale_half_up
from contracts.reconcile import KEY, reconcile
from contracts.schemas import EARNED, FEES, INVOICE_LINES, TERMS
from contracts.site_contracts import site_contracts
from planner.frames import PLANNED_VISITS, SITES, SUBJECTS, VISITS

STUDY = "BENCH-PAY"
COUNTRIES = {"DE": "EUR", "FR": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR", "GB": "GBP",
             "US": "USD", "CA": "CAD", "JP": "JPY", "PL": "PLN"}
OVERHEADS = ("0", "10", "12.5", "26", "30")
START = np.datetime64("2014-01-01", "D")
AMENDED_CODE, AMENDED_FROM = 10, np.datetime64("2015-01-01", "D")
IRB_CAP = 2
TARGET_SECONDS, TARGET_BYTES = 20.0, 2 * 1024**3
SHARES = {"over": 0.02, "under": 0.02, "duplicate": 0.01, "ghost": 0.006, "foreign": 0.006,
          "currency": 0.006, "irb": 0.006}
STATUS_OF = {"ok": "matched", "over": "over_billed", "under": "under_billed",
             "currency": "wrong_currency", "ghost": "not_earned",
             "foreign": "not_in_contract", "duplicate": "duplicate"}


def _strings(values: np.ndarray) -> pd.arrays.StringArray:
    return pd.array(values.astype(object), dtype="string")


def _peak_rss() -> int:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1]) * 1024


def _rss() -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())[1]) * 1024


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Study:
    """The synthetic study: contracts, subjects, visits and the earned items."""

    def __init__(self, sites: int, subjects: int, visits: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        countries = np.array(list(COUNTRIES))
        self.site_ids = np.array([f"{1000 + i}" for i in range(sites)], dtype=object)
        site_country = np.arange(sites) % len(countries)
        self.site_country = countries[site_country]
        self.codes = np.array([str(v) for v in range(1, visits + 1)], dtype=object)
        grid = rng.integers(5_000, 60_000, (len(countries), visits))
        amended = (grid[:, AMENDED_CODE - 1] * 21) // 20
        overrides = rng.random(sites) < 0.05
        override_fee = rng.integers(5_000, 60_000, sites)
        overhead = {c: OVERHEADS[i % len(OVERHEADS)] for i, c in enumerate(countries)}
        fee_rows = []
        for ci, country in enumerate(countries):
            for vi, code in enumerate(self.codes):
                fee_rows.append((country, None, "visit", code, int(grid[ci, vi]), "2013-01-01",
                                 None))
            fee_rows += [(country, None, "visit", str(AMENDED_CODE), int(amended[ci]),
                          str(AMENDED_FROM), None),
                         (country, None, "invoiceable", "IRB", 25_000, "2013-01-01", IRB_CAP),
                         (country, None, "screen_failure", "SF", 10_000, "2013-01-01", None)]
        for si in np.flatnonzero(overrides):
            fee_rows.append((self.site_country[si], self.site_ids[si], "visit", "1",
                             int(override_fee[si]), "2013-01-01", None))
        fees = pd.DataFrame(fee_rows, columns=["country", "site_id", "item_type", "item_code",
                                               "amount_minor", "effective_from", "cap"])
        self.fees = FEES.conform(fees.assign(
            study_id=STUDY, description=fees["item_code"], source="bench",
            currency=fees["country"].map(COUNTRIES),
            effective_from=pd.to_datetime(fees["effective_from"])))
        self.terms = TERMS.conform(pd.DataFrame({
            "study_id": STUDY, "country": countries, "site_id": None,
            "overhead_pct": [Decimal(overhead[c]) for c in countries],
            "holdback_pct": Decimal(10), "sf_ratio": Decimal("0.25"), "sf_min": None,
            "sf_max": None, "payment_frequency": "monthly", "terms_days": 30,
            "source": "bench"}))
        self.sites = SITES.conform(pd.DataFrame({
            "study_id": STUDY, "site_id": self.site_ids, "country": self.site_country,
            "investigator": "PI", "status": "enrolling",
            "planned_activation": pd.Timestamp("2013-10-01"),
            "actual_activation": pd.NaT, "target_randomized": subjects, "cra_id": None}))
        # subjects and their visits: every two weeks from a random start, ± 2 days
        n_subjects = sites * subjects
        subject_site = np.repeat(np.arange(sites), subjects)
        self.subject_ids = np.array([f"{self.site_ids[s]}-{k:03d}" for s, k in zip(
            subject_site, np.tile(np.arange(subjects), sites), strict=True)], dtype=object)
        first = START + rng.integers(0, 700, n_subjects)
        n = n_subjects * visits
        subject = np.repeat(np.arange(n_subjects), visits)
        visit = np.tile(np.arange(visits), n_subjects)
        day = first[subject] + 14 * visit + rng.integers(-2, 3, n)
        site = subject_site[subject]
        country = site_country[site]
        fee = grid[country, visit]
        fee = np.where((visit == AMENDED_CODE - 1) & (day >= AMENDED_FROM), amended[country],
                       fee)
        fee = np.where((visit == 0) & overrides[site], override_fee[site], fee)
        gross = np.zeros(n, np.int64)
        for ci, c in enumerate(countries):
            mask = country == ci
            gross[mask] = scale_half_up(fee[mask], 1 + percent_factor(Decimal(overhead[c])))
        service = day.astype("datetime64[s]")
        self.earned = EARNED.conform(pd.DataFrame({
            "study_id": _strings(np.full(n, STUDY, object)),
            "site_id": _strings(self.site_ids[site]),
            "country": _strings(self.site_country[site]),
            "subject_id": _strings(self.subject_ids[subject]),
            "item_type": _strings(np.full(n, "visit", object)),
            "item_code": _strings(self.codes[visit]),
            "item_ref": pd.array(np.full(n, pd.NA, object), dtype="string"),
            "occurrence": np.ones(n, np.int64),
            "service_date": service, "earned_date": service,
            "status": _strings(np.full(n, "earned", object)), "fee_minor": fee,
            "gross_minor": gross, "holdback_minor": scale_half_up(gross, Decimal("0.1")),
            "currency": _strings(pd.Series(self.site_country[site]).map(COUNTRIES).to_numpy()),
            "source": _strings(("SV row " + pd.Series(np.arange(n) + 2).astype(str))
                               .to_numpy()),
        }))
        self.subjects = SUBJECTS.conform(pd.DataFrame({
            "study_id": STUDY, "site_id": self.site_ids[subject_site],
            "subject_id": self.subject_ids, "arm": "A",
            "screened": (first - 14).astype("datetime64[s]"),
            "randomized": first.astype("datetime64[s]"), "screen_failed": pd.NaT,
            "discontinued": pd.NaT, "completed": pd.NaT, "disposition": "COMPLETED"}))
        self.visits = VISITS.conform(pd.DataFrame({
            "study_id": STUDY, "site_id": self.site_ids[site],
            "subject_id": self.subject_ids[subject], "visit_num": (visit + 1).astype(float),
            "visit_seq": 1, "visit_name": self.codes[visit], "visit_date": service}))
        self.planned_visits = PLANNED_VISITS.conform(pd.DataFrame({
            "study_id": STUDY, "visit_num": np.arange(1, visits + 1, dtype=float),
            "visit_name": self.codes, "planned_day": 14 * np.arange(visits),
            "scheduled": True}))
        self.contracts = site_contracts(self.sites, self.fees, self.terms,
                                        self.visits[["study_id", "site_id", "visit_date"]])


def invoice_lines(study: Study, total: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``total`` invoice lines with a known status each (lines, expected statuses)."""
    rng, earned = study.rng, study.earned
    extra = {k: int(round(total * SHARES[k])) for k in ("duplicate", "ghost", "foreign", "irb")}
    base = total - sum(extra.values())
    picked = np.sort(rng.choice(len(earned), base, replace=False))
    lines = earned.iloc[picked][[*KEY, "service_date", "gross_minor", "currency"]]
    lines = lines.rename(columns={"gross_minor": "amount_minor"}).reset_index(drop=True)
    tag = rng.choice(["ok", "over", "under", "currency"], base,
                     p=[1 - SHARES["over"] - SHARES["under"] - SHARES["currency"],
                        SHARES["over"], SHARES["under"], SHARES["currency"]])
    amount = lines["amount_minor"].to_numpy().copy()
    amount[tag == "over"] += rng.integers(1, 2_000, (tag == "over").sum())
    under = tag == "under"
    amount[under] -= np.minimum(rng.integers(1, 2_000, under.sum()), amount[under])
    tag[(tag == "under") & (amount == lines["amount_minor"].to_numpy())] = "ok"
    shifted = rng.random(base) < 0.2  # billed a few days off the recorded date
    dates = lines["service_date"].to_numpy("datetime64[D]")
    dates = dates + np.where(shifted, rng.integers(-3, 4, base), 0)
    currency = lines["currency"].to_numpy(object).copy()
    swap = {"EUR": "USD", "USD": "EUR", "GBP": "EUR", "CAD": "USD", "JPY": "USD", "PLN": "EUR"}
    currency[tag == "currency"] = [swap[c] for c in currency[tag == "currency"]]
    lines = lines.assign(amount_minor=amount, service_date=dates.astype("datetime64[s]"),
                         currency=currency)
    frames, tags = [lines], [tag]
    # exact duplicates of correct lines, billed again on a later invoice
    again = rng.choice(np.flatnonzero(tag == "ok"), extra["duplicate"], replace=False)
    frames.append(lines.iloc[again].assign(_later=True))
    tags.append(np.full(len(again), "duplicate"))
    sites = rng.integers(0, len(study.site_ids), extra["ghost"] + extra["foreign"])
    some = study.earned.iloc[rng.choice(len(earned), len(sites))]
    ghosts = pd.DataFrame({
        "study_id": STUDY, "site_id": some["site_id"].to_numpy(),
        "subject_id": [f"GHOST-{i}" for i in range(len(sites))],
        "item_type": "visit", "item_code": some["item_code"].to_numpy(),
        "service_date": some["service_date"].to_numpy(),
        "amount_minor": some["gross_minor"].to_numpy(), "currency": some["currency"].to_numpy()})
    foreign = ghosts.index >= extra["ghost"]
    ghosts.loc[foreign, "subject_id"] = some["subject_id"].to_numpy()[foreign]
    ghosts.loc[foreign, "item_code"] = "99"
    frames.append(ghosts)
    tags.append(np.where(foreign, "foreign", "ghost"))
    # IRB renewals: three a subject, the third over the cap of two
    who = study.earned.iloc[rng.choice(len(earned), extra["irb"] // 3, replace=False)]
    irb = pd.DataFrame({
        "study_id": STUDY, "site_id": np.repeat(who["site_id"].to_numpy(), 3),
        "subject_id": np.repeat(who["subject_id"].to_numpy(), 3), "item_type": "invoiceable",
        "item_code": "IRB",
        "service_date": np.repeat(who["service_date"].to_numpy(), 3)
        + np.tile(np.array([0, 30, 60], "timedelta64[D]"), len(who)),
        "amount_minor": 0, "currency": np.repeat(who["currency"].to_numpy(), 3)})
    overhead = study.contracts.set_index("site_id")["overhead_pct"]
    factor = irb["site_id"].map(overhead).to_numpy(object)
    irb["amount_minor"] = [int(scale_half_up(np.array([25_000]), 1 + percent_factor(f))[0])
                           for f in factor]
    frames.append(irb)
    tags.append(np.tile(np.array(["irb_ok", "irb_ok", "irb_over"]), len(who)))
    out = pd.concat(frames, ignore_index=True)
    tag = np.concatenate(tags)
    # a quarter's services of a site on one invoice (re-billed lines: a later one)
    day = out["service_date"].to_numpy("datetime64[D]")
    quarter = (day.astype("datetime64[M]").astype(np.int64) // 3).astype(np.int64)
    later = out["_later"].fillna(False).to_numpy(bool) if "_later" in out else np.zeros(len(out))
    out["invoice_id"] = ("INV-" + out["site_id"].astype(str) + "-" + pd.Series(quarter).astype(str)
                         + np.where(later, "-R", ""))
    invoice_day = ((quarter + 1) * 3).astype("datetime64[M]").astype("datetime64[D]") + 20
    out["invoice_date"] = (invoice_day + np.where(later, 30, 0)).astype("datetime64[s]")
    shuffle = rng.permutation(len(out))
    out, tag = out.iloc[shuffle].reset_index(drop=True), tag[shuffle]
    out["line_no"] = out.groupby("invoice_id").cumcount() + 1
    out["source"] = "bench"
    status = np.array([STATUS_OF.get(t, "matched") for t in tag], dtype=object)
    # the cap counts IRB lines in line order (invoice date, invoice, line number)
    irb = np.flatnonzero(np.isin(tag, ["irb_ok", "irb_over"]))
    billed = out.iloc[irb].sort_values(["invoice_date", "invoice_id", "line_no"])
    count = billed.groupby(["site_id", "subject_id"], sort=False).cumcount() + 1
    status[count.index[count.to_numpy() > IRB_CAP]] = "not_earned"
    return INVOICE_LINES.conform(out), status


def _best_of(runs: int, call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=25)
    parser.add_argument("--visits", type=int, default=20)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-earned", action="store_true")
    args = parser.parse_args()
    failures: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        study = Study(args.sites, args.subjects, args.visits, args.seed)
        lines, want = invoice_lines(study, args.lines)
        print(f"data: {len(study.earned):,} earned items, {len(lines):,} invoice lines, "
              f"generated in {time.perf_counter() - start:.1f} s")
        before = _rss()
        measured = _reset_peak()
        start = time.perf_counter()
        rec = reconcile(study.earned, lines, study.fees, study.contracts)
        seconds = time.perf_counter() - start
        peak = _peak_rss() if measured else None
        start = time.perf_counter()
        rec.check_totals()
        check_seconds = time.perf_counter() - start
        wrong = int((rec.lines["status"].to_numpy(object) != want).sum())
        if wrong:
            failures.append(f"{wrong} lines got a status other than their perturbation's")
        floor = _best_of(2, lambda: lines[[*KEY, "service_date"]].merge(
            study.earned[[*KEY, "service_date"]], on=KEY))
        # the naive loop: its index over every item, its line loop on a sample
        sample = lines.iloc[np.sort(study.rng.choice(len(lines), args.sample, replace=False))]
        index = build_index(study.earned, study.fees, study.contracts)
        status, expected, loop = naive_reconcile(index, sample)
        vectorized = reconcile(study.earned, sample, study.fees, study.contracts).lines
        same = (np.array(status, object) == vectorized["status"].to_numpy(object))
        same &= np.array([e is None for e in expected]) == vectorized["expected_minor"].isna()
        known = vectorized["expected_minor"].notna().to_numpy()
        same[known] &= (np.array(expected, object)[known].astype(np.int64)
                        == vectorized["expected_minor"].to_numpy(np.int64, na_value=0)[known])
        if not same.all():
            failures.append(f"naive and vectorized disagree on {(~same).sum()} sample lines")
        naive = index.seconds + loop * len(lines) / len(sample)
        earned_seconds = None
        if not args.skip_earned:
            try:
                from contracts.earned import earned_items
                start = time.perf_counter()
                computed = earned_items(study.contracts, study.subjects, study.visits,
                                        study.planned_visits, study.fees,
                                        dt.date(2017, 12, 31))
                earned_seconds = time.perf_counter() - start
                if int(computed["gross_minor"].sum()) != int(study.earned["gross_minor"].sum()):
                    failures.append("earned_items' gross differs from the synthetic items'")
            except ImportError:
                print("contracts.earned is not there: earned_items not timed")
    totals = rec.totals()
    print(f"statuses: {rec.lines['status'].value_counts().to_dict()}")
    print(f"classes: {rec.items['item_class'].value_counts().to_dict()}")
    print(f"invoiced EUR {totals.invoiced.get('EUR', 0):,} minor units, earned EUR "
          f"{totals.earned.get('EUR', 0):,}")
    print()
    print("| step | seconds | × floor | target | result |")
    print("|---|---:|---:|---|---|")
    print(f"| bare pandas merge on the same keys (floor) | {floor:.2f} | 1.0 | | |")
    print(f"| `reconcile` (1 run) | {seconds:.2f} | {seconds / floor:.1f} | "
          f"≤ {TARGET_SECONDS:.0f} s | {'PASS' if seconds <= TARGET_SECONDS else 'FAIL'} |")
    print(f"| `check_totals` | {check_seconds:.2f} | {check_seconds / floor:.1f} | | |")
    print(f"| naive loop, extrapolated: index {index.seconds:.2f} s (all items) + line loop "
          f"{loop:.2f} s on {len(sample):,} lines × {len(lines) / len(sample):.0f} | "
          f"{naive:.2f} | {naive / floor:.1f} | | ×{naive / seconds:.1f} `reconcile` |")
    if earned_seconds is not None:
        print(f"| `earned_items` on {len(study.visits):,} visits | {earned_seconds:.2f} | | | |")
    if peak is not None:
        print(f"\npeak resident memory during reconcile: {peak / 1024**3:.2f} GiB (inputs "
              f"included; {before / 1024**3:.2f} GiB before the call); target ≤ 2 GiB: "
              f"{'PASS' if peak <= TARGET_BYTES else 'FAIL'}")
    print(f"naive vs vectorized on the {len(sample):,}-line sample: "
          f"{int(same.sum()):,} of {len(sample):,} lines agree")
    print(f"warnings: {warning_summary(caught)}")
    print(f"machine: {machine()}")
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    return 2 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
