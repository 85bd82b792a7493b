"""Where the local API's socket goes: the state folder, or the runtime folder when too long."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nemowatch.errors import UsageError
from nemowatch.web.paths import MAX_BYTES, socket_path


def test_a_short_state_folder_holds_the_socket(tmp_path: Path) -> None:
    assert socket_path(tmp_path, "/run/user/1000") == tmp_path / "nemowatch.sock"


def test_a_long_state_folder_puts_it_under_the_runtime_folder() -> None:
    deep = Path("/srv/" + "x" * 100)
    other = Path("/srv/" + "y" * 100)
    path = socket_path(deep, "/run/user/1000")
    assert path.parent == Path("/run/user/1000")
    assert path.name.startswith("nemowatch-") and path.suffix == ".sock"
    assert path == socket_path(deep, "/run/user/1000")  # the commands find it again
    assert path != socket_path(other, "/run/user/1000")  # each state folder its own
    assert len(os.fsencode(path)) <= MAX_BYTES


def test_the_limit_is_107_bytes_not_characters() -> None:
    fits = Path("/" + "a" * (MAX_BYTES - len("/nemowatch.sock") - 1))
    assert socket_path(fits, None) == fits / "nemowatch.sock"
    wide = Path("/" + "é" * 50)  # 100 bytes in UTF-8
    assert socket_path(wide, "/run/user/1000").parent == Path("/run/user/1000")


@pytest.mark.parametrize("runtime_dir", [None, "", "/run/" + "z" * 100])
def test_without_a_place_that_fits_the_error_says_what_to_do(runtime_dir: str | None) -> None:
    with pytest.raises(UsageError, match="XDG_RUNTIME_DIR") as caught:
        socket_path(Path("/srv/" + "x" * 120), runtime_dir)
    assert "folders.state_dir" in str(caught.value)
