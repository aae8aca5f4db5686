"""The wording helpers of errors and warnings."""

from __future__ import annotations

from avloc._messages import abridged


def test_abridged_names_the_first_few_then_says_there_are_more() -> None:
    assert abridged(["a", "b"]) == "a, b"
    assert abridged(["a", "b", "c"]) == "a, b, c"
    assert abridged(["a", "b", "c", "d"]) == "a, b, c …"
    assert abridged(("a", "b", "c"), limit=2, sep="; ") == "a; b …"
    assert abridged([]) == ""
