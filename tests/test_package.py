"""The package root re-exports every public name lazily and stays free of Streamlit."""

import subprocess
import sys

import nnspec_core


def test_every_export_resolves():
    missing = [name for name in nnspec_core.__all__ if not hasattr(nnspec_core, name)]
    assert missing == []


def test_unknown_attribute_raises_attribute_error():
    try:
        nnspec_core.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_core_never_imports_streamlit():
    code = (
        "import sys, nnspec_core as n\n"
        "[getattr(n, k) for k in n.__all__]\n"
        "import nnspec_core.cli\n"
        "print('streamlit' in sys.modules, any(m.startswith('nnspec_app') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
