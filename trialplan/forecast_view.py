"""Text rendering of forecasts for the terminal (the JSON shape is planner.study_forecast)."""

from __future__ import annotations

from planner.recruitment.history import RecruitmentHistory
from planner.recruitment.whatif import MAX_EXTRA_SITES, SitesNeeded
from planner.study_forecast import StudyForecast


def day_text(value: object) -> str:
    """An ISO date, or "never" for a milestone not reached within the horizon."""
    return value.isoformat() if value else "never"


def forecast_text(forecast: StudyForecast, run_id: int | None, reused: bool = False) -> str:
    history, recruitment = forecast.history, forecast.recruitment
    lines = [f"study {history.study_id}   data cut {history.cut}   randomized "
             f"{history.randomized} of {history.target}   {forecast.sims:,} simulations, "
             f"seed {forecast.seed}"]
    reason = recruitment.selection.reason if recruitment.selection else "chosen by the caller"
    lines.append(f"model: {recruitment.model.value} ({reason})")
    constant, last = recruitment.fits[0], recruitment.fits[-1]  # averaged: constant, declining
    lines.append(f"site rates: mean {constant.alpha / constant.beta:.3f} per site-month "
                 f"(Gamma shape {constant.alpha:.2f}), decline {last.delta:.3f}/month"
                 f"{' (declining half)' if len(recruitment.fits) > 1 else ''}, never-enroll "
                 f"share of new sites {recruitment.never_enroll:.0%}")
    for extra in recruitment.extra:
        lines.append(f"what-if: +{extra.count} sites in {extra.country} opening "
                     f"{extra.opens:.1f} months after the cut")
    lines.append("")
    lines.append(f"{'milestone':<10}{'P10':>12}{'P50':>12}{'P90':>12}")
    for m in forecast.milestones:
        if m.reached:
            lines.append(f"{m.name:<10}{'reached ' + m.p50.isoformat():>36}")
        else:
            lines.append(f"{m.name:<10}{day_text(m.p10):>12}{day_text(m.p50):>12}{day_text(m.p90):>12}")
    lines.append("")
    countries = recruitment.by_country.rename(columns={
        "sites_open": "open", "sites_planned": "planned", "sites_added": "added",
        "rate_per_site_month": "rate/site-mo", "at_lpi_p10": "LPI P10", "at_lpi_p50": "LPI P50",
        "at_lpi_p90": "LPI P90"})
    lines.append("randomized by country now and at LPI:")
    lines.append(countries.to_string(index=False))
    conversion = recruitment.conversion()
    lines.append("")
    lines.append(f"to go: {conversion['remaining_randomized']} randomized, about "
                 f"{conversion['screenings_needed']} screenings at a "
                 f"{conversion['screen_fail_rate']:.0%} screen-failure rate; "
                 f"{conversion['completers_expected']} completers expected at "
                 f"{conversion['dropout_rate']:.0%} dropout")
    if history.unplanned_sites:
        lines.append(f"note: {history.unplanned_sites} sites without an activation or planned "
                     "date are not counted")
    if run_id is not None:
        how = ("same inputs as the latest run: reused" if reused else "stored")
        lines.append(f"forecast run {run_id} ({how}); milestone forecast dates set from it")
    return "\n".join(lines)


def sites_needed_text(answer: SitesNeeded, study_id: str) -> str:
    head = (f"study {study_id}: reach the target by {answer.target_date} with probability "
            f"{answer.probability:.0%}, extra sites in {answer.country} opening "
            f"{answer.opens:.1f} months after the cut (model {answer.model.value})")
    if answer.sites is None and answer.opens >= answer.months_to_target:
        return (f"{head}\nnot reachable by adding sites: they would open on or after the "
                f"target date (without extra sites {answer.baseline_probability:.0%})")
    if answer.sites is None:
        return (f"{head}\nnot reachable: even {MAX_EXTRA_SITES} extra sites give "
                f"{answer.achieved_probability:.0%} (without extra sites "
                f"{answer.baseline_probability:.0%})")
    return (f"{head}\nextra sites needed: {answer.sites} (probability "
            f"{answer.achieved_probability:.0%} with them, {answer.baseline_probability:.0%} "
            "without)")


def sites_needed_document(answer: SitesNeeded, history: RecruitmentHistory,
                          opens: float) -> dict:
    """``--target-date ... --json``."""
    return {"study_id": history.study_id, "as_of": history.cut.isoformat(),
            "target_date": answer.target_date.isoformat(), "probability": answer.probability,
            "country": answer.country, "opens_months_after_cut": round(opens, 3),
            "sites_needed": answer.sites, "model": answer.model.value,
            "baseline_probability": answer.baseline_probability,
            "achieved_probability": answer.achieved_probability}
