"""Tables that fit: cells never wrap; compact forms, then low-priority columns, give way."""

from rich.console import Console

from kdmarl_bench.results.render.fit import Column, fit_table

COLS = [Column("task"), Column("method"), Column("size", 1), Column("score", 0, right=True, compact=0),
        Column("retention", 0, right=True, compact=1), Column("FLOPs", 2, right=True), Column("p50 ms", 3, right=True)]
ROWS = [["mpe/simple_speaker_listener_v4", "kd-marl", "auto-x0.5", "-14.60 [-14.75, -14.45]", "88.2% [87.9, 88.8]",
         "10.6k", "0.073"],
        ["smax/3m", "teacher", "full", "0.91 [0.81, 1.00]", "100.0% [100.0, 100.0]", "1.2M", "0.265"]]
ALT = [["-14.60", "88.2%"], ["0.91", "100.0%"]]


def render(width):
    res = fit_table(COLS, ROWS, width, alt=ALT, title="board")
    con = Console(width=width, record=True, file=open("/dev/null", "w"))
    con.print(res.table)
    return res, con.export_text()


def test_wide_terminal_shows_everything_uncompacted():
    res, text = render(200)
    assert res.hidden == () and res.compacted == () and res.note() == ""
    assert "-14.60 [-14.75, -14.45]" in text and "0.073" in text


def test_80_columns_never_breaks_a_word():
    res, text = render(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    for word in ("mpe/simple_speaker_listener_v4", "kd-marl", "teacher", "smax/3m", "auto-x0.5"):
        assert word in text, word
    assert len([ln for ln in text.splitlines() if ln.strip()]) == 5  # title, header, rule, two rows
    assert res.compacted == ("score", "retention")
    assert "p50 ms" in res.hidden and "hidden to fit: p50 ms" in res.note()


def test_least_important_columns_go_first_and_priority_zero_stays():
    res, text = render(60)
    assert res.hidden == ("size", "FLOPs", "p50 ms")
    assert "mpe/simple_speaker_listener_v4" in text and "88.2%" in text


MD = """intro line

| task | regime | retention [95% CI] | verdict |
|---|---|---:|---|
| smax/3m@hetero | limited \\| privileged | 40.4% [3.4, 67.9] | **fails** |
| mpe/simple_spread_v3 | same view | 88.2% [87.9, 88.6] | holds |

legend line
"""


def test_markdown_tables_fit_or_become_one_block_per_row():
    from kdmarl_bench.results.render.fit import fit_markdown, markdown_records

    res, before, after = fit_markdown(MD, 200)
    assert before == ["intro line", ""] and after == ["", "legend line"] and res.hidden == ()
    con = Console(width=200, record=True, file=open("/dev/null", "w"))
    con.print(res.table)
    text = con.export_text()
    assert "limited | privileged" in text and "fails" in text and "**" not in text
    narrow, _, _ = fit_markdown(MD, 40)
    assert narrow.compacted == ("retention",) or narrow.hidden  # CIs go first, then columns
    assert markdown_records(MD)[0] == ("smax/3m@hetero", ["regime: limited | privileged",
                                                          "retention [95% CI]: 40.4% [3.4, 67.9]", "verdict: fails"])
    assert fit_markdown("no table here", 80) == (None, ["no table here"], [])
