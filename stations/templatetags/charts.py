"""Charts drawn on the server as inline SVG: no JavaScript, nothing from a CDN, and
nothing the Content-Security-Policy refuses (fill, width and opacity are SVG
presentation attributes, not inline styles; colours come from classes in the
stylesheet).

Every mark carries a <title> (the figure in words, for a pointer and a screen
reader) and, when the data gives one, a link to the list behind it. Labels and
links go through format_html, so whatever a charger named itself arrives escaped.

A point is any object or dict with `label` and `value`, optionally `href`,
`title` and `css` (a class of the mark).
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

CHART_W = 480
CHART_H = 120
AXIS_H = 22


def _get(point, name: str, default=None):
    if isinstance(point, dict):
        return point.get(name, default)
    return getattr(point, name, default)


def _linked(mark, href):
    return format_html('<a href="{}">{}</a>', href, mark) if href else mark


@register.simple_tag
def column_chart(points, label: str = "", every: int = 1, floor=0, ceiling=None, target=None):
    """Vertical bars, one per point, from `floor` up to `ceiling` (the largest value when not
    given); every `every`-th label under its bar; a dashed line at `target` when given.

    A floor above zero is for figures that live near the top (uptime between 90 and 100 %),
    where bars from zero would all look the same."""
    points = list(points)
    if not points:
        return mark_safe('<p class="muted">No data in this period.</p>')
    top = ceiling if ceiling is not None else max((_get(p, "value") or 0) for p in points)
    span = (top - floor) or 1
    width = CHART_W
    bar_w = CHART_W / len(points)
    marks = []
    if target is not None:
        y = round(CHART_H - CHART_H * (target - floor) / span, 1)
        marks.append(
            format_html(
                '<line class="target" x1="0" y1="{}" x2="{}" y2="{}"><title>target {}</title></line>',
                y,
                width,
                y,
                target,
            )
        )
    for i, point in enumerate(points):
        value = _get(point, "value") or 0
        height = round(CHART_H * max(0, min(value, top) - floor) / span, 1)
        x = round(i * bar_w, 2)
        rect = format_html(
            '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            _get(point, "css", ""),
            round(x + bar_w * 0.1, 2),
            CHART_H - height,
            round(bar_w * 0.8, 2),
            max(height, 0.5),
            _get(point, "title") or f"{_get(point, 'label')}: {value}",
        )
        # A transparent column over the whole height keeps small bars easy to point at.
        hit = format_html(
            '<rect class="hit" x="{}" y="0" width="{}" height="{}" fill-opacity="0"><title>{}</title></rect>',
            x,
            round(bar_w, 2),
            CHART_H,
            _get(point, "title") or f"{_get(point, 'label')}: {value}",
        )
        marks.append(_linked(format_html("{}{}", hit, rect), _get(point, "href")))
        if i % every == 0:
            marks.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" class="axis">{}</text>',
                    round(x + bar_w / 2, 2),
                    CHART_H + AXIS_H - 3,
                    _get(point, "label"),
                )
            )
    return format_html(
        '<svg class="chart columns" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">'
        '<line class="baseline" x1="0" y1="{}" x2="{}" y2="{}"></line>{}</svg>',
        width,
        CHART_H + AXIS_H,
        label,
        CHART_H,
        width,
        CHART_H,
        mark_safe("".join(marks)),  # noqa: S308 - each mark was built by format_html
    )


@register.simple_tag
def bar_list(points, label: str = ""):
    """Horizontal bars with their label and figure, one row each, largest first as given."""
    points = list(points)
    if not points:
        return mark_safe('<p class="muted">None in this period.</p>')
    top = max((_get(p, "value") or 0) for p in points) or 1
    rows = []
    for point in points:
        value = _get(point, "value") or 0
        name = _linked(format_html("{}", _get(point, "label")), _get(point, "href"))
        bar = format_html(
            '<svg class="chart hbar" viewBox="0 0 100 10" preserveAspectRatio="none" width="100%" height="12"'
            ' aria-hidden="true"><rect class="bar {}" x="0" y="0" width="{}" height="10"></rect></svg>',
            _get(point, "css", ""),
            round(100 * value / top, 2),
        )
        rows.append(
            format_html(
                '<li><span class="bar-label">{}</span>{}<span class="bar-value" title="{}">{}</span></li>',
                name,
                bar,
                _get(point, "title") or "",
                _get(point, "display") or value,
            )
        )
    return format_html('<ul class="bar-list" aria-label="{}">{}</ul>', label, mark_safe("".join(rows)))  # noqa: S308


@register.simple_tag
def share_bar(utilisation, label: str = ""):
    """One bar split into the states' shares (charging, occupied, available, down, not reported)."""
    parts = []
    x = 0.0
    for state, share in utilisation.shares:
        if share <= 0:
            continue
        width = round(100 * share, 3)
        parts.append(
            format_html(
                '<rect class="state-{}" x="{}" y="0" width="{}" height="10"><title>{}: {}%</title></rect>',
                state.value,
                round(x, 3),
                width,
                state.label,
                round(100 * share, 1),
            )
        )
        x += width
    if not parts:
        return mark_safe('<span class="muted">no reports in this period</span>')
    return format_html(
        '<svg class="chart share" viewBox="0 0 100 10" preserveAspectRatio="none" width="100%" height="14"'
        ' role="img" aria-label="{}">{}</svg>',
        label or "utilisation",
        mark_safe("".join(parts)),  # noqa: S308 - each part was built by format_html
    )


@register.simple_tag
def heatmap(rows, row_labels, label: str = ""):
    """A grid of cells (rows of points), each shaded by its value against the largest."""
    rows = [list(row) for row in rows]
    top = max((_get(p, "value") or 0 for row in rows for p in row), default=0) or 1
    cell, left = 14, 34
    width = left + cell * max((len(row) for row in rows), default=0)
    marks = []
    for r, (row, row_label) in enumerate(zip(rows, row_labels, strict=True)):
        y = r * cell
        marks.append(format_html('<text x="0" y="{}" class="axis">{}</text>', y + cell - 3, row_label))
        for c, point in enumerate(row):
            value = _get(point, "value") or 0
            marks.append(
                _linked(
                    format_html(
                        '<rect class="cell" x="{}" y="{}" width="{}" height="{}" fill-opacity="{}">'
                        "<title>{}</title></rect>",
                        left + c * cell,
                        y,
                        cell - 1,
                        cell - 1,
                        round(0.06 + 0.94 * value / top, 3) if value else 0.04,
                        _get(point, "title") or value,
                    ),
                    _get(point, "href"),
                )
            )
    for c in range(0, 24, 3):
        marks.append(
            format_html(
                '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>',
                left + c * cell + cell / 2,
                len(rows) * cell + 11,
                f"{c:02d}",
            )
        )
    return format_html(
        '<svg class="chart heatmap" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">{}</svg>',
        width,
        len(rows) * cell + 14,
        label,
        mark_safe("".join(marks)),  # noqa: S308 - each mark was built by format_html
    )


@register.filter
def percent(value, digits: int = 0) -> str:
    """A share (0..1) as a percentage."""
    if value is None:
        return "–"
    return f"{100 * value:.{int(digits)}f} %"


@register.filter
def hours(seconds) -> str:
    """A duration in seconds as hours and minutes."""
    if not seconds:
        return "0 min"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@register.filter
def kwh(wh) -> str:
    return f"{(wh or 0) / 1000:,.1f} kWh"
