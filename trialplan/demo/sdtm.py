"""A demo study's history as CDISC SDTM domains (DM, DS, SV, TV).

The demo goes through the same SDTM importer as a sponsor's data would, so
the frames carry exactly what :mod:`planner.importing.sdtm` derives from:
ARMCD ``SCRNFAIL`` and a DS ``SCREEN FAILURE`` event for screen failures,
RFSTDTC and a DS ``RANDOMIZED`` milestone for randomization, RFICDTC for
consent, and one DS disposition event per subject who left the study.
"""

from __future__ import annotations

import pandas as pd

from trialplan.demo.catalogue import COUNTRIES
from trialplan.demo.enrollment import Enrollment
from trialplan.demo.sites import iso

DISPOSITION = "DISPOSITION EVENT"
MILESTONE = "PROTOCOL MILESTONE"


def dm_frame(history: Enrollment) -> pd.DataFrame:
    s = history.subjects
    screened = iso(s["screened"])
    return pd.DataFrame({
        "STUDYID": s["study_id"], "DOMAIN": "DM", "USUBJID": s["subject_id"],
        "SITEID": s["site_id"], "ARMCD": s["arm_code"], "ARM": s["arm"],
        "COUNTRY": [COUNTRIES[c].alpha3 for c in s["country"]],
        "RFSTDTC": iso(s["randomized"]), "RFICDTC": screened, "DMDTC": screened,
    })


def ds_frame(history: Enrollment) -> pd.DataFrame:
    """Consent and randomization milestones, screen failures and final dispositions."""
    s = history.subjects
    parts = [
        pd.DataFrame({"USUBJID": s["subject_id"], "DSDECOD": "INFORMED CONSENT OBTAINED",
                      "DSCAT": MILESTONE, "DSSTDTC": s["screened"]}),
        pd.DataFrame({"USUBJID": s["subject_id"], "DSDECOD": "RANDOMIZED",
                      "DSCAT": MILESTONE, "DSSTDTC": s["randomized"]}),
        pd.DataFrame({"USUBJID": s["subject_id"], "DSDECOD": "SCREEN FAILURE",
                      "DSCAT": DISPOSITION, "DSSTDTC": s["screen_failed"]}),
        pd.DataFrame({"USUBJID": s["subject_id"], "DSDECOD": s["disposition"],
                      "DSCAT": DISPOSITION, "DSSTDTC": s["disposition_date"]}),
    ]
    events = pd.concat(parts, ignore_index=True)
    events = events[events["DSSTDTC"].notna()].sort_values(["USUBJID", "DSSTDTC"],
                                                          kind="stable")
    study_id = s["study_id"].iloc[0] if len(s) else ""
    return pd.DataFrame({"STUDYID": study_id, "DOMAIN": "DS", "USUBJID": events["USUBJID"],
                         "DSDECOD": events["DSDECOD"], "DSCAT": events["DSCAT"],
                         "DSSTDTC": iso(events["DSSTDTC"])}).reset_index(drop=True)


def sv_frame(history: Enrollment, study_id: str) -> pd.DataFrame:
    v = history.visits.sort_values(["subject_id", "date", "VISITNUM"], kind="stable")
    dates = iso(v["date"])
    return pd.DataFrame({"STUDYID": study_id, "DOMAIN": "SV", "USUBJID": v["subject_id"],
                         "VISITNUM": v["VISITNUM"], "VISIT": v["VISIT"],
                         "SVSTDTC": dates, "SVENDTC": dates}).reset_index(drop=True)


def tv_frame(history: Enrollment, study_id: str) -> pd.DataFrame:
    tv = history.schedule
    return pd.DataFrame({"STUDYID": study_id, "DOMAIN": "TV", "VISITNUM": tv["VISITNUM"],
                         "VISIT": tv["VISIT"], "VISITDY": tv["VISITDY"],
                         "TVSTRL": tv["TVSTRL"]})


def domains(history: Enrollment, study_id: str) -> dict[str, pd.DataFrame]:
    """The four domains of one study, keyed by domain name."""
    return {"DM": dm_frame(history), "DS": ds_frame(history),
            "SV": sv_frame(history, study_id), "TV": tv_frame(history, study_id)}
