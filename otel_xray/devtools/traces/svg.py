"""The service graph as an SVG picture, drawn the way the X-Ray console draws its map.

Services are circles in columns by call depth (``client`` on the left), each with
a ring split into ok (green), error (amber), throttle (purple) and fault (red) in
proportion to its requests, a short type label inside (``λ`` for Lambda, ``DDB``
for DynamoDB...), and its name, type and average response time underneath. Edges
are arrows labelled with request count and average time, coloured by their worst
outcome; an asynchronous hop found through a trace link (SQS -> consumer) is
dashed. Plain SVG 1.1, no script, no external fonts: it opens in any browser.

Example:
    >>> from otel_xray.devtools.traces.service_graph import ServiceGraph
    >>> render_svg(ServiceGraph()).startswith("<svg")
    True
"""

from __future__ import annotations

import math
from collections import defaultdict
from xml.sax.saxutils import escape

from otel_xray.devtools.traces.service_graph import CLIENT, NodeKey, ServiceGraph, Statistics

RADIUS = 30
COLUMN = 260
ROW = 150
MARGIN = 70
TOP = 130  # room above the first row for edges that bend over a column
COLOURS = {"ok": "#3f8624", "error": "#e07b00", "throttle": "#8e44ad", "fault": "#d13212"}
_TYPE_LABELS = {
    "client": "USER",
    "AWS::Lambda": "λ",
    "AWS::Lambda::Function": "λ fn",
    "AWS::DynamoDB::Table": "DDB",
    "AWS::SQS::Queue": "SQS",
    "AWS::S3::Bucket": "S3",
    "AWS::SNS": "SNS",
    "AWS::Kinesis::Stream": "KDS",
    "remote": "HTTP",
    "service": "SVC",
}


#: Attribute values are quoted with ": escape them too.
_QUOTE = {'"': "&quot;"}


def type_label(node_type: str) -> str:
    if node_type in _TYPE_LABELS:
        return _TYPE_LABELS[node_type]
    return node_type.split("::")[1][:4] if node_type.startswith("AWS::") else node_type[:4]


def layout(graph: ServiceGraph) -> dict[NodeKey, tuple[float, float]]:
    """Columns by longest call depth from the clients; rows in first-seen order."""
    depth = graph.depths()
    columns: dict[int, list[NodeKey]] = defaultdict(list)
    for key in graph.ordered():
        columns[depth[key]].append(key)
    tallest = max((len(c) for c in columns.values()), default=1)
    positions: dict[NodeKey, tuple[float, float]] = {}
    for column, keys in columns.items():
        offset = (tallest - len(keys)) * ROW / 2
        for row, key in enumerate(keys):
            positions[key] = (MARGIN + column * COLUMN, TOP + offset + row * ROW)
    return positions


def render_svg(graph: ServiceGraph, title: str = "otel-xray service map") -> str:
    positions = layout(graph)
    width = max((x for x, _ in positions.values()), default=0) + COLUMN
    height = max((y for _, y in positions.values()), default=0) + ROW + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{escape(title)}</title>",
        "<defs>",
    ]
    for name, colour in {**COLOURS, "none": "#8a8a8a"}.items():
        out.append(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append('<rect width="100%" height="100%" fill="#fafafa"/>')
    out.append(
        f'<text x="{MARGIN - 40}" y="28" font-size="16" font-weight="bold">{escape(title)}</text>'
        f'<text x="{MARGIN - 40}" y="46" font-size="11" fill="#555">'
        f"{graph.trace_count} traces, {len(graph.nodes)} services</text>"
    )
    for (source, target), edge in graph.edges.items():
        names = (graph.nodes[source].name, graph.nodes[target].name)
        out.append(_edge(positions[source], positions[target], edge.statistics, edge.linked, names))
    for key, node in graph.nodes.items():
        out.append(_node(positions[key], node.name, node.type, node.statistics, key == CLIENT))
    out.append(_legend(height - 22))
    out.append("</svg>")
    return "\n".join(out)


def _worst(statistics: Statistics) -> str:
    if statistics.fault:
        return "fault"
    if statistics.throttle:
        return "throttle"
    if statistics.error:
        return "error"
    return "none"


def _edge(
    source: tuple[float, float],
    target: tuple[float, float],
    stats: Statistics,
    linked: bool,
    names: tuple[str, str] = ("", ""),
) -> str:
    (x1, y1), (x2, y2) = source, target
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    # An edge that skips a column bends away from the nodes in between.
    bend = min(0.18 * length, 140.0) if abs(x2 - x1) > COLUMN * 1.5 else 0.0
    cx, cy = (x1 + x2) / 2 + (y2 - y1) / length * bend, (y1 + y2) / 2 - (x2 - x1) / length * bend
    start = (
        _towards((x1, y1), (cx, cy), RADIUS + 4)
        if bend
        else _towards((x1, y1), (x2, y2), RADIUS + 4)
    )
    end = (
        _towards((x2, y2), (cx, cy), RADIUS + 6)
        if bend
        else _towards((x2, y2), (x1, y1), RADIUS + 6)
    )
    worst = _worst(stats)
    colour = COLOURS.get(worst, "#8a8a8a")
    dash = ' stroke-dasharray="6 4"' if linked else ""
    mid_x = 0.25 * start[0] + 0.5 * cx + 0.25 * end[0]
    mid_y = 0.25 * start[1] + 0.5 * cy + 0.25 * end[1] - 6
    label = f"{stats.total} req · {stats.average_ms:.0f} ms"
    if linked:
        label += " · linked"
    return (
        f'<g class="edge" data-source="{escape(names[0], _QUOTE)}" '
        f'data-target="{escape(names[1], _QUOTE)}">'
        f'<path d="M {start[0]:.1f} {start[1]:.1f} Q {cx:.1f} {cy:.1f} '
        f'{end[0]:.1f} {end[1]:.1f}" fill="none" stroke="{colour}" stroke-width="2"{dash} '
        f'marker-end="url(#arrow-{worst})"/>'
        f'<text x="{mid_x:.1f}" y="{mid_y:.1f}" font-size="10" fill="#333" '
        f'text-anchor="middle">{escape(label)}</text></g>'
    )


def _towards(
    point: tuple[float, float], other: tuple[float, float], distance: float
) -> tuple[float, float]:
    length = math.hypot(other[0] - point[0], other[1] - point[1]) or 1.0
    return (
        point[0] + (other[0] - point[0]) / length * distance,
        point[1] + (other[1] - point[1]) / length * distance,
    )


def _node(
    position: tuple[float, float], name: str, node_type: str, stats: Statistics, client: bool
) -> str:
    x, y = position
    parts = [
        f'<g class="node" data-name="{escape(name, _QUOTE)}" '
        f'data-type="{escape(node_type, _QUOTE)}">'
        f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="#ffffff"/>'
    ]
    parts.append(_ring(x, y, stats))
    parts.append(
        f'<text x="{x}" y="{y + 5}" font-size="14" font-weight="bold" text-anchor="middle" '
        f'fill="#232f3e">{escape(type_label(node_type))}</text>'
    )
    caption = [(name, 'font-size="12" font-weight="bold" fill="#111"')]
    if not client:
        caption.append((node_type, 'font-size="10" fill="#666"'))
    caption.append(
        (f"{stats.average_ms:.0f} ms avg · {stats.total} req", 'font-size="10" fill="#333"')
    )
    for line, (text, style) in enumerate(caption):
        parts.append(
            f'<text x="{x}" y="{y + RADIUS + 16 + line * 13}" text-anchor="middle" {style}>'
            f"{escape(text[:40])}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _ring(x: float, y: float, stats: Statistics) -> str:
    """The health ring: one arc per outcome, proportional to its share."""
    shares = [
        ("ok", stats.ok),
        ("error", stats.error - stats.throttle),
        ("throttle", stats.throttle),
        ("fault", stats.fault),
    ]
    total = sum(count for _, count in shares)
    if total == 0:
        return (
            f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="none" stroke="#bbb" stroke-width="6"/>'
        )
    arcs = []
    angle = -math.pi / 2
    for outcome, count in shares:
        if not count:
            continue
        if count == total:
            return (
                f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="none" '
                f'stroke="{COLOURS[outcome]}" stroke-width="6"/>'
            )
        sweep = 2 * math.pi * count / total
        x1, y1 = x + RADIUS * math.cos(angle), y + RADIUS * math.sin(angle)
        x2, y2 = x + RADIUS * math.cos(angle + sweep), y + RADIUS * math.sin(angle + sweep)
        large = 1 if sweep > math.pi else 0
        arcs.append(
            f'<path d="M {x1:.2f} {y1:.2f} A {RADIUS} {RADIUS} 0 {large} 1 {x2:.2f} {y2:.2f}" '
            f'fill="none" stroke="{COLOURS[outcome]}" stroke-width="6"/>'
        )
        angle += sweep
    return "".join(arcs)


def _legend(y: float) -> str:
    items = []
    for index, (outcome, colour) in enumerate(COLOURS.items()):
        x = MARGIN - 40 + index * 90
        items.append(
            f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 17}" y="{y + 1}" font-size="11" fill="#333">{outcome}</text>'
        )
    x = MARGIN - 40 + len(COLOURS) * 90
    items.append(
        f'<line x1="{x}" y1="{y - 3}" x2="{x + 30}" y2="{y - 3}" stroke="#8a8a8a" '
        f'stroke-width="2" stroke-dasharray="6 4"/>'
        f'<text x="{x + 36}" y="{y + 1}" font-size="11" fill="#333">linked (async)</text>'
    )
    return '<g class="legend">' + "".join(items) + "</g>"
