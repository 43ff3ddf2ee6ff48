"""Recruitment and visit history of one demo study up to the data cut.

Screening at each open site is a Poisson process whose rate is the site's
randomization rate divided by (1 - screen-failure rate); a screened subject
fails screening with the study's planned rate or is randomized 1-4 weeks
later. Recruitment stops when the target is reached (LPI), so no study
enrolls beyond its target. Randomized subjects follow the schedule of
assessments (TV) and drop out at the study's dropout rate. Nothing dated
after the cut is kept: what lies beyond it is the forecast's business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialplan.demo.catalogue import DAYS_PER_MONTH, StudySpec
from trialplan.demo.sites import day

NEVER_ENROLL_SCREENING = 0.12  # screenings per month at a site that never randomizes
UNSCHEDULED_PER_SUBJECT = 0.3
UNSCHEDULED_VISITNUM = 99.0
DROPOUT_REASONS = ("ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP")
DROPOUT_WEIGHTS = (0.45, 0.35, 0.20)
NAT = np.datetime64("NaT", "D")


def schedule(spec: StudySpec) -> pd.DataFrame:
    """The schedule of assessments (TV): screening, baseline, every few weeks, follow-up."""
    every, weeks = spec.visit_every_weeks, spec.treatment_weeks
    treatment = list(range(every, weeks + 1, every))
    if not treatment or treatment[-1] != weeks:
        treatment.append(weeks)
    rows = [("SCREENING", -14.0, "Informed consent signed"),
            ("BASELINE", 1.0, "Randomization and first dose")]
    rows += [(f"WEEK {w}", 7.0 * w + 1, "") for w in treatment]
    if spec.followup_weeks:
        rows.append(("FOLLOW-UP", 7.0 * (weeks + spec.followup_weeks) + 1, "End of follow-up"))
    frame = pd.DataFrame(rows, columns=["VISIT", "VISITDY", "TVSTRL"])
    frame.insert(0, "VISITNUM", np.arange(1, len(frame) + 1, dtype=float))
    unscheduled = pd.DataFrame([{"VISITNUM": UNSCHEDULED_VISITNUM, "VISIT": "UNSCHEDULED",
                                 "VISITDY": np.nan, "TVSTRL": "If clinically indicated"}])
    return pd.concat([frame, unscheduled], ignore_index=True)


@dataclass(frozen=True)
class Enrollment:
    """Subjects (one row each, dates as datetime64[D]) and their visits up to the cut."""

    subjects: pd.DataFrame
    visits: pd.DataFrame
    schedule: pd.DataFrame
    lpi: np.datetime64 | None  # the day the target was reached, when it was


def _screenings(sites: pd.DataFrame, spec: StudySpec, cut: np.datetime64,
                rng: np.random.Generator) -> pd.DataFrame:
    """Every screening at every open site, with its would-be randomization or failure day."""
    parts = []
    for site in sites.itertuples(index=False):
        open_days = int((cut - site.activation) / np.timedelta64(1, "D"))
        if open_days < 0:
            continue
        if site.never_enroll:
            per_day, fail_p = NEVER_ENROLL_SCREENING / DAYS_PER_MONTH, 1.0
        else:
            per_day, fail_p = site.rate / (1 - spec.sf_rate) / DAYS_PER_MONTH, spec.sf_rate
        n = int(rng.poisson(per_day * (open_days + 1)))
        screened = site.activation + np.sort(rng.integers(0, open_days + 1, n)).astype(
            "timedelta64[D]")
        parts.append(pd.DataFrame({
            "site_id": site.site_id, "country": site.country, "screened": screened,
            "fails": rng.random(n) < fail_p,
            "sf_day": screened + rng.integers(3, 22, n).astype("timedelta64[D]"),
            "rand_day": screened + rng.integers(7, 29, n).astype("timedelta64[D]")}))
    if not parts:  # no site open yet
        empty = np.array([], dtype="datetime64[D]")
        return pd.DataFrame({"site_id": pd.Series([], dtype=object),
                             "country": pd.Series([], dtype=object), "screened": empty,
                             "fails": np.array([], dtype=bool), "sf_day": empty,
                             "rand_day": empty})
    return pd.concat(parts, ignore_index=True)


def _cap_at_target(screens: pd.DataFrame, target: int, cut: np.datetime64
                   ) -> tuple[pd.DataFrame, np.datetime64 | None]:
    """Keep the first ``target`` randomizations; once reached (LPI) screening stops."""
    candidates = screens.loc[~screens["fails"], "rand_day"].sort_values(kind="stable")
    keep = pd.Series(True, index=screens.index)
    keep[candidates.index[target:]] = False
    lpi = None
    if len(candidates) >= target and candidates.iloc[target - 1] <= cut:
        lpi = np.datetime64(candidates.iloc[target - 1], "D")
        keep &= screens["screened"] <= lpi
    return screens[keep].reset_index(drop=True), lpi


def simulate(spec: StudySpec, sites: pd.DataFrame, as_of: dt.date,
             rng: np.random.Generator) -> Enrollment:
    """Subjects and visits of one study from its sites' activations and rates."""
    cut = day(as_of)
    tv = schedule(spec)
    screens, lpi = _cap_at_target(_screenings(sites, spec, cut, rng), spec.target_randomized,
                                  cut)
    screens = screens.sort_values(["site_id", "screened"], kind="stable").reset_index(drop=True)
    number = screens.groupby("site_id").cumcount() + 1
    screens["subject_id"] = [f"{spec.study_id}-{s}-{k:03d}"
                             for s, k in zip(screens["site_id"], number, strict=True)]
    screened = screens["screened"].to_numpy("datetime64[D]")
    failed = screens["fails"].to_numpy() & (screens["sf_day"].to_numpy("datetime64[D]") <= cut)
    randomized = ~screens["fails"].to_numpy() & (
        screens["rand_day"].to_numpy("datetime64[D]") <= cut)
    arm_index = rng.integers(len(spec.arms), size=len(screens))
    subjects = pd.DataFrame({
        "study_id": spec.study_id, "site_id": screens["site_id"],
        "subject_id": screens["subject_id"], "country": screens["country"],
        "screened": screened,
        "randomized": np.where(randomized, screens["rand_day"], NAT).astype("datetime64[D]"),
        "screen_failed": np.where(failed, screens["sf_day"], NAT).astype("datetime64[D]"),
        "arm_code": np.where(randomized, [spec.arms[i][0] for i in arm_index], "NOTASSGN"),
        "arm": np.where(randomized, [spec.arms[i][1] for i in arm_index], "Not Assigned"),
    })
    subjects.loc[failed, ["arm_code", "arm"]] = ["SCRNFAIL", "Screen Failure"]
    screening_visits = pd.DataFrame({"subject_id": subjects["subject_id"], "VISITNUM": 1.0,
                                     "VISIT": "SCREENING", "date": screened})
    on_treatment, visits = _follow(spec, tv, subjects.loc[randomized], cut, rng)
    subjects = subjects.join(on_treatment)
    subjects["on_study"] = (subjects["randomized"].notna() & subjects["disposition"].isna()) | (
        subjects["randomized"].isna() & subjects["screen_failed"].isna())
    visits = pd.concat([screening_visits, visits], ignore_index=True)
    last_visit = visits.groupby("subject_id")["date"].max()
    subjects["last_activity"] = pd.concat(
        [subjects.set_index("subject_id")["screen_failed"],
         subjects.set_index("subject_id")["disposition_date"],
         last_visit.reindex(subjects["subject_id"])], axis=1).max(axis=1).to_numpy()
    return Enrollment(subjects, visits, tv, lpi)


def _follow(spec: StudySpec, tv: pd.DataFrame, randomized: pd.DataFrame, cut: np.datetime64,
            rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scheduled and unscheduled visits, dropouts and completions of randomized subjects."""
    planned = tv[(tv["VISITNUM"] >= 2) & tv["VISITDY"].notna()]
    offsets = planned["VISITDY"].to_numpy(dtype=int) - 1
    m = len(randomized)
    start = randomized["randomized"].to_numpy("datetime64[D]")
    jitter = rng.integers(-3, 4, (m, len(offsets)))
    jitter[:, 0] = 0
    days = offsets[None, :] + jitter
    dropped = rng.random(m) < spec.dropout_rate
    drop_day = rng.integers(1, offsets[-1] + 1, m)
    reason = rng.choice(DROPOUT_REASONS, size=m, p=DROPOUT_WEIGHTS)
    dates = start[:, None] + days.astype("timedelta64[D]")
    attended = (dates <= cut) & (~dropped[:, None] | (days <= drop_day[:, None]))
    end = np.where(dropped, start + drop_day.astype("timedelta64[D]"), dates[:, -1])
    ended = end <= cut
    disposition = np.where(dropped, reason, "COMPLETED").astype(object)
    disposition[~ended] = None
    rows, cols = np.nonzero(attended)
    visits = pd.DataFrame({"subject_id": randomized["subject_id"].to_numpy()[rows],
                           "VISITNUM": planned["VISITNUM"].to_numpy()[cols],
                           "VISIT": planned["VISIT"].to_numpy()[cols], "date": dates[rows, cols]})
    extra = rng.poisson(UNSCHEDULED_PER_SUBJECT, m)
    window = ((np.minimum(end, cut) - start) / np.timedelta64(1, "D")).astype(int)
    who = np.repeat(np.arange(m), extra)
    when = start[who] + (rng.random(len(who)) * window[who]).astype(int).astype(
        "timedelta64[D]") + np.timedelta64(1, "D")
    ok = when <= np.minimum(end, cut)[who]
    unscheduled = pd.DataFrame({"subject_id": randomized["subject_id"].to_numpy()[who[ok]],
                                "VISITNUM": UNSCHEDULED_VISITNUM, "VISIT": "UNSCHEDULED",
                                "date": when[ok]})
    unscheduled = unscheduled.drop_duplicates()  # two on one day would be one visit recorded twice
    outcome = pd.DataFrame({"disposition": disposition,
                            "disposition_date": np.where(ended, end, NAT)},
                           index=randomized.index)
    return outcome, pd.concat([visits, unscheduled], ignore_index=True)
