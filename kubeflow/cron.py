"""Cron expressions as Kubeflow Pipelines' recurring runs take them.

KFP's scheduled workflows use robfig/cron with a seconds field: six fields
`second minute hour day-of-month month day-of-week`, or a descriptor (`@daily`, `@every 6h`).
Users mostly write classic five-field cron, so a five-field expression gets a leading `0`
(second 0). Checked here so a typo is refused before anything is uploaded.
"""

import re

# (name, lowest, highest, names allowed in place of numbers)
_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    ),
    ("day-of-week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_EVERY = re.compile(r"^@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def _value(text: str, field: tuple, expr: str) -> int:
    name, low, high, names = field
    if text.upper() in names:
        return names.index(text.upper()) + (low if name == "month" else 0)
    if not text.isdigit():
        raise ValueError(f"cron {expr!r}: {name} value {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"cron {expr!r}: {name} value {value} is outside {low}-{high}")
    return value


def _check_field(text: str, field: tuple, expr: str) -> None:
    name = field[0]
    for part in text.split(","):
        body, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"cron {expr!r}: {name} step {step!r} must be a positive integer")
        if body in ("*", "?"):
            if body == "?" and name not in ("day-of-month", "day-of-week"):
                raise ValueError(f"cron {expr!r}: '?' is only allowed for day-of-month/-week")
            continue
        low, dash, high = body.partition("-")
        first = _value(low, field, expr)
        if dash and _value(high, field, expr) < first:
            raise ValueError(f"cron {expr!r}: {name} range {body!r} runs backwards")


def normalize_cron(expr: str) -> str:
    """Returns the six-field (or descriptor) form of `expr`, or raises ValueError naming the fault.

    Args:
        expr: five-field cron (`0 3 * * *`: daily at 03:00), six-field cron with seconds
            (`0 0 3 * * *`), or a descriptor (`@daily`, `@every 12h`).
    """
    text = " ".join(str(expr or "").split())
    if not text:
        raise ValueError("cron expression is empty")
    if text.startswith("@"):
        if text in _DESCRIPTORS or _EVERY.match(text):
            return text
        raise ValueError(
            f"cron {expr!r}: unknown descriptor; use one of {', '.join(_DESCRIPTORS)} "
            "or '@every <duration>' (e.g. @every 6h)"
        )
    fields = text.split(" ")
    if len(fields) == 5:
        fields = ["0"] + fields
    if len(fields) != 6:
        raise ValueError(
            f"cron {expr!r} has {len(fields)} fields; expected 5 (minute hour day month weekday) "
            "or 6 (with seconds first)"
        )
    for value, field in zip(fields, _FIELDS):
        _check_field(value, field, expr)
    return " ".join(fields)
