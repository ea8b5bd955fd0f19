"""The bench as a workbench, against a real second S3 implementation: moto's server (moto[server] from PyPI).

* `bench --target` runs the S3 workloads against moto alone, with the bench's own S3 client;
* `bench --compare` runs Silo's throwaway cluster and moto in one run and reports Silo/peer ratios, charts
  and the peak RSS of the gateway and nodes;
* `bench --write-baseline` / `--check` gate on the ratio to the machine limit and name a failing figure.

Every run is `--smoke` (tiny sizes, one counted round): these tests check what the bench does and writes,
not how fast anything is. Reports go to temporary directories (`--results-dir`), never to results/.

The bench executable is BENCH_BIN (scripts/test.sh sets it to the release build it makes for the bench
gate), else .build/release/bench when it exists, else .build/debug/bench run with --no-reexec (whose
baseline step is then checked to refuse, as a debug build must).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
VENV_BIN = HERE / ".venv" / "bin"

MOTO_KEY = "bench-key"
MOTO_SECRET = "bench-secret"
BENCH_TIMEOUT = 300
PER_FIGURE_FIELDS = ("object_bytes", "concurrency", "replicas", "chunk_bytes", "build", "git", "kernel",
                     "cpu_count", "system", "workload")


def bench_binary() -> tuple[Path, list[str]]:
    """The bench executable and the arguments every run gets."""
    value = os.environ.get("BENCH_BIN")
    if value:
        path = Path(value) if Path(value).is_absolute() else REPO_ROOT / value
        return path, ([] if "/release/" in str(path) else ["--no-reexec"])
    release = REPO_ROOT / ".build" / "release" / "bench"
    if release.is_file():
        return release, []
    return REPO_ROOT / ".build" / "debug" / "bench", ["--no-reexec"]


def is_release(path: Path) -> bool:
    return "/release/" in str(path.resolve())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """moto_server on a free loopback port, its temporary files in a directory of its own; stopped by pid."""
    server = VENV_BIN / "moto_server"
    if not server.is_file():
        pytest.fail(f"{server} is missing: run scripts/setup.sh (moto[server] is in requirements.txt)",
                    pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="silo-bench-moto-"))
    port = free_port()
    log = open(root / "moto.log", "wb")
    environment = dict(os.environ, TMPDIR=str(root), MOTO_ALLOW_NONEXISTENT_REGION="true")
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=root,
                               start_new_session=True)
    log.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto_server exited with {process.returncode}: "
                            f"{(root / 'moto.log').read_text(errors='replace')[-2000:]}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("moto_server did not listen within 30 s", pytrace=False)
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory for one bench run's results and data (on disk: the bench's calibration uses O_DIRECT)."""
    base = REPO_ROOT / ".silo"
    base.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="test-bench-", dir=base))
    root.chmod(0o755)  # the cluster's PostgreSQL runs as the postgres user and must reach its directory
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
        try:
            base.rmdir()
        except OSError:
            pass


def run_bench(arguments: list[str], scratch: Path, expect: int = 0) -> subprocess.CompletedProcess:
    binary, fixed = bench_binary()
    if not binary.is_file():
        pytest.fail(f"no bench executable at {binary}: `swift build -c release --product bench --product silo` "
                    "or set BENCH_BIN", pytrace=False)
    data = scratch / "data"
    # The silo beside the bench, as built: without --node-binary the bench would run `swift build` first.
    command = [str(binary), *arguments, *fixed, "--smoke", "--rounds", "1", "--node-binary", str(binary.parent / "silo"),
               "--results-dir", str(scratch / "results"), "--data-dir", str(data)]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=BENCH_TIMEOUT, cwd=scratch)
    assert result.returncode == expect, (
        f"{' '.join(command)} exited {result.returncode}, expected {expect}\n"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-6000:]}")
    # Nothing the bench started is left in its data directory: clusters and nodes are purged.
    leftovers = [p.name for p in data.iterdir()] if data.exists() else []
    assert not [name for name in leftovers if name.startswith("cluster-") or name == "node"], leftovers
    return result


def load_report(scratch: Path) -> dict:
    return json.loads((scratch / "results" / "latest.json").read_text())


def check_chart(path: Path, systems: list[str]) -> None:
    root = ElementTree.parse(path).getroot()  # well-formed XML, or this raises
    assert root.tag.endswith("svg")
    text = path.read_text()
    assert text.count("<polyline") >= 2, "a chart with no lines"
    assert "MB/s" in text and "(log scale)" in text, "axes without units or scale"
    for system in systems:
        assert system in text, f"{system} missing from the legend of {path.name}"


def moto_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=MOTO_KEY, aws_secret_access_key=MOTO_SECRET,
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


def test_bench_target_runs_the_s3_workloads_against_another_store(moto: str, scratch: Path) -> None:
    result = run_bench(["e2e", "small", "scaling", "--target", f"moto={moto}",
                        "--access-key", MOTO_KEY, "--secret-key", MOTO_SECRET], scratch)
    report = load_report(scratch)
    figures = report["figures"]
    assert figures and all(figure["system"] == "moto" for figure in figures), \
        "a --target run measures the target only"
    names = {figure["name"] for figure in figures}
    for expected in ("e2e.put.1stream", "e2e.get.100streams", "metadata.list.p99_ms", "small.put.c16.ops",
                     "small.get.c64.p99_ms", "small.get.c16.ttfb_p50_ms", "small.head.c64.p90_ms",
                     "scaling.put.4KiB.c1", "scaling.get.1MiB.c16"):
        assert expected in names, f"{expected} missing from {sorted(names)}"
    for figure in figures:
        for field in PER_FIGURE_FIELDS:
            assert field in figure, f"{figure['name']} lacks {field}"
        assert figure["value"] > 0 and figure["min"] <= figure["value"] <= figure["max"]
        assert figure["cpu_count"] == os.cpu_count()
    scaling = [f for f in figures if f["name"].startswith("scaling.")]
    assert {f["concurrency"] for f in scaling} == {1, 4, 16, 64}
    assert all(f["limit_ratio"] is not None for f in scaling), "throughput figures carry their machine limit"
    assert report["calibration"]["loopback_tcp_MBps"] > 0
    assert [s["label"] for s in report["systems"]] == ["moto"]
    assert (scratch / "results" / "latest.md").read_text().count("| moto |") >= len(figures)
    check_chart(scratch / "results" / "scaling-vs-concurrency.svg", ["moto"])
    check_chart(scratch / "results" / "scaling-vs-size.svg", ["moto"])
    assert "small.get.c64.ttfb_p99_ms" in result.stdout, "the table goes to standard output"
    # The bench leaves a store it did not start as it found it.
    leftover = [b["Name"] for b in moto_client(moto).list_buckets().get("Buckets", []) if b["Name"].startswith("bench-")]
    assert leftover == []


def test_bench_compare_runs_silo_and_a_peer_in_one_run(moto: str, scratch: Path) -> None:
    run_bench(["small", "scaling", "--compare", f"moto=http://{MOTO_KEY}:{MOTO_SECRET}@{moto[len('http://'):]}"],
              scratch)
    report = load_report(scratch)
    figures = report["figures"]
    by_key = {(f["name"], f["system"]): f for f in figures}
    silo = [f for f in figures if f["system"] == "silo"]
    peer = [f for f in figures if f["system"] == "moto"]
    assert silo and peer and len(silo) == len(peer), "every figure on both systems"
    for figure in peer:
        mine = by_key[(figure["name"], "silo")]
        assert mine["replicas"] == 2 and mine["chunk_bytes"] and figure["replicas"] is None
        assert figure["silo_ratio"] == pytest.approx(mine["value"] / figure["value"], rel=0.02, abs=0.002)
    systems = {s["label"]: s for s in report["systems"]}
    assert set(systems) == {"silo", "moto"} and systems["silo"]["silo"] and not systems["moto"]["silo"]
    # Peak RSS of the gateway and all six nodes, per workload.
    for workload in ("small", "scaling"):
        peaks = {p["process"]: p["peak_rss_bytes"] for p in report["memory"] if p["workload"] == workload}
        assert set(peaks) == {"gateway", *(f"node-{n}" for n in range(1, 7))}, peaks
        assert all(bytes_ > 1 << 20 for bytes_ in peaks.values())
    for chart in report["charts"]:
        check_chart(scratch / "results" / chart, ["Silo R=2", "moto"])


def test_bench_check_names_the_figure_that_fell_below_its_baseline(scratch: Path) -> None:
    binary, _ = bench_binary()
    baseline = scratch / "baseline.json"
    if not is_release(binary):
        result = run_bench(["chunk", "--write-baseline", str(baseline)], scratch, expect=2)
        assert "refuses" in result.stderr and not baseline.exists()
        pytest.skip("a debug bench refuses to gate (checked); the gate itself needs the release bench")
    run_bench(["chunk", "--write-baseline", str(baseline)], scratch)
    written = json.loads(baseline.read_text())
    gated = [f for f in written["figures"] if f["gated"] and f["limit_ratio"]]
    assert gated, "the chunk figures are gated"
    # One figure's baseline ratio ten times what any run reaches: that figure, and only it, must fail.
    # The others' are lowered far enough that no noise can fail them.
    target = gated[0]
    for figure in written["figures"]:
        for field in ("limit_ratio", "limit_ratio_best"):  # the gate reads the best round's
            if figure[field]:
                figure[field] = figure[field] * (10 if figure is target else 0.01)
    raised = scratch / "raised.json"
    raised.write_text(json.dumps(written))
    result = run_bench(["chunk", "--check", str(raised), "--tolerance", "50%"], scratch, expect=1)
    assert f"FAIL: {target['name']} " in result.stdout, result.stdout
    failing = [line for line in result.stdout.splitlines() if line.rstrip().endswith("FAIL")]
    assert len(failing) == 1 and failing[0].startswith(target["name"]), failing
