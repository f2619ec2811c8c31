import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_an_unusable_gl_backend_is_one_line_naming_the_package_to_install():
    # A fresh process: MuJoCo fixes its backend at import. "nosuch" fails the way a missing library does.
    env = {**os.environ, "MUJOCO_GL": "nosuch", "PYTHONPATH": str(REPO_ROOT)}
    spec = REPO_ROOT / "search_spaces" / "metaworld.yaml"
    command = [sys.executable, "-m", "weightsearch.cli", "validate", str(spec)]
    run = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    [line] = [line for line in run.stderr.splitlines() if "MUJOCO_GL" in line]
    assert "MUJOCO_GL=nosuch: cannot open an off-screen GL context" in line
    assert "apt-get install libosmesa6" in line


def test_the_backend_defaults_to_osmesa_and_respects_the_users_choice():
    code = "import os, weightsearch.metaworld; print(os.environ['MUJOCO_GL'])"
    unset = {key: value for key, value in os.environ.items() if key not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    for chosen, expected in ((None, "osmesa"), ("egl", "egl")):
        env = {**unset, "PYTHONPATH": str(REPO_ROOT), **({"MUJOCO_GL": chosen} if chosen else {})}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert run.stdout.strip() == expected, run.stderr[-2000:]
