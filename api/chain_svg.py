"""The transmission chain as a picture a health officer reads at a glance: the case on
the left, its F1 in the middle, F2 on the right; each line says when they met."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from dichte.domain.clock import VIETNAM_TZ

COLUMN_X = {"case": 20, "f1": 330, "f2": 640}
COLOURS = {"case": "#c62828", "f1": "#ef6c00", "f2": "#f9a825"}
TITLES = {"case": "F0 — ca bệnh", "f1": "F1 — tiếp xúc gần", "f2": "F2 — tiếp xúc với F1"}
BOX_W, BOX_H, ROW_H, TOP = 220, 46, 62, 70


def _when(value: Any) -> str:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.astimezone(VIETNAM_TZ).strftime("%d/%m %H:%M")


def chain_svg(chain: dict[str, Any], root: str) -> str:
    columns: dict[str, list[dict[str, Any]]] = {"case": [], "f1": [], "f2": []}
    level = {root: "case"}
    for edge in chain["edges"]:
        if edge["from"] == root:
            level.setdefault(edge["to"], "f1")
    for node in chain["nodes"]:
        column = level.get(node["id"], "f2")
        node = {**node, "column": column}
        columns[column].append(node)
    pos: dict[str, tuple[int, int]] = {}
    for column, nodes in columns.items():
        for i, node in enumerate(nodes):
            pos[node["id"]] = (COLUMN_X[column], TOP + i * ROW_H)
    rows = max(len(n) for n in columns.values()) or 1
    height = TOP + rows * ROW_H + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="930" height="{height}" '
        f'viewBox="0 0 930 {height}" font-family="Roboto, Arial, sans-serif" font-size="13">',
        '<rect width="100%" height="100%" fill="#fff"/>',
    ]
    for column, x in COLUMN_X.items():
        parts.append(
            f'<text x="{x}" y="40" font-weight="700" fill="{COLOURS[column]}">'
            f"{TITLES[column]} ({len(columns[column])})</text>"
        )
    for edge in chain["edges"]:
        if edge["from"] not in pos or edge["to"] not in pos:
            continue
        (x1, y1), (x2, y2) = pos[edge["from"]], pos[edge["to"]]
        ax, ay, bx, by = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
        parts.append(f'<line x1="{ax}" y1="{ay}" x2="{bx}" y2="{by}" stroke="#888"/>')
        parts.append(
            f'<text x="{(ax + bx) / 2}" y="{(ay + by) / 2 - 4}" font-size="11" '
            f'text-anchor="middle" fill="#555">{_when(edge["at"])}</text>'
        )
    for column, nodes in columns.items():
        for node in nodes:
            x, y = pos[node["id"]]
            label = escape(node.get("label") or node["id"][:8])
            sub = "→ đã thành ca bệnh" if column != "case" and node.get("case_id") else ""
            if column == "case" and node.get("onset"):
                sub = f"khởi phát {node['onset']}"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                f'fill="#fff" stroke="{COLOURS[column]}" stroke-width="2"/>'
            )
            parts.append(f'<text x="{x + 10}" y="{y + 19}" font-weight="700">{label}</text>')
            parts.append(
                f'<text x="{x + 10}" y="{y + 36}" font-size="11" fill="#555">{escape(sub)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
