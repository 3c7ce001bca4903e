"""CSV exports: what a spreadsheet would run stays text, and the file reads back as written."""

import csv
import io

import pytest

from relaydesk.exports import csv_lines, safe_cell


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tTab", "'\tTab"),
        ("\rReturn", "'\rReturn"),
        ("Café Aurora", "Café Aurora"),
        ("a=b", "a=b"),
        (None, ""),
        (-5, -5),
        (65.0, 65.0),
    ],
)
def test_cells_a_spreadsheet_would_run_stay_text(cell: object, written: object) -> None:
    assert safe_cell(cell) == written


def test_lines_read_back_as_rows() -> None:
    text = "".join(csv_lines(["name", "note"], [['Ana, "Kovač"', "=1+1"], ["Ben", None]]))
    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))) == [
        ["name", "note"],
        ['Ana, "Kovač"', "'=1+1"],
        ["Ben", ""],
    ]
