"""LibreOffice headless for the tests: recalculate a workbook (its formula values become
readable with ``openpyxl.load_workbook(data_only=True)``), convert it to PDF, render a
PDF page to PNG (poppler's ``pdftoppm``). ../shared/RECIPES.md, "Excel checked by a real
spreadsheet engine". Debian: ``apt-get install libreoffice-calc poppler-utils``
(``.ci/run`` installs both).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDFTOPPM = shutil.which("pdftoppm")
TIMEOUT = 180  # seconds: the first start creates the profile


def require_soffice() -> str:
    """The soffice executable, or skip the test saying why."""
    if SOFFICE is None:
        pytest.skip("LibreOffice is not installed (no soffice on PATH): "
                    "apt-get install libreoffice-calc, as .ci/run does")
    return SOFFICE


def require_pdftoppm() -> str:
    if PDFTOPPM is None:
        pytest.skip("poppler-utils is not installed (no pdftoppm on PATH): "
                    "apt-get install poppler-utils, as .ci/run does")
    return PDFTOPPM


def _convert(paths: list[Path], out_dir: Path, target: str, profile: Path | None
             ) -> list[Path]:
    """Every file of ``paths`` converted by one soffice run (each start takes a second or
    two; the files are still opened, calculated and saved one by one)."""
    soffice = require_soffice()
    paths, out_dir = [Path(p).resolve() for p in paths], Path(out_dir).resolve()
    extension = target.split(":")[0]
    outs = [out_dir / f"{path.stem}.{extension}" for path in paths]
    if set(outs) & set(paths):
        raise ValueError(f"converting {paths} into their own folder would overwrite them")
    if len(set(outs)) < len(outs):
        raise ValueError(f"two of {paths} would convert to the same file")
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = Path(profile or out_dir / ".lo-profile").resolve()
    command = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
               "--norestore", "--nolockcheck", "--convert-to", target, "--outdir",
               str(out_dir), *map(str, paths)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"soffice did not finish in {TIMEOUT} s: {command}") from error
    if done.returncode != 0 or not all(out.exists() for out in outs):
        raise AssertionError(f"soffice --convert-to {target} failed ({done.returncode}): "
                             f"{done.stdout}\n{done.stderr}")
    return outs


def recalculate(path: Path, out_dir: Path, profile: Path | None = None) -> Path:
    """``path`` opened, recalculated and saved as xlsx by LibreOffice into ``out_dir``."""
    return _convert([path], out_dir, "xlsx", profile)[0]


def recalculate_all(paths: list[Path], out_dir: Path, profile: Path | None = None
                    ) -> list[Path]:
    """:func:`recalculate` of each of ``paths``, by one LibreOffice run."""
    return _convert(paths, out_dir, "xlsx", profile)


def to_pdf(path: Path, out_dir: Path, profile: Path | None = None) -> Path:
    """Every sheet of ``path`` printed to one PDF in ``out_dir``."""
    return _convert([path], out_dir, "pdf", profile)[0]


def to_pdfs(paths: list[Path], out_dir: Path, profile: Path | None = None) -> list[Path]:
    """:func:`to_pdf` of each of ``paths``, by one LibreOffice run."""
    return _convert(paths, out_dir, "pdf", profile)


def pdf_pages(pdf: Path) -> int:
    """Number of pages (pdfinfo)."""
    info = shutil.which("pdfinfo")
    if info is None:
        pytest.skip("poppler-utils is not installed (no pdfinfo on PATH)")
    done = subprocess.run([info, str(pdf)], capture_output=True, text=True, check=True,
                          timeout=60)
    return int(next(line.split()[-1] for line in done.stdout.splitlines()
                    if line.startswith("Pages:")))


def pdf_text(pdf: Path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("poppler-utils is not installed (no pdftotext on PATH)")
    return subprocess.run([tool, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def to_png(pdf: Path, out_dir: Path, page: int = 1, dpi: int = 80) -> Path:
    """Page ``page`` of ``pdf`` as PNG in ``out_dir`` (``pdftoppm -r dpi -png``)."""
    tool = require_pdftoppm()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / f"{Path(pdf).stem}-page{page}"
    subprocess.run([tool, "-r", str(dpi), "-png", "-f", str(page), "-l", str(page),
                    "-singlefile", str(pdf), str(prefix)], capture_output=True, check=True,
                   timeout=60)
    return prefix.with_suffix(".png")
