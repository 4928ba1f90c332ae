"""A wheel built from the repository imports and works in a fresh virtualenv."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_the_mapped_packages_when_built(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("strongroom-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    # Dependencies come from the test environment; strongroom itself only from the wheel.
    site = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = (
        "import strongroom, strongroom.domain.secret, strongroom.infrastructure.mapper\n"
        "import strongroom.projections.postgres, pathlib\n"
        "assert 'site-packages' in strongroom.domain.secret.__file__\n"
        "assert (pathlib.Path(strongroom.__file__).parent / 'py.typed').exists()\n"
        "from strongroom import SecretsManager\n"
        f"with SecretsManager.open('sqlite:///{tmp_path}/w.db', master_key=bytes(32)) as sm:\n"
        "    sm.create('x', 'y'); assert sm.reveal('x') == 'y'\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [str(python), "-I", "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr
