"""Which store a spec opens: paths are SQLite files, postgresql:// URLs PostgreSQL databases, other URLs
are one line; a SQLite file on a network filesystem is refused; ``EVALKIT_STORE`` picks the store too."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.errors import UserError
from evalkit.store import Store
from evalkit.store.sqlite_backend import mount_fstype, network_filesystem

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /home rw,relatime shared:2 - xfs /dev/sda2 rw
41 30 0:52 / /home/shared\\040data rw,relatime shared:9 - nfs4 server:/export rw,vers=4.2
42 22 0:53 / /mnt/cluster rw,relatime - fuse.sshfs user@host:/ rw
43 42 0:54 / /mnt/cluster/local rw,relatime - tmpfs tmpfs rw
"""


@pytest.mark.parametrize(("path", "fstype"), [
    ("/home/ada/evalkit.db", "xfs"),
    ("/home/shared data/evalkit.db", "nfs4"),  # mountinfo writes the space as \\040
    ("/home/shared data2/evalkit.db", "xfs"),  # a prefix of a mount point's name is not inside it
    ("/mnt/cluster/runs/evalkit.db", "fuse.sshfs"),
    ("/mnt/cluster/local/evalkit.db", "tmpfs"),  # the innermost mount wins
    ("/var/evalkit.db", "ext4"),
])
def test_the_mount_of_a_path_is_the_longest_mount_point_above_it(path: str, fstype: str) -> None:
    assert mount_fstype(Path(path), MOUNTINFO) == fstype


def test_a_sqlite_store_on_a_network_filesystem_is_refused(tmp_path: Path) -> None:
    # This machine's own mount table, with one line added that mounts tmp_path over NFS (the kernel's
    # format): the check reads the real file format, only the NFS mount is made up.
    table = Path("/proc/self/mountinfo").read_text() + f"99 22 0:99 / {tmp_path} rw - nfs srv:/x rw\n"
    fake = tmp_path.parent / f"{tmp_path.name}-mountinfo"
    fake.write_text(table)
    assert network_filesystem(tmp_path / "evalkit.db", fake) == "nfs"
    assert network_filesystem(tmp_path / "evalkit.db") is None  # where the tests really run: a local disk


def test_the_store_refuses_a_network_mount_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evalkit.store.sqlite_backend as sqlite_backend

    # Fault injection: the filesystem check answers "cifs" for this folder (no SMB share to mount here).
    monkeypatch.setattr(sqlite_backend, "network_filesystem", lambda path: "cifs")
    with pytest.raises(UserError, match=r"network filesystem \(cifs\).*use a PostgreSQL store") as raised:
        Store(tmp_path / "sub" / "evalkit.db")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "sub").exists()  # nothing created


@pytest.mark.parametrize("url", ["mysql://u@h/db", "http://example.org/store", "sqlite:///x.db"])
def test_a_url_evalkit_does_not_serve_is_one_line(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as flag:
        main(["results", "list", "--store", url])
    assert flag.value.code == 2
    # The same URL from EVALKIT_STORE: refused when the store is opened.
    monkeypatch.setenv("EVALKIT_STORE", url)
    assert main(["results", "list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    scheme = url.split(":", 1)[0]
    assert len(err) == 2 and all(f"not {scheme}://" in line and "postgresql://" in line for line in err)
    assert list(tmp_path.iterdir()) == []  # no folder named after the scheme, no file


def test_a_postgresql_url_opens_the_database_not_a_folder(postgres_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with Store(postgres_url) as store:
        store.create_run("r1", "suite", "0" * 64, "fp", "m", {}, None)
    assert main(["results", "list", "--store", postgres_url]) == 0
    assert "r1" in capsys.readouterr().out
    monkeypatch.setenv("EVALKIT_STORE", postgres_url)
    assert main(["results", "list"]) == 0
    assert "r1" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://nobody@/db?host={tmp_path}"  # no server listens on a socket in this folder
    pytest.importorskip("psycopg")
    with pytest.raises(UserError, match="cannot connect to PostgreSQL") as raised:
        Store(url)
    assert "\n" not in str(raised.value)


def test_a_postgresql_store_without_its_packages_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: make the driver unimportable, as in an install without the postgres extra.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(UserError, match=r"pip install 'evalkit\[postgres\]'"):
        Store("postgresql://u:secret@db.example/evalkit")
    with pytest.raises(UserError) as raised:
        Store("postgresql://u:secret@db.example/evalkit")
    assert "secret" not in str(raised.value)  # a password never reaches a message
