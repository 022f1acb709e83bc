"""Rendering a report's blocks as Markdown and as one self-contained HTML page.

A report is a list of blocks, each ``(kind, body)``: ``("h2", text)``, ``("p", text)`` (a note),
``("lead", text)`` (the headline sentence), ``("warn", text)`` (a caution), ``("table", (head, rows))``,
``("img", (path, alt))`` and ``("code", text)``. Paragraph text may use Markdown's ``**strong**``,
``*emphasis*`` and ```code```. The HTML page fits a 1,280 px window: every table sits in a
horizontally scrolling wrapper whose first column stays in view, and the report's own tables are
kept to :data:`MAX_COLUMNS` columns so that the wrapper rarely has to scroll.
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path
from typing import Any

Block = tuple[str, Any]

#: The widest table the report itself builds (wider ones are split in two).
MAX_COLUMNS = 8

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}h1{border-bottom:2px solid #4C72B0;padding-bottom:.2em;font-size:1.7em;
overflow-wrap:anywhere}h2{margin-top:1.6em;color:#2c4a7c}
.scroll{overflow-x:auto;max-width:100%;margin:.8em 0}
table{border-collapse:separate;border-spacing:0;font-size:.85em}
th,td{border:1px solid #ccc;border-width:0 1px 1px 0;padding:.3em .6em;text-align:left;vertical-align:top;
background:#fff;overflow-wrap:break-word}tr>:first-child{border-left-width:1px}tr:first-child>*{border-top-width:1px}
th{background:#eef2f8}tbody tr:nth-child(even)>td{background:#fafbfd}
tr>:first-child{position:sticky;left:0;z-index:1}
td.num,th.num{text-align:right;white-space:nowrap}
img{display:block;max-width:100%;height:auto;border:1px solid #ddd;margin:.5em 0}
pre{background:#f5f5f5;padding:.8em;overflow:auto;font-size:.85em}
.note{color:#555;font-size:.9em}
.lead{font-size:1.1em;background:#eef2f8;border-left:4px solid #4C72B0;padding:.6em .9em}
.warn{background:#fff4e5;border-left:4px solid #DD8452;padding:.5em .9em;font-size:.9em}"""


def fmt(x: Any, digits: int = 3) -> str:
    """A figure for a table cell: ``digits`` decimals for floats, "–" for missing or not finite."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def pm(mean: Any, half: Any, digits: int = 3) -> str:
    """``mean ± half`` (just the mean when ``half`` is missing)."""
    return fmt(mean, digits) if half is None else f"{fmt(mean, digits)} ± {fmt(half, digits)}"


def to_markdown(title: str, blocks: list[Block], root: Path) -> str:
    """Render blocks as GitHub-flavoured Markdown (images linked relative to the run folder)."""
    out = [f"# {title}", ""]
    for kind, body in blocks:
        if kind == "h2":
            out += [f"## {body}", ""]
        elif kind in ("p", "lead"):
            out += [body, ""]
        elif kind == "warn":
            out += [f"> **Caution.** {body}", ""]
        elif kind == "code":
            out += ["```yaml", body.rstrip(), "```", ""]
        elif kind == "img":
            path, alt = body
            out += [f"![{alt}]({Path(path).relative_to(root).as_posix()})", ""]
        elif kind == "table":
            out += _markdown_table(*body)
    return "\n".join(out)


def _markdown_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(map(cell, r)) + " |" for r in rows] + [""]


def inline_md(text: str) -> str:
    """Escape text for HTML, keeping the ``**strong**``, ``*emphasis*`` and ```code``` of paragraphs."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", t)


#: Table cells that are figures ("6.093", "+1.2 ± 0.3", "35.08 (exact)", "[0.1, 0.2]", "–") are
#: right-aligned and never wrapped.
_NUMERIC = re.compile(r"^(–|[-+−]?[\d.,]+( ± [\d.,]+)?( %)?( \((exact|simulated)\))?|\[[-+−\d., ]+\])$")


def _html_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    numeric = [bool(rows) and all(_NUMERIC.match(str(r[i])) for r in rows) for i in range(len(head))]
    cls = [' class="num"' if n else "" for n in numeric]
    out = ['<div class="scroll"><table>']
    if any(head):
        cells = "".join(f'<th scope="col"{c}>{html.escape(str(h))}</th>' for c, h in zip(cls, head))
        out.append(f"<thead><tr>{cells}</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td{c}>{html.escape(str(v))}</td>" for c, v in zip(cls, r)) + "</tr>")
    out.append("</tbody></table></div>")
    return out


def to_html(title: str, blocks: list[Block]) -> str:
    """Render blocks as one self-contained HTML page (plots inlined as base64 PNG, no network)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>"]  # fmt: skip
    for kind, body in blocks:
        if kind == "h2":
            out.append(f"<h2>{html.escape(body)}</h2>")
        elif kind in ("p", "lead", "warn"):
            out.append(f'<p class="{"note" if kind == "p" else kind}">{inline_md(body)}</p>')
        elif kind == "code":
            out.append(f"<pre>{html.escape(body)}</pre>")
        elif kind == "img":
            path, alt = body
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            out.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
        elif kind == "table":
            out += _html_table(*body)
    out.append("</body></html>")
    return "\n".join(out) + "\n"
