"""The CSV table reader names each row by the line it starts on, on the quick path (every
line one record: no scan of the bytes) and on the scanned one (quoted line breaks, empty
lines, rows longer than the reader's block)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arsync.errors import SourceConfigError
from connector.erp.files.table import TextTable, read_table

HEADER = "Invoice ID,Customer No.,Dispute Reason\n"


def read(tmp_path: Path, content: bytes) -> TextTable:
    path = tmp_path / "invoices.csv"
    path.write_bytes(content)
    return read_table(
        path, record_type="invoice", encoding="utf-8", delimiter=",", max_lines_per_row=10
    )


def cells(table: TextTable, name: str) -> list[str]:
    return [str(value) for value in table.columns[name]]


def test_one_record_per_line_numbers_each_row_by_its_line(tmp_path: Path) -> None:
    table = read(tmp_path, (HEADER + "A1,C1,\nA2,C2,late\nA3,C3,\n").encode())

    assert table.lines.tolist() == [2, 3, 4]
    assert cells(table, "Invoice ID") == ["A1", "A2", "A3"]
    assert table.read == 3


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_file_without_its_last_line_break_or_with_crlf_reads_the_same(
    tmp_path: Path, ending: str
) -> None:
    body = ending.join([HEADER.rstrip("\n"), "A1,C1,", "A2,C2,late"])
    table = read(tmp_path, body.encode())

    assert table.lines.tolist() == [2, 3]
    assert cells(table, "Dispute Reason") == ["", "late"]


def test_a_quoted_line_break_moves_the_following_rows_down_a_line(tmp_path: Path) -> None:
    table = read(tmp_path, (HEADER + 'A1,C1,"two\nlines"\nA2,C2,\n').encode())

    assert table.lines.tolist() == [2, 4]
    assert cells(table, "Dispute Reason") == ["two\nlines", ""]


def test_empty_lines_are_no_rows_and_the_rows_after_keep_their_lines(tmp_path: Path) -> None:
    table = read(tmp_path, ("\n" + HEADER + "A1,C1,\n\n\r\nA2,C2,\n").encode())

    assert table.lines.tolist() == [3, 6]
    assert table.read == 2


def test_a_row_longer_than_the_readers_block_is_read_whole(tmp_path: Path) -> None:
    huge = "x" * (6 << 20)  # past the reader's 4 MiB block
    table = read(tmp_path, (HEADER + f"A1,C1,\nA2,C2,{huge}\nA3,C3,\n").encode())

    assert table.lines.tolist() == [2, 3, 4]
    assert len(cells(table, "Dispute Reason")[1]) == len(huge)


def test_a_bare_carriage_return_is_not_taken_for_a_row_of_its_own(tmp_path: Path) -> None:
    # The reader splits at the bare CR, and the quoted break evens the count of lines.
    content = HEADER + 'A1,C1,"two\nlines"\nA2,C2,no\rA9,C9,\n'
    with pytest.raises(SourceConfigError, match="quoting is damaged"):
        read(tmp_path, content.encode())


def test_a_row_of_blank_cells_is_no_row(tmp_path: Path) -> None:
    table = read(tmp_path, (HEADER + "A1,C1,\n , ,\nA2,C2,\n,,\n").encode())

    assert table.lines.tolist() == [2, 4]
    assert table.read == 2
