"""Link files: every format read to its one address, every bad one refused by name."""

from __future__ import annotations

import errno
import os
import plistlib
from pathlib import Path

import pytest

from nemowatch import links
from nemowatch.errors import InputError, LinkError
from nemowatch.links import LINK_TYPES, MAX_LINK_BYTES, link_digest, read_link
from nemowatch.media import LINK_TYPES as MEDIA_LINK_TYPES
from nemowatch.media import MEDIA_TYPES

ADDRESS = "https://media.example.com/clips/Beach%20Day.mp4?sig=abc&x=1"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def refused(path: Path, **kwargs: str) -> LinkError:
    with pytest.raises(LinkError) as info:
        read_link(path, **kwargs)
    message = str(info.value)
    assert message.startswith(kwargs.get("shown", path.name)), message
    return info.value


def test_link_types_are_the_media_modules_and_not_media_types() -> None:
    assert LINK_TYPES == MEDIA_LINK_TYPES == ("url", "webloc", "link")
    assert not set(LINK_TYPES) & set(MEDIA_TYPES)


def test_a_link_error_is_an_input_error() -> None:
    assert issubclass(LinkError, InputError)


# The formats.


def test_a_windows_shortcut_with_bom_and_crlf(tmp_path: Path) -> None:
    text = f"\ufeff[InternetShortcut]\r\nIDList=\r\nURL={ADDRESS}\r\nIconIndex=0\r\n"
    assert read_link(write(tmp_path, "beach.url", text)) == ADDRESS


def test_a_shortcut_is_read_in_any_case_with_spaces_and_other_sections(tmp_path: Path) -> None:
    text = (
        "[DEFAULT]\nBASEURL=http://other.example/not-this.mp4\n"
        "[{000214A0-0000-0000-C000-000000000046}]\nProp3=19,11\n"
        f"  [internetSHORTCUT]  \n  url =  {ADDRESS}  \nURL=http://second.example/b.mp4\n"
    )
    assert read_link(write(tmp_path, "Beach.URL", text)) == ADDRESS


def test_a_shortcut_saved_as_utf16(tmp_path: Path) -> None:
    data = f"[InternetShortcut]\r\nURL={ADDRESS}\r\n".encode("utf-16")
    assert read_link(write(tmp_path, "beach.url", data)) == ADDRESS


def test_an_xml_webloc(tmp_path: Path) -> None:
    data = plistlib.dumps({"URL": ADDRESS}, fmt=plistlib.FMT_XML)
    assert data.startswith(b"<?xml")
    assert read_link(write(tmp_path, "beach.webloc", data)) == ADDRESS


def test_a_binary_webloc(tmp_path: Path) -> None:
    data = plistlib.dumps({"URL": ADDRESS}, fmt=plistlib.FMT_BINARY)
    assert data.startswith(b"bplist00")
    assert read_link(write(tmp_path, "beach.webloc", data)) == ADDRESS


def test_a_plain_link_with_blank_lines_and_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, "beach.link", f"\n\n   {ADDRESS}\t \r\n\n")
    assert read_link(path) == ADDRESS


def test_http_is_accepted_too(tmp_path: Path) -> None:
    path = write(tmp_path, "local.link", "http://127.0.0.1:8080/a.mp4")
    assert read_link(path) == "http://127.0.0.1:8080/a.mp4"


# Failures: each names the file and says what to do.


def test_a_missing_file_keeps_the_os_error_as_cause(tmp_path: Path) -> None:
    error = refused(tmp_path / "gone.link")
    assert isinstance(error.__cause__, FileNotFoundError)
    assert "cannot be read" in str(error)


def test_an_unreadable_file_says_how_to_let_nemowatch_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "locked.url", f"[InternetShortcut]\nURL={ADDRESS}\n")
    real_open = os.open

    def denied(target: str | os.PathLike[str], flags: int, *args: int) -> int:
        if Path(target) == path:  # root reads a mode-000 file, so deny it here
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real_open(target, flags, *args)

    monkeypatch.setattr(links.os, "open", denied)
    error = refused(path)
    assert isinstance(error.__cause__, PermissionError)
    assert "Permission denied" in str(error) and "chmod a+r" in str(error)


def test_the_message_names_the_file_as_the_person_knows_it(tmp_path: Path) -> None:
    path = write(tmp_path, "a.link", "")
    error = refused(path, shown="inbox/holiday/a.link")
    assert "empty" in str(error)


@pytest.mark.parametrize("name", ["empty.url", "empty.webloc", "empty.link"])
@pytest.mark.parametrize("content", [b"", b"  \r\n\n "])
def test_an_empty_file_is_refused(tmp_path: Path, name: str, content: bytes) -> None:
    assert "is empty" in str(refused(write(tmp_path, name, content)))


def test_a_file_too_large_to_be_a_link_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = write(tmp_path, "huge.link", ADDRESS + "\n" + " " * MAX_LINK_BYTES)
    assert "not a link file" in str(refused(path))
    fits = write(tmp_path, "fits.link", ADDRESS + " " * (MAX_LINK_BYTES - len(ADDRESS)))
    assert read_link(fits) == ADDRESS


def test_a_folder_a_fifo_and_a_symbolic_link_are_refused(tmp_path: Path) -> None:
    (tmp_path / "folder.link").mkdir()
    assert "not a regular file" in str(refused(tmp_path / "folder.link"))
    os.mkfifo(tmp_path / "pipe.link")
    assert "not a regular file" in str(refused(tmp_path / "pipe.link"))  # and did not block
    target = write(tmp_path, "real.link", ADDRESS)
    (tmp_path / "alias.link").symlink_to(target)
    assert "symbolic link" in str(refused(tmp_path / "alias.link"))


def test_another_suffix_is_not_a_link_file(tmp_path: Path) -> None:
    assert "not a link file" in str(refused(write(tmp_path, "clip.txt", ADDRESS)))


@pytest.mark.parametrize(
    "text",
    [
        f"URL={ADDRESS}\n",  # no section
        f"[Other]\nURL={ADDRESS}\n",
        "[InternetShortcut]\nIconIndex=0\n",
        "[InternetShortcut]\nURL=\n",
    ],
)
def test_a_shortcut_without_a_url_line_is_refused(tmp_path: Path, text: str) -> None:
    assert "no URL= line" in str(refused(write(tmp_path, "bad.url", text)))


@pytest.mark.parametrize(
    "data",
    [
        b"<?xml version='1.0'?><plist><dict><key>URL</key>",  # cut short
        b"bplist00\x00\x01garbage",
        b"this is not a property list",
    ],
)
def test_a_malformed_webloc_is_refused(tmp_path: Path, data: bytes) -> None:
    assert "not a valid property list" in str(refused(write(tmp_path, "bad.webloc", data)))


@pytest.mark.parametrize(
    "value", [{"Title": "no url"}, {"URL": 42}, {"URL": "  "}, [ADDRESS], ADDRESS]
)
def test_a_webloc_without_a_url_string_is_refused(tmp_path: Path, value: object) -> None:
    path = write(tmp_path, "bad.webloc", plistlib.dumps(value, fmt=plistlib.FMT_BINARY))
    assert "holds no URL entry" in str(refused(path))


def test_a_plain_link_with_two_addresses_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "two.link", f"{ADDRESS}\n\nhttps://other.example/b.mp4\n")
    assert "2 lines" in str(refused(path))


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("file:///etc/passwd", "a file: address"),
        ("ftp://files.example.com/a.mp4", "a ftp: address"),
        ("javascript:alert(1)", "a javascript: address"),
        ("FILE:///etc/passwd", "a file: address"),
        ("media.example.com/a.mp4", "no http:// or https:// address"),
        ("//media.example.com/a.mp4", "no http:// or https:// address"),
    ],
)
def test_an_address_that_is_not_http_is_refused(tmp_path: Path, address: str, said: str) -> None:
    for name, data in [
        ("x.link", address.encode()),
        ("x.url", f"[InternetShortcut]\r\nURL={address}\r\n".encode()),
        ("x.webloc", plistlib.dumps({"URL": address})),
    ]:
        message = str(refused(write(tmp_path, name, data)))
        assert said in message and "http:// and https://" in message
        assert "passwd" not in message  # the address itself is never quoted back


@pytest.mark.parametrize("address", ["http:///a.mp4", "https://:443/a.mp4", "https:"])
def test_an_address_without_a_host_is_refused(tmp_path: Path, address: str) -> None:
    assert "no host name" in str(refused(write(tmp_path, "x.link", address)))


@pytest.mark.parametrize(
    "address",
    [
        "https://media.example.com/Beach Day.mp4",
        "https://media.example.com/a\tb.mp4",
        "https://media.example.com/a\x00.mp4",
        "https://media.example.com/a\u200b.mp4",  # zero-width space
        "https://media.example.com/a\x7f.mp4",
    ],
)
def test_an_address_with_spaces_or_control_characters_inside_is_refused(
    tmp_path: Path, address: str
) -> None:
    message = str(refused(write(tmp_path, "x.link", address.encode())))
    assert "space or an invisible character" in message


def test_bytes_that_are_not_text_in_the_address_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x.url", b"[InternetShortcut]\nURL=https://ex.com/caf\xe9.mp4\n")
    assert "invisible character" in str(refused(path))


@pytest.mark.parametrize("address", ["http://[::1/a.mp4", "https://example.com:99999/a.mp4"])
def test_a_malformed_address_is_refused(tmp_path: Path, address: str) -> None:
    assert "malformed address" in str(refused(write(tmp_path, "x.link", address)))


# The duplicate guard's digest.


def test_a_link_digest_is_stable_marked_and_never_a_file_digest() -> None:
    digest = link_digest(ADDRESS)
    assert digest == link_digest(ADDRESS)
    assert digest != link_digest(ADDRESS + "&y=2")
    prefix, _, hexdigest = digest.partition(":")
    assert prefix == "url" and len(hexdigest) == 64
    int(hexdigest, 16)  # a file's digest is 64 bare hex digits: this one never is
