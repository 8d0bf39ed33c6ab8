"""Charts for PDF reports, drawn by xhtml2pdf's own <canvas type="graph"> (reportlab graphics, no image files)."""

import json
import math
from datetime import date


def whole_number_step(highest: int) -> int:
    """A whole-number tick step giving at most about five ticks."""
    return max(1, math.ceil(highest / 5))


def daily_bar_chart(days: list[date], series: list[tuple[str, str, list[int]]]) -> str:
    """JSON for a bar chart with one group of bars per day; `series` holds (name, colour, one value per day)."""
    label_every = max(1, len(days) // 10)
    highest = max((max(values, default=0) for _, _, values in series), default=0)
    step = whole_number_step(highest)
    return json.dumps(
        {
            "type": "verticalbar",
            "data": [values for _, _, values in series],
            "labels": [day.strftime("%d %b") if index % label_every == 0 else "" for index, day in enumerate(days)],
            "seriesNames": [name for name, _, _ in series],
            "seriesColors": [colour for _, colour, _ in series],
            "legend": {"x": 20, "y": 0, "deltax": 70, "columnMaximum": 1, "fontSize": 8, "alignment": "right"},
            "valueAxis": {
                "valueMin": 0,
                "valueMax": step * 5,
                "valueStep": step,
                "forceZero": True,
                "visibleGrid": True,
                "labelTextFormat": "%d",
            },
            "categoryAxis": {"labels": {"fontSize": 7, "angle": 0}},
            "barSpacing": 0.5,
        }
    )
