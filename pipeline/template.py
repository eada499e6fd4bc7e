"""Study scaffolding: the one source of study.yaml, the default instrument and the team README.

``socap init`` (a new regional study), ``socap simulate`` (synthetic studies) and the bundled
example study all write their study.yaml from ``templates/study.yaml`` and copy the packaged
default instrument, so the three cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import StudyError
from pipeline.config.instrument import default_instrument_path

TEMPLATES = Path(__file__).parent / "templates"

INIT_FIELDS = {
    "header": "# Written by `socap init`. Next: copy your survey export into data/raw/, then run\n"
              "# `socap validate` and fix what it reports, then `socap run`.",
    "title": "My regional cluster survey",
    "files": "  # files: [data/raw/survey.xlsx]",
    "id": "ResponseId",
    "unit": "  # unit: firm_id                # the unit (firm) a respondent answers for",
    "group": "  # group: cluster                # the higher level (cluster or region)",
    "scoring": "factor",
    "units": ("# units:                        # one row per unit (firm): outcomes, controls\n"
              "#   file: data/raw/firms.csv\n"
              "#   id: firm_id"),
    "network": ("# network:                      # ties between units (and institutions)\n"
                "#   edges: data/raw/ties.csv     # columns source, target, optional weight, type\n"
                "#   directed: false"),
    "models": ("  models: []                    # add models once units and the network are set, e.g.\n"
               "  # models:\n"
               "  #   - name: catalytic\n"
               "  #     level: unit\n"
               "  #     formula: \"new_products ~ degree * social_capital + log_employees\"\n"
               "  #     family: poisson           # gaussian | poisson | negbin | logit\n"
               "  #     se: cluster               # classical | hc3 | cluster (CR2 below 50 clusters) | cr1 | cr2 | wild\n"
               "  #     cluster: cluster\n"
               "  #     focal: degree\n"
               "  #     moderator: social_capital\n"
               "  #     standardize: [degree, social_capital]"),
    "invariance": "false",
    "seed": "1",
}


def render_study_yaml(**fields: str) -> str:
    """study.yaml text from the template; missing fields take the `socap init` defaults."""
    values = INIT_FIELDS | {k: str(v) for k, v in fields.items()}
    text = (TEMPLATES / "study.yaml").read_text(encoding="utf-8").format(**values)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def copy_default_instrument(folder: Path) -> list[Path]:
    """Copy the packaged default instrument (YAML, and its XLSForm twin when packaged)."""
    target = Path(folder) / "instruments"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(default_instrument_path().parent.iterdir()):
        if src.suffix.lower() in (".yaml", ".yml", ".xlsx"):
            dst = target / src.name
            dst.write_bytes(src.read_bytes())
            written.append(dst)
    return written


def init_study(folder: Path | str) -> list[Path]:
    """Scaffold a new study in ``folder`` (which must not exist or be empty).

    Raises
    ------
    StudyError
        ``folder`` exists and is not empty (nothing is overwritten).
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise StudyError(
            f"{folder} already exists and is not empty; socap init never overwrites files",
            file=folder,
            fix="choose a new folder name, or empty this one",
        )
    for d in ("data/raw", "data/processed", "reports"):
        (folder / d).mkdir(parents=True, exist_ok=True)
    written = [folder / "study.yaml"]
    (folder / "study.yaml").write_text(render_study_yaml(), encoding="utf-8")
    written += copy_default_instrument(folder)
    readme = (TEMPLATES / "README_study.md").read_text(encoding="utf-8")
    (folder / "README.md").write_text(readme, encoding="utf-8")
    written.append(folder / "README.md")
    for keep in ("data/raw/.gitkeep", "data/processed/.gitkeep", "reports/.gitkeep"):
        (folder / keep).touch()
    return written
