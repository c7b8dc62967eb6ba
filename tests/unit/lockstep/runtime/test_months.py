from datetime import date

import pytest
from lockstep.runtime import months


def test_last_counts_back_across_a_year():
    assert months.last("2024-02", 3) == ["2023-12", "2024-01", "2024-02"]


def test_previous_is_the_last_complete_month():
    assert months.previous(date(2026, 1, 15)) == "2025-12"
    assert months.previous(date(2026, 11, 1)) == "2026-10"


FULLWIDTH_2024 = "\uff12\uff10\uff12\uff14"


@pytest.mark.parametrize("bad", ["2024-1", "2024-13", "24-01", f"{FULLWIDTH_2024}-01", "2024/01"])
def test_index_refuses_malformed(bad):
    with pytest.raises(ValueError):
        months.index(bad)
