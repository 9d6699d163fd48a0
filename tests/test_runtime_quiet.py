import os
import sys

from mirage_desktop.runtime.quiet import native_output_captured


def test_native_and_python_output_are_captured_not_shown(capfd):
    with native_output_captured() as captured:
        os.write(2, b"from C on fd 2\n")
        os.write(1, b"from C on fd 1\n")
        print("from python print")
        print("from python stderr", file=sys.stderr)
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n" and err == ""
    for text in ("from C on fd 2", "from C on fd 1", "from python print", "from python stderr"):
        assert text in captured.text
