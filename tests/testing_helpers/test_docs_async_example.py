"""The AsyncPosthog example in docs/testing.md runs, as a user's files, under pytest."""

from __future__ import annotations

import re
from pathlib import Path

from user_suite import run_pytest

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "testing.md"


def async_example() -> str:
    section = DOC.read_text(encoding="utf-8").split("\n### With `AsyncPosthog`\n", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section.split("\n### ", 1)[0], flags=re.DOTALL)
    assert len(blocks) == 1, "docs/testing.md 'With AsyncPosthog' should have one example"
    return str(blocks[0])


def test_async_example_passes_and_can_fail(tmp_path: Path) -> None:
    conftest, test = async_example().split("# test_shop.py\n")
    (tmp_path / "conftest.py").write_text(conftest, encoding="utf-8")
    (tmp_path / "test_shop.py").write_text(test, encoding="utf-8")
    broken = test.replace('"flow": "new"', '"flow": "classic"')
    assert broken != test
    (tmp_path / "test_shop_broken.py").write_text(broken, encoding="utf-8")
    app = (HERE / "async_shop_app.py").read_text(encoding="utf-8")
    (tmp_path / "shop.py").write_text(app, encoding="utf-8")
    output = run_pytest(tmp_path)
    assert re.search(r"\b1 failed, 1 passed\b", output), output
    assert "expected 'order placed' for 'u1' with" in output, output
