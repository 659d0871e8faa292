"""A self-contained HTML report of a run directory, with its figures as PNGs.

``write_report(run_dir)`` reads the run directory (metadata.json, equity.csv,
predictions.csv, history.csv; trades.csv, random_returns.csv and walk_forward/
when present), draws every figure with ``train.plots`` and writes

    <out_dir>/report.html      one page, every image embedded as a base64 data URI
    <out_dir>/<section>.png    the same images as files (overview.png is the composite
                               meant for a README screenshot)

The verdict (skill or luck, with the rules that failed) comes first; every model figure
stands beside its no-skill baselines, with its 95% interval where the run has one. An optional input that is missing
(no walk-forward, no random_returns.csv in an older run, zero trades) gives its
section a plain sentence saying why there is nothing to plot, never an error. The
output is built in a temporary folder beside ``out_dir`` and renamed into place,
and the same run directory always gives byte-identical files (no "now" anywhere:
the date shown is the run's ``created_at``).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from pathlib import Path

from signalpack.atomic import atomic_dir, check_destination
from signalpack.errors import OutputError
from signalpack.evaluation.report_data import REQUIRED_FILES, RunData, read_run
from signalpack.evaluation.report_sections import (
    BUILDERS,
    MAX_TRADE_PANELS,
    Section,
    dig,
    esc,
    fmt_date,
    fmt_int,
)

__all__ = ["MAX_TRADE_PANELS", "REPORT_FILE", "REQUIRED_FILES", "SECTIONS", "ReportResult", "write_report"]

REPORT_FILE = "report.html"
SECTIONS = (
    "verdict", "overview", "metrics", "equity", "trades", "confusion", "precision_recall", "reliability",
    "confidence", "learning_curves", "monte_carlo", "sharpe", "walk_forward",
)
"""Section ids, in page order (each is ``<section id="...">`` with an ``<h2>``)."""


@dataclass(frozen=True)
class ReportResult:
    """What ``write_report`` wrote.

    html : path of report.html.
    pngs : {section id: path of its PNG}, in page order; a section without an image
        (verdict, metrics, sharpe, walk_forward when the run has none) is absent.
    sections : the section ids in page order.
    """

    html: Path
    pngs: dict[str, Path]
    sections: list[str]


# --------------------------------------------------------------------------- page

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1180px;margin:0 auto;
padding:0 1.2rem 3rem;color:#222;line-height:1.45}
h1{margin:1.4rem 0 .3rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.4rem}
h3{margin:1.2rem 0 .4rem;font-size:1.02rem}
.meta{color:#444}.disclaimer{background:#fff6e0;border-left:4px solid #e08a00;padding:.5rem .8rem}
nav a{margin-right:.8rem;white-space:nowrap}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border-bottom:1px solid #e3e3e3;padding:.25rem .6rem;text-align:left}
table.num td{text-align:right;font-variant-numeric:tabular-nums}
thead th{border-bottom:2px solid #bbb}tfoot th,tfoot td{border-top:2px solid #bbb;font-style:italic}
img{max-width:100%;height:auto;display:block;margin:.6rem 0}
code{background:#f3f3f3;padding:0 .25rem}
footer{margin-top:3rem;color:#666;font-size:.85rem}
"""


def _header(run: RunData) -> str:
    meta = run.meta
    data = meta.get("data") or {}
    split = meta.get("split") or {}
    symbols = [s for s in data.get("symbols") or [] if s]
    if data.get("has_symbol") and symbols:
        more = ", …" if len(symbols) > 8 else ""
        sym_text = f"{len(symbols)} symbols ({', '.join(symbols[:8])}{more})"
    else:
        sym_text = "one series"
    test = dig(split, "segments.test") or {}
    version = dig(meta, "versions.signalpack")
    lines = [
        (f"Run directory <code>{esc(run.path.name)}</code>, created {esc(meta.get('created_at', 'n/a'))}"
         + (f" with signalpack {esc(version)}" if version else "")),
        (f"Data file <code>{esc(data.get('file', 'n/a'))}</code>: {esc(sym_text)}, "
         f"{esc(fmt_date(data.get('start')))} … {esc(fmt_date(data.get('end')))}"),
        (f"Validation from {esc(fmt_date(split.get('validation_start')))}; test segment "
         f"{esc(fmt_date(split.get('test_start')))} … {esc(fmt_date(test.get('end') or data.get('end')))} "
         f"({fmt_int(test.get('windows'))} windows); confidence threshold {run.threshold:g}"),
    ]
    return "<br>".join(lines)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return struct.unpack(">II", data[16:24])


def _page(run: RunData, sections: list[Section], images: dict[str, bytes]) -> str:
    nav = " ".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>signalpack report: {esc(run.path.name)}</title>",
        f"<style>{_CSS.strip()}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>signalpack training report</h1>",
        f'<p class="meta">{_header(run)}</p>',
        ('<p class="disclaimer"><strong>Signals are not financial advice.</strong> They are statistical outputs '
         "of a model trained on past prices; past performance does not predict future results, and the "
         "simulation ignores many real trading frictions.</p>"),
        f"<nav>{nav}</nav>",
        "</header>",
        "<main>",
    ]
    for s in sections:
        out.append(f'<section id="{s.id}">')
        out.append(f"<h2>{esc(s.title)}</h2>")
        out.append(s.body)
        if s.id in images:
            data = images[s.id]
            w, h = _png_size(data)
            b64 = base64.b64encode(data).decode("ascii")
            out.append(f'<img src="data:image/png;base64,{b64}" alt="{esc(s.alt)}" width="{w}" height="{h}">')
        out.append("</section>")
    out += [
        "</main>",
        (f"<footer>Generated by <code>signalpack report</code> from <code>{esc(run.path.name)}</code>. "
         "Signals are not financial advice.</footer>"),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- output


def _check_out_dir(out_dir: Path, run_dir: Path) -> None:
    resolved, run = out_dir.resolve(), run_dir.resolve()
    if resolved == run or resolved in run.parents:
        raise OutputError(f"{out_dir}: is the run directory or holds it; choose a folder for the report")


def _is_report(out_dir: Path) -> None:
    """Refuse to replace an existing folder unless it holds only a report (report.html and PNGs)."""
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise OutputError(f"{out_dir}: exists and is not a folder; choose another output folder")
    foreign = sorted(p.name for p in out_dir.iterdir()
                     if not (p.is_file() and (p.name == REPORT_FILE or p.suffix == ".png")))
    if foreign:
        raise OutputError(
            f"{out_dir}: exists and holds {', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''}, "
            "which is not a report; refusing to replace it (choose another output folder)"
        )


def write_report(run_dir: Path, out_dir: Path | None = None) -> ReportResult:
    """Write ``out_dir/report.html`` and one PNG per figure for the run directory ``run_dir``.

    Parameters
    ----------
    run_dir : a run directory written by ``signalpack train``.
    out_dir : the report folder (default ``run_dir/report``); an existing report there
        is replaced, any other existing folder is refused.

    Returns
    -------
    ReportResult

    Raises
    ------
    RunDirError
        A required file (metadata.json, equity.csv, predictions.csv, history.csv) is
        missing or unreadable.
    OutputError
        The report cannot be written where asked.
    """
    from signalpack.evaluation import plots

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    run = read_run(run_dir)
    _check_out_dir(out_dir, run_dir)
    check_destination(out_dir, overwrite=True, folder=True)
    if out_dir.exists() or out_dir.is_symlink():
        _is_report(out_dir)  # refused before the figures are drawn

    sections: list[Section] = []
    images: dict[str, bytes] = {}
    for build in BUILDERS:
        section = build(run)
        if section.figure is not None:
            images[section.id] = plots.png_bytes(section.figure)
            section.figure = None  # let the figure go as soon as it is rendered
        sections.append(section)
    page = _page(run, sections, images)

    with atomic_dir(out_dir, overwrite=True, replaceable=_is_report) as tmp:
        for sid, data in images.items():
            (tmp / f"{sid}.png").write_bytes(data)
        (tmp / REPORT_FILE).write_text(page, encoding="utf-8", newline="\n")
    return ReportResult(
        html=out_dir / REPORT_FILE,
        pngs={sid: out_dir / f"{sid}.png" for sid in images},
        sections=[s.id for s in sections],
    )
