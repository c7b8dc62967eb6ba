"""The root filesystem's pure parts: what dpkg says is installed."""

from __future__ import annotations

from lockstep.images import rootfs

STATUS = """\
Package: adduser
Status: install ok installed
Architecture: all
Version: 3.134
Description: add and remove users and groups
 Version: 9.9 (a continuation line, not a field)

Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u13
"""


def test_parse_dpkg_status_keeps_installed_packages_only() -> None:
    assert rootfs.parse_dpkg_status(STATUS) == {"adduser": "3.134", "libc6": "2.36-9+deb12u13"}
