"""The testing example in README.md runs, as a user's test file, under pytest."""

from __future__ import annotations

import re
from pathlib import Path

from user_suite import run_pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_testing_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Testing your app\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README.md 'Testing your app' has no python example"
    return str(blocks[0])


def test_readme_testing_example_passes_under_pytest(tmp_path: Path) -> None:
    example = readme_testing_example()
    assert 10 <= len(example.strip().splitlines()) <= 20  # short, as promised
    (tmp_path / "test_readme_example.py").write_text(example, encoding="utf-8")
    # and it really asserts: with the app broken, the same test fails
    broken = example.replace('else "free"', 'else "gratis"')
    assert broken != example
    (tmp_path / "test_readme_broken.py").write_text(broken, encoding="utf-8")
    output = run_pytest(tmp_path)
    assert re.search(r"\b1 failed, 1 passed\b", output), output
    assert "FAILED test_readme_broken.py::test_sign_up_is_tracked" in output, output
    assert "expected 'signed up' for 'u2' with {'plan': 'free'}" in output, output
