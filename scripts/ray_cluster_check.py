"""A multi-node Ray build, checked (`make ray-cluster`, issue 29 item 4): a head and two worker
nodes started with `ray start` (three raylets, each with its own CPUs, object store, temp dir
and a resource naming it), the demo build submitted to them with `alignx run --engine ray
--ray-address HOST:PORT`, and the same build run locally; the two releases must be identical
file for file, byte for byte. The cluster is stopped afterwards, also when anything fails.
Writes bench/results/ray_cluster.json: the nodes, the shards each ran per stage, the seconds,
and `identical`. Exit 0 only when the releases are identical and shards ran on more than one
node.

Every connection stays on the loopback interface. Ray rewrites 127.0.0.1 and "localhost" (in
`ray start --node-ip-address`, `--address` and `ray.init(address=...)`) to the machine's
outward interface address (ray._private.services.resolve_ip_for_localhost), so the nodes here
use another loopback address, 127.0.0.2 by default (`--host`), which Ray keeps as given and
Linux routes over `lo` like 127.0.0.1.

The nodes and the build share a fresh Ray token (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN) and a
fresh pseudonymization key (ALIGNX_PSEUDONYM_KEY, in each node's environment: a Ray worker
inherits its raylet's, not the driver's); neither is written anywhere, and ~/.ray is not read.
The settings are those of the local-vs-Ray test (tests/framework/test_engines.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
OUT = ROOT / "bench" / "results" / "ray_cluster.json"
#: The demo build's settings, as tests/conftest.py's DEMO_ARGS and test_engines.py's workers.
BUILD = ("--set", "ingest_reddit.inputs=raw/reddit",
         "--set", f"ingest_alignment.pku_inputs={SAMPLE / 'alignment' / 'pku_saferlhf.jsonl'}",
         "--set", f"ingest_alignment.ultrafeedback_inputs={SAMPLE / 'alignment' / 'ultrafeedback.jsonl'}",
         "--set", f"ingest_alignment.helpsteer2_inputs={SAMPLE / 'alignment' / 'helpsteer2.jsonl'}",
         "--set", "assemble.alignment_share=0.1", "--set", "execution.workers=2")
#: What the Ray executor logs per stage (pipeline/executors.py, RayExecutor.run).
PLACED = re.compile(r"(\w+): (\d+) shards ran on (\d+) Ray node\(s\): (.*)$")
NODES = ("head", "worker1", "worker2")
START_TIMEOUT_S = 240  # one `ray start`, on a loaded 2-core machine
BUILD_TIMEOUT_S = 1800


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Cluster:
    """Three raylets on one machine, started with `ray start`; ``stop`` ends exactly the
    processes that belong to them (found by their temp dirs, plus their children)."""

    def __init__(self, root: Path, host: str, cpus: int, env: dict[str, str]):
        self.root, self.host, self.cpus, self.env = root, host, cpus, env
        self.ray = str(Path(sys.executable).parent / "ray")
        self.port = free_port(host)
        self.address = f"{host}:{self.port}"
        self.temp = {name: root / (name[0] + name[-1]) for name in NODES}  # short: unix socket paths are limited

    def _start(self, name: str) -> None:
        common = ["--node-ip-address", self.host, "--num-cpus", str(self.cpus), "--num-gpus", "0",
                  "--resources", json.dumps({f"alignx_{name}": 1}), "--object-store-memory", str(200 * 2**20),
                  "--temp-dir", str(self.temp[name]), "--disable-usage-stats",
                  "--dashboard-agent-listen-port", str(free_port(self.host))]
        if name == "head":
            where = ["--head", "--port", str(self.port), "--include-dashboard", "false",
                     "--dashboard-port", str(free_port(self.host))]
        else:
            where = ["--address", self.address]
        proc = subprocess.run([self.ray, "start", *where, *common], env=self.env, capture_output=True, text=True,
                              timeout=START_TIMEOUT_S)
        if proc.returncode:
            raise SystemExit(f"ray start ({name}) exited {proc.returncode}:\n{proc.stderr[-2000:]}")

    def start(self) -> list[dict]:
        for name in NODES:
            self._start(name)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            nodes = self.nodes()
            if len([n for n in nodes if n["alive"]]) == len(NODES):
                return nodes
            if time.monotonic() > deadline:
                raise SystemExit(f"the cluster at {self.address} has {len(nodes)} live node(s), not {len(NODES)}")
            time.sleep(2)

    def nodes(self) -> list[dict]:
        """Each node: its id, which of ours it is, its address and CPUs (asked of the cluster)."""
        code = ("import json, ray\n"
                f"ray.init(address={self.address!r}, log_to_driver=False, logging_level='ERROR')\n"
                "print(json.dumps([{'id': n['NodeID'], 'alive': n['Alive'], 'address': n['NodeManagerAddress'],\n"
                "  'cpus': n['Resources'].get('CPU', 0), 'names': [r for r in n['Resources'] if r.startswith('alignx_')]}\n"
                "  for n in ray.nodes()]))\n")
        proc = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                              timeout=START_TIMEOUT_S)
        if proc.returncode:
            raise SystemExit(f"could not ask the cluster at {self.address} for its nodes:\n{proc.stderr[-2000:]}")
        nodes = json.loads(proc.stdout.strip().splitlines()[-1])
        for n in nodes:
            n["node"] = next((r.removeprefix("alignx_") for r in n.pop("names")), "?")
        return sorted(nodes, key=lambda n: NODES.index(n["node"]) if n["node"] in NODES else len(NODES))

    def _pids(self) -> set[int]:
        """Processes whose command line names one of our temp dirs, and all their descendants."""
        parent: dict[int, int] = {}
        ours: set[int] = set()
        marks = [str(t).encode() for t in self.temp.values()]
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
                parent[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if any(m in cmdline for m in marks):
                ours.add(int(proc.name))
        grew = True
        while grew:
            kids = {p for p, pp in parent.items() if pp in ours} - ours
            grew = bool(kids)
            ours |= kids
        return ours - {os.getpid()}

    def stop(self) -> int:
        """SIGTERM our processes, SIGKILL what is left after 20 s; returns how many were running."""
        pids = self._pids()
        for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
                for p in pids:  # reap any that are our own children
                    try:
                        os.waitpid(p, os.WNOHANG)
                    except ChildProcessError:
                        pass
                time.sleep(0.5)
            pids = {p for p in pids if Path(f"/proc/{p}").exists()}
            if not pids:
                break
        return len(pids)


def build(data_dir: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    """The demo build into ``data_dir``: (seconds, its stderr)."""
    (data_dir / "raw" / "reddit").mkdir(parents=True)
    for f in sorted((SAMPLE / "reddit").glob("*.zst")):
        shutil.copy2(f, data_dir / "raw" / "reddit" / f.name)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cli", "run", *BUILD, *args, "--data-dir", str(data_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    seconds = time.monotonic() - t0
    if proc.returncode:
        raise SystemExit(f"the build in {data_dir} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr


def release_of(data_dir: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from pipeline.config import load_config
    from stages.emit.stage import release_dir

    return release_dir(load_config(), data_dir)


def compare(a: Path, b: Path) -> dict:
    """File names of two release folders and those whose bytes differ."""
    files_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    files_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    differ = [f for f in files_a if f in files_b and (a / f).read_bytes() != (b / f).read_bytes()]
    only = sorted(set(files_a) ^ set(files_b))
    return {"files": len(files_a), "differ": differ, "only_in_one": only,
            "identical": bool(files_a) and files_a == files_b and not differ}


def placements(stderr: str, nodes: list[dict]) -> dict[str, dict[str, int]]:
    """Stage -> {node name: shards it ran}, from the Ray executor's log lines."""
    names = {n["id"]: n["node"] for n in nodes}
    out: dict[str, dict[str, int]] = {}
    for line in stderr.splitlines():
        m = PLACED.search(line)
        if not m:
            continue
        per = {}
        for item in m.group(4).split(", "):
            prefix, _, count = item.partition("=")
            name = next((v for k, v in names.items() if k.startswith(prefix)), f"unknown:{prefix}")
            per[name] = int(count)
        out[m.group(1)] = per
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.2", help="loopback address of every node (default 127.0.0.2; see above)")
    ap.add_argument("--cpus", type=int, default=1, help="CPUs each of the three nodes offers (default 1)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"result file (default {OUT.relative_to(ROOT)})")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data dirs, Ray logs) for a look")
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux"):
        raise SystemExit("make ray-cluster needs Linux: Ray supports several nodes only there, and only Linux "
                         f"routes {args.host} over the loopback interface")
    if not (Path(sys.executable).parent / "ray").exists():
        raise SystemExit("make ray-cluster needs Ray: pip install -e '.[ray]'")

    root = Path(tempfile.mkdtemp(prefix="axray-"))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               ALIGNX_PSEUDONYM_KEY="ray-cluster-check-" + secrets.token_hex(24))
    cluster = Cluster(root, args.host, args.cpus, env)
    result: dict = {"host": args.host, "cpus_per_node": args.cpus, "nodes": [], "identical": False}
    t0 = time.monotonic()
    try:
        print(f"local build in {root / 'local'} ...", flush=True)
        result["local_s"], _ = build(root / "local", env)
        print(f"starting a head and two workers at {cluster.address} ...", flush=True)
        t1 = time.monotonic()
        nodes = cluster.start()
        result["cluster_start_s"] = time.monotonic() - t1
        print(f"Ray build on {len(nodes)} nodes in {root / 'ray'} ...", flush=True)
        result["ray_s"], stderr = build(root / "ray", env, "--engine", "ray", "--ray-address", cluster.address)
        result["nodes"] = [{k: n[k] for k in ("node", "id", "address", "cpus")} for n in nodes]
        per_stage = placements(stderr, nodes)
        result["shards_per_node"] = per_stage
        totals: dict[str, int] = {}
        for per in per_stage.values():
            for name, k in per.items():
                totals[name] = totals.get(name, 0) + k
        result["tasks_per_node"] = totals
        result["nodes_used"] = len([k for k in totals.values() if k])
        result["release"] = compare(release_of(root / "local"), release_of(root / "ray"))
        result["identical"] = result["release"]["identical"]
    finally:
        result["left_running"] = cluster.stop()
        result["total_s"] = time.monotonic() - t0
        for k in ("local_s", "cluster_start_s", "ray_s", "total_s"):
            if k in result:
                result[k] = round(result[k], 1)
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        result["cores"] = os.cpu_count()
        result["ray_version"] = _ray_version()
        result["measured"] = time.strftime("%Y-%m-%d")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    ok = result["identical"] and result.get("nodes_used", 0) >= 2
    print(f"{'OK' if ok else 'FAILED'}: releases identical: {result['identical']}; shards ran on "
          f"{result.get('nodes_used', 0)} of {len(NODES)} nodes {result.get('tasks_per_node', {})}; local "
          f"{result.get('local_s')} s, Ray {result.get('ray_s')} s (cluster start {result.get('cluster_start_s')} s); "
          f"written to {args.out}")
    return 0 if ok else 1


def _ray_version() -> str:
    try:
        import ray

        return ray.__version__
    except ImportError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
