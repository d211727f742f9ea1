"""Inline SVG charts drawn on the server: no JavaScript, no external library.

Colours come from the stylesheet (``fill`` classes ``state-<type>``), so the chart matches the
state badges everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 220
LEFT, BOTTOM, TOP = 36, 24, 8


def bucket_runs(runs: Iterable[tuple[datetime | None, str]], now: datetime, hours: int = 24) -> list[dict[str, int]]:
    """Count ``(time, state type)`` pairs in hourly buckets ending at ``now`` (oldest first)."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    buckets: list[dict[str, int]] = [{} for _ in range(hours)]
    for when, state_type in runs:
        if when is None:
            continue
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if start <= when < end:
            index = int((when - start).total_seconds() // 3600)
            buckets[index][state_type] = buckets[index].get(state_type, 0) + 1
    return buckets


def runs_over_time_svg(buckets: Sequence[dict[str, int]], state_order: Sequence[str], now: datetime) -> Markup:
    """A stacked bar chart: one bar per hour, one segment per state type, with a y axis and hour labels."""
    hours = len(buckets)
    peak = max((sum(bucket.values()) for bucket in buckets), default=0)
    scale_top = max(peak, 1)
    plot_width = WIDTH - LEFT - 4
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(hours, 1)
    bar = max(slot * 0.72, 1)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Flow runs per hour over the last {hours} hours, by state" preserveAspectRatio="none">',
    ]
    for tick in (0, scale_top // 2, scale_top) if scale_top > 1 else (0, 1):
        y = TOP + plot_height - plot_height * tick / scale_top
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 4}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + (slot - bar) / 2
        y = TOP + plot_height
        hour_start = end - timedelta(hours=hours - index)
        for state_type in state_order:
            count = bucket.get(state_type, 0)
            if not count:
                continue
            height = plot_height * count / scale_top
            y -= height
            label = f"{hour_start:%H}:00 UTC: {count} {state_type.lower()}"
            parts.append(
                f'<rect class="state-{escape(state_type.lower())}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}"><title>{escape(label)}</title></rect>'
            )
        if index % 3 == 0:
            label_x = x + bar / 2
            parts.append(
                f'<text class="axis" x="{label_x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{hour_start:%H}h</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
