"""A figure spread over two ranks (torchrun, gloo on the CPU) gives the single process's metrics."""
import json
import shutil
import subprocess
import sys

import pytest
import torch.distributed as dist

from aetasc.training.distributed import Launch, process_group
from conftest import REPO, run_stage


def test_plain_launch_is_rank_zero_of_one_without_a_process_group():
    launch = Launch.from_env({})
    assert launch == Launch(0, 1, 0) and not launch.distributed
    with process_group(launch) as group:
        assert group.device is None and group.barrier is None
        assert not dist.is_initialized()


def test_launch_reads_torchrun_environment():
    launch = Launch.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert launch == Launch(3, 4, 1) and launch.distributed
    with pytest.raises(ValueError, match="RANK=4"):
        Launch.from_env({"RANK": "4", "WORLD_SIZE": "4"})


def torchrun(cwd, nproc: int, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
                           "--standalone", str(REPO / "stages" / "train_figure.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"torchrun train_figure.py {' '.join(args)} failed ({proc.returncode}):\n"
                    f"{proc.stderr[-4000:]}")
    return proc.stdout


@pytest.mark.slow
def test_two_ranks_give_the_single_process_metrics(tiny_pipeline, tmp_path, monkeypatch):
    # The CPU and one intra-op thread in every process: float reductions then run in the
    # same order whichever process trains a run, so the numbers must agree exactly.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    run_stage(tiny_pipeline, "train_figure.py", "--figure", "baselines",
              "--runs", str(tmp_path / "runs1"), "--metrics", str(m1))
    m2.mkdir()
    shutil.copy(m1 / "baselines.json", m2 / "baselines.json")    # fig3b's gains are over it

    run_stage(tiny_pipeline, "train_figure.py", "--figure", "fig3b",
              "--runs", str(tmp_path / "runs1"), "--metrics", str(m1))
    out = torchrun(tiny_pipeline, 2, "--figure", "fig3b", "--runs", str(tmp_path / "runs2"),
                   "--metrics", str(m2))

    single, spread = (json.loads((m / "fig3b.json").read_text()) for m in (m1, m2))
    assert spread == single
    assert (m2 / "fig3b.csv").read_text() == (m1 / "fig3b.csv").read_text()
    assert len(list((tmp_path / "runs2").glob("*/result.json"))) == 4    # 2 points x 2 seeds
    assert out.count("fig3b T=") == 2                                    # rank 0 alone reports


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_share_one_store_and_train_every_run_once(tiny_pipeline, tmp_path, monkeypatch):
    # Two "nodes" on one machine, as `torchrun --nnodes 2` on a cluster starts them (one
    # launcher per node, the run store on a filesystem both see): every run of the figure is
    # trained by exactly one rank, and the metrics are the single process's.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    run_stage(tiny_pipeline, "train_figure.py", "--figure", "baselines",
              "--runs", str(tmp_path / "runs1"), "--metrics", str(m1))
    m2.mkdir()
    shutil.copy(m1 / "baselines.json", m2 / "baselines.json")
    run_stage(tiny_pipeline, "train_figure.py", "--figure", "fig3b",
              "--runs", str(tmp_path / "runs1"), "--metrics", str(m1))
    port = _free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={node}",
                               "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}",
                               str(REPO / "stages" / "train_figure.py"), "--figure", "fig3b",
                               "--runs", str(tmp_path / "runs2"), "--metrics", str(m2)],
                              cwd=tiny_pipeline, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for node in (0, 1)]
    outputs = [n.communicate(timeout=600) for n in nodes]
    for node, (proc, (_, err)) in enumerate(zip(nodes, outputs)):
        assert proc.returncode == 0, f"node {node}:\n{err[-4000:]}"
    single, spread = (json.loads((m / "fig3b.json").read_text()) for m in (m1, m2))
    assert spread == single
    results = sorted((tmp_path / "runs2").glob("*/result.json"))
    assert len(results) == 4                                            # 2 points x 2 seeds
    # no claim left behind, no result set aside: no run was taken by both nodes
    assert not list((tmp_path / "runs2").glob("*/*.bad"))
    assert not list((tmp_path / "runs2").glob("*/claim.json"))
    assert sum(o.count("fig3b T=") for o, _ in outputs) == 2            # rank 0 alone reports
