"""Where the library keeps its files, and writes that readers see whole or not at all."""

from pathlib import Path

import pytest

import k2l_course
from k2l_course.files import atomic_path, cache_dir, write_atomic


def test_the_cache_is_k2l_cache_when_set():
    assert cache_dir({"K2L_CACHE": "/somewhere/else"}) == Path("/somewhere/else")


def test_the_cache_of_a_source_checkout_is_inside_it():
    assert k2l_course.checkout() == k2l_course.ROOT  # the tests run from the checkout
    assert cache_dir({}) == k2l_course.ROOT / ".k2l"


def test_the_cache_of_an_installed_package_is_the_users(monkeypatch):
    monkeypatch.setattr(k2l_course, "checkout", lambda: None)
    assert cache_dir({}) == Path.home() / ".cache" / "k2l"


def test_write_atomic_replaces_the_file_whole(tmp_path):
    target = tmp_path / "deep" / "gradebook.csv"
    write_atomic(target, "old")
    write_atomic(target, "new \udcff")  # a lone surrogate is escaped, not an error
    assert target.read_bytes() == b"new \\udcff"
    assert [p.name for p in target.parent.iterdir()] == ["gradebook.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.npz"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        assert temporary.suffix == ".npz" and temporary.parent == tmp_path
        temporary.write_text("half")
        raise RuntimeError("killed half-way")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.npz"]
