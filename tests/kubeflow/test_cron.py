"""Cron expressions for recurring runs: KFP's six-field form, five-field input, clear refusals."""

import pytest

from kubeflow.cron import normalize_cron


@pytest.mark.parametrize(
    "given, expected",
    [
        ("0 3 * * *", "0 0 3 * * *"),  # five fields: second 0 is added
        ("0 0 3 * * *", "0 0 3 * * *"),
        ("*/15  9-17 * * MON-FRI", "0 */15 9-17 * * MON-FRI"),
        ("0 30 2 1,15 JAN-JUN ?", "0 30 2 1,15 JAN-JUN ?"),
        ("@daily", "@daily"),
        ("@every 6h", "@every 6h"),
        ("@every 1h30m", "@every 1h30m"),
    ],
)
def test_accepted_forms(given, expected):
    assert normalize_cron(given) == expected


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "empty"),
        ("0 3 * *", "has 4 fields"),
        ("0 0 0 3 * * *", "has 7 fields"),
        ("61 * * * *", "minute value 61 is outside 0-59"),
        ("0 24 * * *", "hour value 24 is outside 0-23"),
        ("0 3 0 * *", "day-of-month value 0 is outside 1-31"),
        ("0 3 * 13 *", "month value 13 is outside 1-12"),
        ("0 3 * * 7", "day-of-week value 7 is outside 0-6"),
        ("0 3 * * FRI-MON", "runs backwards"),
        ("*/0 * * * *", "step '0' must be a positive integer"),
        ("x 3 * * *", "minute value 'x' is not a number"),
        ("0 ? * * *", "'?' is only allowed"),
        ("@fortnightly", "unknown descriptor"),
    ],
)
def test_refused_with_the_problem_named(bad, message):
    with pytest.raises(ValueError, match="cron|empty") as info:
        normalize_cron(bad)
    assert message in str(info.value)
