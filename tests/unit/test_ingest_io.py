"""Reading raw exports (encodings, delimiters, line numbers) and the pseudonym key file."""

import codecs
import re
import stat
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pl_eval import io
from pl_eval.errors import InputError


def sniff(tmp_path, data: bytes, name="export.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return io.sniff_raw_file(path, name)


def read(raw, columns):
    return io.read_raw_exports([io.RawRequest(raw, columns)])


def test_sniff_bom_tab_and_latin1(tmp_path):
    bom = sniff(tmp_path, b'\xef\xbb\xbf Term\t"Score" \tx\n1\t2\t3\n', "a.txt")
    assert (bom.encoding, bom.delimiter, bom.header) == ("utf-8-sig", "\t", ("Term", "Score", "x"))
    latin = sniff(tmp_path, "Escuela,Pe\u00f1a\n1,2\n".encode("latin-1"))
    assert (latin.encoding, latin.header) == ("latin-1", ("Escuela", "Pe\u00f1a"))


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"", "an empty file"),
        (b"\n\nA,B\n", "a blank line"),
        (b"PK\x03\x04\x00\x00", "spreadsheet workbook"),  # .xlsx called .csv
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "spreadsheet workbook"),  # .xls
        (b"A,B\n\x00\x01", "binary data"),
    ],
)
def test_sniff_refuses_what_is_not_an_export(tmp_path, data, found):
    with pytest.raises(InputError, match=found):
        sniff(tmp_path, data)


def test_line_numbers_survive_blank_lines_and_crlf(tmp_path):
    raw = sniff(tmp_path, b"A,B,C\r\n1,x,a\r\n\r\n2,y,b\r\n , ,\r\n3,z,c\r\n\r\n")
    got = read(raw, {"first": 0, "third": 2})
    assert got.frame["source_line"].tolist() == [2, 4, 6]
    assert got.frame["first"].tolist() == ["1", "2", "3"]
    assert "B" not in got.frame and "second" not in got.frame
    assert got.blank_lines == {"export.csv": 3}
    assert isinstance(got.frame["first"].dtype, pd.CategoricalDtype)


def test_cells_written_as_formula_text_read_as_their_text(tmp_path):
    # ="0012301", as a student information system writes IDs for a spreadsheet to keep
    raw = sniff(
        tmp_path,
        b'ID,Grade,Note\n"=""00123""","=""3""",=SUM(A1)\n00123,3,"=""a"" & ""b"""\n"=""""",4,="x\n',
    )
    got = read(raw, {"ID": 0, "Grade": 1, "Note": 2})
    assert got.frame["ID"].tolist() == ["00123", "00123", ""]
    assert list(got.frame["ID"].cat.categories) == ["00123", ""]  # made equal: one value
    assert got.frame["Grade"].tolist() == ["3", "3", "4"]
    # any other formula, or one not closed, is a cell's text as written
    assert got.frame["Note"].tolist() == ["=SUM(A1)", '="a" & "b"', '="x']


def test_encoding_is_decided_over_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "SNIFF_BYTES", 16)
    monkeypatch.setattr(io, "BLOCK_BYTES", 7)  # characters and matches cut across blocks
    latin = ("Name,Score\n" + "Ann,1\n" * 5 + "Pe\u00f1a,2\n").encode("latin-1")
    raw = sniff(tmp_path, latin)
    assert raw.encoding == "latin-1"  # the Latin-1 byte is past the header block
    got = read(raw, {"Name": 0})
    assert got.encodings == {"export.csv": "latin-1"}
    assert got.frame["Name"].tolist()[-1] == "Pe\u00f1a"
    utf8 = ("Name,Score\n" + "Ann,1\n" * 5 + "Pe\u00f1a \u2019,2\n").encode("utf-8")
    assert sniff(tmp_path, utf8).encoding == "utf-8"
    assert sniff(tmp_path, codecs.BOM_UTF8 + utf8).encoding == "utf-8-sig"
    windows = "Name,Score\nO\u2019Brien \u2013 Pe\u00f1a,1\n".encode("cp1252")
    raw = sniff(tmp_path, windows)
    assert raw.encoding == "cp1252"
    assert read(raw, {"Name": 0}).frame["Name"].tolist() == ["O\u2019Brien \u2013 Pe\u00f1a"]


#: What io._eight_bit_marks finds, as regular expressions (the leftmost match of each).
EIGHT_BIT_PATTERNS = {
    "utf8_character": re.compile(
        rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
    ),
    "not_text": re.compile(rb"[\x81\x8d\x8f\x90\x9d]"),
    "windows_only": re.compile(rb"[\x80-\x9f]"),
}
#: ASCII, continuation bytes, UTF-8 leads of each length, and bytes UTF-8 never has.
EIGHT_BIT_BYTES = st.sampled_from(
    [0x41, 0x0A, 0x81, 0x85, 0x9D, 0xA0, 0xBF, 0xC0, 0xC3, 0xDF, 0xE2, 0xEF, 0xF0, 0xF4, 0xF5]
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(data=st.lists(EIGHT_BIT_BYTES, max_size=40).map(bytes), block=st.integers(1, 9))
def test_eight_bit_marks_are_the_first_match_of_each_pattern_across_blocks(
    tmp_path_factory, data, block
):
    path = tmp_path_factory.mktemp("marks") / "export.csv"
    path.write_bytes(data)
    expected = {
        kind: None if (match := pattern.search(data)) is None else match.start()
        for kind, pattern in EIGHT_BIT_PATTERNS.items()
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(io, "BLOCK_BYTES", block)  # characters cut across blocks of 1-9 bytes
        assert io._eight_bit_marks(path) == io._EightBitMarks(**expected)


def test_a_file_is_judged_by_its_own_bytes_not_the_last_ones_read(tmp_path, monkeypatch):
    # files are read into one buffer per thread: what a longer file left there must not count
    monkeypatch.setattr(io, "SNIFF_BYTES", 16)
    monkeypatch.setattr(io, "BLOCK_BYTES", 16)
    latin = ("Name,Score\n" + "Ann,1\n" * 3 + "Pe\u00f1a,2\n").encode("latin-1")
    assert sniff(tmp_path, latin, "long.csv").encoding == "latin-1"
    assert sniff(tmp_path, b"Name\nAnn\n", "short.csv").encoding == "utf-8"
    assert sniff(tmp_path, b"Name", "header.csv").header == ("Name",)  # no line end
    with pytest.raises(InputError, match="an empty file"):
        sniff(tmp_path, b"", "empty.csv")
    with pytest.raises(InputError, match="a blank line"):
        sniff(tmp_path, b"\r\nName\n", "blank.csv")
    utf8 = "Name,Score\nPe\u00f1a \u2019,2\n".encode()
    assert sniff(tmp_path, codecs.BOM_UTF8 + utf8, "bom.csv").encoding == "utf-8-sig"
    assert sniff(tmp_path, b"A\tB\n1\t2\n", "tab.csv").delimiter == "\t"


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        (b"A,B;C,D", ","),  # the one the header holds most of
        (b"A;B;C", ";"),  # a spreadsheet set for Europe
        (b"A|B|C", "|"),  # a student information system's
        (b"A\tB,C\tD", "\t"),
        (b"A;B|C", ";"),  # a tie: the first of comma, tab, semicolon, pipe
        (b"A", ","),
    ],
)
def test_the_delimiter_is_the_one_the_header_line_holds_most_of(tmp_path, header, delimiter):
    raw = sniff(tmp_path, header + b"\n1\n", "x.csv")
    assert raw.delimiter == delimiter
    assert len(raw.header) == 1 + header.count(delimiter.encode())


@pytest.mark.parametrize("block_bytes", [1 << 20, 64, 1])  # no file, some, every file "big"
def test_files_sniffed_side_by_side_or_in_turn_come_back_in_order_with_their_errors(
    tmp_path, monkeypatch, block_bytes
):
    # files of BLOCK_BYTES or more are sniffed a batch per core, the others in turn
    monkeypatch.setattr(io, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(io, "BATCH_BYTES", 100)  # the big files in several batches
    rows = b"1,2\n" * 30
    contents = {
        "a.csv": b"A,B\n" + rows,
        "b.csv": b"X\tY\n1\t2\n",
        "c.csv": "Escuela,Pe\u00f1a\n".encode("latin-1") + rows,
        "d.csv": b"",
        "e.csv": "A,B\nPe\u00f1a,1\n".encode() + rows + "Pe\u00f1a,2\n".encode("latin-1"),
        "f.csv": b"Name\nAnn\n",
        "g.csv": codecs.BOM_UTF8 + b"A,B\n" + rows,
    }
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    files = [(tmp_path / name, name) for name in [*contents, "gone.csv"]]  # gone.csv: no file
    found = io.sniff_raw_files(files)
    summary = [
        (r.encoding, r.delimiter, r.header) if isinstance(r, io.RawFile) else str(r) for r in found
    ]
    assert summary[:3] == [
        ("utf-8", ",", ("A", "B")),
        ("utf-8", "\t", ("X", "Y")),
        ("latin-1", ",", ("Escuela", "Pe\u00f1a")),
    ]
    assert (
        summary[3]
        == "d.csv, line 1: expected a header line naming the columns, found 'an empty file'"
    )
    assert summary[4].startswith("e.csv, line 33: expected one text encoding for the whole file")
    assert summary[4].endswith("found 'byte 0xF1 at byte offset 134'")  # 4 + 8 + 120 + 2 bytes
    assert summary[5:] == [
        ("utf-8", ",", ("Name",)),
        ("utf-8-sig", ",", ("A", "B")),
        "gone.csv: expected a readable file, found 'No such file or directory'",
    ]


@pytest.mark.parametrize(
    ("data", "line", "found"),
    [
        # UTF-8 Peña on line 2, a Latin-1 ñ on line 3: mixed, never read as PeÃ±a
        (
            "A\nPe\u00f1a\n".encode() + "Pe\u00f1a\n".encode("latin-1"),
            3,
            "byte 0xF1 at byte offset 10",
        ),
        (codecs.BOM_UTF8 + "A\nPe\u00f1a\n".encode("latin-1"), 2, "byte 0xF1 at byte offset 7"),
        (b"A\nx\n\x81y\n", 3, "byte 0x81 at byte offset 4"),  # neither UTF-8 nor Windows-1252
        ("A\nPe\u00f1a\n".encode() + b"\xe2\x80", 3, "byte 0xE2 at byte offset 8"),  # cut short
        # ASCII blocks are skipped undecoded, but not while a character is cut across blocks
        (b"A\nx\xc3\xb1\nabcdefgh\nP\xf1\n", 4, "byte 0xF1 at byte offset 16"),
    ],
)
def test_text_of_no_single_encoding_is_one_line_at_the_byte(
    tmp_path, monkeypatch, data, line, found
):
    monkeypatch.setattr(io, "BLOCK_BYTES", 3)
    with pytest.raises(InputError) as caught:
        sniff(tmp_path, data)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.found) == ("export.csv", line, found)
    assert "re-save it as CSV UTF-8" in problem.expected


def test_rows_with_the_wrong_field_count_are_named_by_line(tmp_path):
    raw = sniff(tmp_path, b"A,B,C\n1,2,3\n4,5\n6,7,8,9\n")
    with pytest.raises(InputError) as caught:
        read(raw, {"A": 0})
    assert [(p.line, p.found) for p in caught.value.problems] == [(3, "2 fields"), (4, "4 fields")]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_utf16_text_as_excel_saves_unicode_text_reads_as_utf8_does(tmp_path, monkeypatch, codec):
    text = "Term\tSchool\r\nFall 2014-2015\tEscuela Pe\u00f1a\r\n\r\nSpring\t\u6771\r\n"
    data = text.encode(codec) if codec == "utf-16" else codecs.BOM_UTF16_BE + text.encode(codec)
    raw = sniff(tmp_path, data, "AssessmentResults.txt")
    assert (raw.encoding, raw.delimiter, raw.header) == ("utf-16", "\t", ("Term", "School"))
    same = sniff(tmp_path, text.encode("utf-8"), "AssessmentResults.csv")
    got, expected = read(raw, {"School": 1}), read(same, {"School": 1})
    pd.testing.assert_frame_equal(
        got.frame.drop(columns="source_file"), expected.frame.drop(columns="source_file")
    )
    assert got.blank_lines == {"AssessmentResults.txt": 1}
    assert got.encodings == {"AssessmentResults.txt": "utf-16"}
    monkeypatch.setattr(io, "STREAM_BYTES", 10)  # read a block at a time, as a big file is
    monkeypatch.setattr(io, "STREAM_BLOCK_BYTES", 64)
    pd.testing.assert_frame_equal(read(raw, {"School": 1}).frame, got.frame)


def test_utf16_text_that_does_not_decode_is_one_line(tmp_path):
    data = "A\tB\r\n1\t2\r\n".encode("utf-16") + b"\x00\xd8"  # a lone surrogate
    raw = sniff(tmp_path, data, "a.txt")
    with pytest.raises(InputError) as caught:
        read(raw, {"A": 0})
    assert str(caught.value) == (
        "a.txt: expected UTF-16 text throughout, as the file's byte-order mark says; open it in "
        "Excel and Save As CSV UTF-8, found 'bytes that are not UTF-16'"
    )
    with pytest.raises(InputError, match="an empty file"):
        sniff(tmp_path, codecs.BOM_UTF16_LE)


@pytest.mark.parametrize(
    ("data", "trailing"),
    [
        (b"A,B,C\n1,2,3,\n", True),
        (b"A,B,C\r\n1,2,3, \r\n4,5,6,\r\n", True),  # CRLF; a blank counts as empty
        (b"\xef\xbb\xbfA\tB\r1\t2\t\r", True),  # BOM, tabs, old Mac line endings
        (b'A,B,C\n1,"2,",3,\n', True),  # a delimiter inside quotes is not one
        (b"A,B,C,\n1,2,3,\n", False),  # the header ends with one too: its last is unnamed
        (b"A,B,C\n1,2,3,x\n", False),  # a value past the header: a problem when read
        (b"A,B,C\n1,2,3\n4,5,6,\n", False),  # judged by line 2 only
        (b"A,B,C\n1,2,3,", False),  # line 2 not whole in the bytes sniffed
        (b"A,B,C\n", False),
    ],
)
def test_rows_ending_in_a_delimiter_the_header_lacks_are_told_by_line_2(tmp_path, data, trailing):
    assert sniff(tmp_path, data).trailing_delimiter is trailing


def test_rows_ending_in_a_delimiter_read_without_it_streamed_or_whole(tmp_path, monkeypatch):
    rows = "".join(
        f"{i},x{i % 5},{i * 3},\r\n" + ("\r\n" if i % 97 == 5 else "") for i in range(3000)
    )
    raw = sniff(tmp_path, b"A,B,C\r\n" + rows.encode(), "big.csv")
    whole = read(raw, {"A": 0, "C": 2})
    assert whole.frame["C"].iloc[-1] == "8997" and whole.frame["source_line"].iloc[-1] == 3032
    monkeypatch.setattr(io, "STREAM_BYTES", 100)
    monkeypatch.setattr(io, "STREAM_BLOCK_BYTES", 1024)
    monkeypatch.setattr(io, "STACK_ROWS", 700)
    pd.testing.assert_frame_equal(read(raw, {"A": 0, "C": 2}).frame, whole.frame)
    assert whole.blank_lines == {"big.csv": 31}


def test_header_only_file_is_an_error_at_line_2(tmp_path):
    raw = sniff(tmp_path, b"A,B\n\n")
    with pytest.raises(InputError, match="export.csv, line 2: expected a data row"):
        read(raw, {"A": 0})


def test_a_big_file_streamed_in_blocks_reads_as_it_does_whole(tmp_path, monkeypatch):
    # a national pool in one file is parsed a block at a time: the same rows, lines, blank
    # lines and encodings as reading it whole, over many blocks and stacks
    rows = "".join(
        ("\r\n" if i % 97 == 5 else "") + f"{i},Pe\u00f1a {i % 7},{i * 3}\r\n" for i in range(3000)
    )
    big = sniff(tmp_path, b"A,B,C\r\n" + rows.encode("latin-1"), "big.csv")
    small = sniff(tmp_path, b"B,A\nx,1\ny,2\n", "small.csv")
    requests = [io.RawRequest(big, {"A": 0, "B": 1}), io.RawRequest(small, {"B": 0, "A": 1})]
    whole = io.read_raw_exports(requests)
    monkeypatch.setattr(io, "STREAM_BYTES", 100)  # big.csv is streamed, small.csv is not
    monkeypatch.setattr(io, "STREAM_BLOCK_BYTES", 1024)
    monkeypatch.setattr(io, "STACK_ROWS", 700)
    streamed = io.read_raw_exports(requests)
    pd.testing.assert_frame_equal(streamed.frame, whole.frame)
    assert (streamed.encodings, streamed.blank_lines) == (whole.encodings, whole.blank_lines)
    assert whole.blank_lines == {"big.csv": 31, "small.csv": 0}
    assert whole.frame["source_line"].iloc[2997:3002].tolist() == [3030, 3031, 3032, 2, 3]
    assert whole.frame["B"].iloc[2999] == "Pe\u00f1a 3"


@pytest.mark.parametrize("stream_bytes", [1 << 40, 100])  # whole, or a block at a time
def test_a_big_file_that_breaks_late_is_one_problem_and_no_other(
    tmp_path, monkeypatch, stream_bytes
):
    monkeypatch.setattr(io, "STREAM_BYTES", stream_bytes)
    monkeypatch.setattr(io, "STREAM_BLOCK_BYTES", 1024)
    big = sniff(tmp_path, b"A,B\n" + b"1,2\n" * 2500 + b"3,4,5\n", "big.csv")  # a late bad row
    empty = sniff(tmp_path, b"A,B\n", "empty.csv")  # every file's problem is reported
    with pytest.raises(InputError) as caught:
        io.read_raw_exports([io.RawRequest(big, {"A": 0}), io.RawRequest(empty, {"A": 0})])
    found = [(p.file, p.line, p.found) for p in caught.value.problems]
    assert found == [("big.csv", 2502, "3 fields"), ("empty.csv", 2, "no data rows")]


def test_files_stack_in_name_order_with_missing_columns(tmp_path):
    b = sniff(tmp_path, b"X,Y\n1,2\n", "b.csv")
    a = sniff(tmp_path, b"Y\n3\n4\n", "a.csv")
    got = io.read_raw_exports([io.RawRequest(b, {"X": 0, "Y": 1}), io.RawRequest(a, {"Y": 0})])
    frame = got.frame
    assert frame["source_file"].tolist() == ["a.csv", "a.csv", "b.csv"]
    assert list(frame["source_file"].cat.categories) == ["a.csv", "b.csv"]
    assert frame["Y"].tolist() == ["3", "4", "2"]
    assert frame["X"].isna().tolist() == [True, True, False]


@pytest.mark.parametrize("batch_bytes", [0, 40, 1 << 21])  # a file, a few, all per task
def test_many_files_in_batches_keep_order_lines_and_every_problem(
    tmp_path, monkeypatch, batch_bytes
):
    # a cohort exported per school and term: hundreds of small files, read a batch per task
    monkeypatch.setattr(io, "BATCH_BYTES", batch_bytes)
    files = [(tmp_path / f"s{i:03d}.csv", f"s{i:03d}.csv") for i in range(300)]
    for i, (path, _) in enumerate(files):
        rows = "".join(f"{i},{j}\n" for j in range(i % 4)) + ("\n" if i % 50 == 7 else "")
        path.write_bytes(b"School,Row\n" + rows.encode())
    files[123][0].write_bytes(b"School,Row\n123,0,extra\n")  # a bad row, beside good files
    sniffed = io.sniff_raw_files(files)
    assert not any(isinstance(s, InputError) for s in sniffed)  # header-only: found by the read
    requests = [io.RawRequest(raw, {"School": 0, "Row": 1}) for raw in reversed(sniffed)]
    with pytest.raises(InputError) as caught:
        io.read_raw_exports(requests)
    found = [(p.file, p.line) for p in caught.value.problems]
    no_rows = [(n, 2) for i, (_, n) in enumerate(files) if i % 4 == 0 and i != 123]
    assert found == sorted([("s123.csv", 2), *no_rows])  # every file's problem, in file order
    good = [r for r in requests if int(r.file.name[1:4]) % 4 and r.file.name != "s123.csv"]
    got = io.read_raw_exports(good)
    expected = [
        (f"s{i:03d}.csv", j + 2, str(i), str(j))
        for i in range(300)
        if i % 4 and i != 123
        for j in range(i % 4)
    ]
    rows = got.frame[["source_file", "source_line", "School", "Row"]].astype("object")
    assert list(rows.itertuples(index=False, name=None)) == expected
    assert got.blank_lines == {r.file.name: int(int(r.file.name[1:4]) % 50 == 7) for r in good}


def test_list_raw_files_is_sorted_and_relative(tmp_path):
    (tmp_path / "z").mkdir()
    for name in ("z/b.csv", "a.csv", "z/.gitkeep"):
        (tmp_path / name).write_text("x")
    assert [n for _, n in io.list_raw_files(tmp_path)] == ["a.csv", "z/.gitkeep", "z/b.csv"]
    with pytest.raises(InputError, match="no such folder"):
        io.list_raw_files(tmp_path / "missing")


def test_key_from_environment_then_from_a_private_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PL_EVAL_KEY", "0123456789abcdef")
    assert io.read_pseudonym_key() == "0123456789abcdef"
    monkeypatch.delenv("PL_EVAL_KEY")
    key_file = tmp_path / "conf" / "pseudonym.key"
    monkeypatch.setenv("PL_EVAL_KEY_FILE", str(key_file))
    first = io.read_pseudonym_key()
    assert len(first) == 16 and first.isascii() and first.isprintable()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert io.read_pseudonym_key() == first  # made once, then reused
    key_file.write_text("fedcba9876543210\n")
    assert io.read_pseudonym_key() == "fedcba9876543210"


def test_write_parquet_text_equals_writing_str_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "t": pd.Categorical(["b", None, "a"], categories=["a", "b", "c"]),
            "n": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    io.write_parquet_text(table, tmp_path / "cat.parquet")
    io.write_parquet(frame.astype({"t": "str"}), tmp_path / "str.parquet")
    assert (tmp_path / "cat.parquet").read_bytes() == (tmp_path / "str.parquet").read_bytes()
    back = io.read_parquet(tmp_path / "cat.parquet")
    assert back["t"].dtype == "str" and back["t"].tolist()[::2] == ["b", "a"]


def test_write_parquet_text_of_rows_taken_from_record_batches(tmp_path, monkeypatch):
    # rows taken across batches of one shared dictionary, in row groups of 2: the file those
    # rows give as one batch of their own
    monkeypatch.setattr(io, "ROW_GROUP_ROWS", 2)
    frame = pd.DataFrame(
        {
            "t": pd.Categorical(["b", None, "a", "c", "a"], categories=["a", "b", "c"]),
            "n": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        }
    )
    whole = pa.Table.from_pandas(frame, preserve_index=False)
    batches = pa.Table.from_batches(whole.to_batches(max_chunksize=2))
    assert batches["t"].num_chunks == 3
    io.write_parquet_text(batches, tmp_path / "taken.parquet", rows=np.array([0, 1, 3, 4]))
    picked = pa.Table.from_pandas(frame.iloc[[0, 1, 3, 4]], preserve_index=False)
    io.write_parquet_text(picked, tmp_path / "picked.parquet")
    assert (tmp_path / "taken.parquet").read_bytes() == (tmp_path / "picked.parquet").read_bytes()
    assert io.read_parquet(tmp_path / "taken.parquet")["t"].tolist()[::2] == ["b", "c"]


def test_take_rows_from_record_batches_equals_a_take():
    table = pa.Table.from_batches(
        pa.table({"t": pa.array(list("abcdefg")).dictionary_encode()}).to_batches(max_chunksize=3)
    )
    rows = np.array([1, 2, 3, 6])
    assert io.take_rows(table, rows).to_pydict() == table.take(rows).to_pydict()
    assert io.take_rows(table, np.array([], dtype=np.int64)).num_rows == 0


def test_write_parquet_text_in_several_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "ROW_GROUP_ROWS", 2)
    frame = pd.DataFrame({"t": pd.Categorical(list("abcab")), "n": range(5)})
    io.write_parquet_text(pa.Table.from_pandas(frame), tmp_path / "groups.parquet")
    back = io.read_parquet(tmp_path / "groups.parquet")
    assert back["t"].tolist() == list("abcab") and back["n"].tolist() == list(range(5))


def test_unzip_archives_lists_each_file_in_a_zip_at_its_name_and_extracts_the_wanted(tmp_path):
    """Each file of a zip is listed as "<archive>/<file>", in name order among the folder's;
    the wanted are extracted (files in no zip, and the unwanted, keep the paths given)."""
    folder, scratch = tmp_path / "raw", tmp_path / "scratch"
    (folder / "sub").mkdir(parents=True)
    with zipfile.ZipFile(folder / "sub" / "B.ZIP", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("z.csv", "z\n")
        archive.writestr("CDF\\a.csv", "a\n")  # a Windows tool's separator
        archive.writestr("CDF/", "")  # a folder's entry
        archive.writestr("notes.pdf", "%PDF")
    (folder / "a.csv").write_text("top\n")
    unzipped = io.unzip_archives(
        io.list_raw_files(folder), scratch, wanted=lambda name: name.endswith(".csv")
    )
    assert [name for _, name in unzipped.files] == [
        "a.csv",
        "sub/B.ZIP/CDF/a.csv",
        "sub/B.ZIP/notes.pdf",
        "sub/B.ZIP/z.csv",
    ]
    paths = {name: path for path, name in unzipped.files}
    assert paths["sub/B.ZIP/CDF/a.csv"].read_text() == "a\n"
    assert paths["sub/B.ZIP/z.csv"].read_text() == "z\n"
    assert paths["sub/B.ZIP/notes.pdf"] == folder / "sub" / "B.ZIP"  # listed, never extracted
    assert paths["a.csv"] == folder / "a.csv"
    assert (unzipped.problems, unzipped.failed) == ((), ())
    assert sorted(p.name for p in scratch.rglob("*") if p.is_file()) == ["0", "2"]


def test_unzipped_growth_counts_what_a_zip_holds_beyond_its_size(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.csv", "x" * 1_000_000)
        info = archive.infolist()[0]
    data = (tmp_path / "a.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[:100])
    entry = data.rindex(b"PK\x01\x02")  # its file in the central directory: needs version 9.9
    (tmp_path / "newer.zip").write_bytes(data[: entry + 6] + bytes([99]) + data[entry + 7 :])
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(tmp_path / "newer.zip")
    (tmp_path / "b.csv").write_text("y" * 500)
    grown = io.unzipped_growth(
        [tmp_path / n for n in ("a.zip", "cut.zip", "newer.zip", "b.csv")]
    )  # the workflow asks while planning: an archive it cannot read counts 0, never raises
    assert grown == 1_000_000 - info.compress_size > 990_000
