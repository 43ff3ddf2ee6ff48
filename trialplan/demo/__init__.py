"""The demo portfolio (``trialplan demo``): a realistic CRO book of work, imported for real.

Six fictional studies (phases I-III, five therapeutic areas, four sponsors)
with about 250 sites in 16 countries, about 40 CRAs and the other roles,
recruitment and visit history up to the data cut, and milestones, all
loaded through the same importers as users' files; plus the real CDISC SDTM
pilot study shipped with the package.
"""

from trialplan.demo.build import DEMO_AS_OF, DEMO_SEED, DemoData, DemoSummary, build_demo, generate

__all__ = ["DEMO_AS_OF", "DEMO_SEED", "DemoData", "DemoSummary", "build_demo", "generate"]
