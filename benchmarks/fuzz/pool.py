"""Worker processes that judge programs, so that a kernel that segfaults or hangs costs one program, not the run.

Each worker is ``python -m benchmarks.fuzz.pool``: it reads one program per line (JSON) on stdin and answers one
verdict per line on the file descriptor it was given, keeping stdout free for whatever Numba or JAX print.  A
worker that dies mid-program (a signal) gives that program the outcome 'memory error'; one that runs past the
timeout is killed and gives 'timeout'.  Either way a fresh worker takes its place.
"""

import json
import os
import pathlib
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time

READY = "ready"


class Worker:
    """One judging subprocess, restarted after a crash or a timeout."""

    def __init__(self, cache_directory):
        self.cache_directory = cache_directory
        self.process = None

    def start(self):
        reader, writer = os.pipe()
        environment = dict(os.environ, SYMGRAD_CACHE_DIR=str(self.cache_directory), SYMGRAD_QUIET="1",
                           JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(filter(None, [
                               str(pathlib.Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fuzz.pool", str(writer)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(writer,), env=environment, text=True)
        os.close(writer)
        self.answers = os.fdopen(reader, "r")
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.answers, selectors.EVENT_READ)
        if self.read(timeout=300) != READY:
            raise RuntimeError("a fuzz worker did not start")

    def read(self, timeout):
        """The next line, or None on timeout; '' when the worker died."""
        if not self.selector.select(timeout):
            return None
        return self.answers.readline().strip()

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.answers.close()
            self.selector.close()
            self.process = None

    def judge(self, program, timeout):
        """The verdict (a dict) on one program (a dict)."""
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()
        started = time.perf_counter()
        self.process.stdin.write(json.dumps(program) + "\n")
        self.process.stdin.flush()
        line = self.read(timeout)
        if line:
            verdict = json.loads(line)
        elif line is None:
            self.stop()
            verdict = {"outcome": "timeout", "detail": f"no verdict within {timeout} s", "notes": []}
        else:
            code = self.process.wait()
            self.stop()
            verdict = {"outcome": "memory error", "detail": f"the worker died (exit status {code})", "notes": []}
        verdict["seconds"] = time.perf_counter() - started
        return verdict


def judge_all(programs, jobs, timeout, on_verdict, seconds=None):
    """Judge `programs` on `jobs` workers; call on_verdict(program, verdict) as each arrives (under a lock).

    After `seconds`, or on Ctrl-C, no new program is started: the ones running finish, and the caller reports
    on what was judged."""
    cache_directory = pathlib.Path(tempfile.mkdtemp(prefix="symgrad_fuzz_cache_"))
    pending = iter(programs)
    lock = threading.Lock()
    stop = threading.Event()
    deadline = None if seconds is None else time.monotonic() + seconds

    def serve():
        worker = Worker(cache_directory)
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                with lock:
                    program = next(pending, None)
                if program is None:
                    return
                verdict = worker.judge(program, timeout)
                with lock:
                    on_verdict(program, verdict)
        finally:
            worker.stop()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # short waits, so that Ctrl-C reaches this thread
    except KeyboardInterrupt:
        print("interrupted: finishing the programs under way", file=sys.stderr, flush=True)
        stop.set()
        for thread in threads:
            thread.join()
    shutil.rmtree(cache_directory, ignore_errors=True)


def serve_forever(answer_descriptor):
    """The worker's loop: import everything once, then judge programs read from stdin."""
    from benchmarks.fuzz import oracle

    import jax

    jax.config.update("jax_enable_x64", True)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="symgrad_fuzz_modules_"))
    sys.path.insert(0, str(directory))
    answers = os.fdopen(answer_descriptor, "w")
    answers.write(READY + "\n")
    answers.flush()
    for line in sys.stdin:
        try:
            verdict = oracle.check(json.loads(line), directory).as_json()
        except Exception as error:  # noqa: BLE001 - a fault of the fuzzer itself, not of symgrad
            verdict = {"outcome": "inconclusive", "detail": f"the fuzzer failed: {oracle.describe(error)}", "notes": []}
        answers.write(json.dumps(verdict) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve_forever(int(sys.argv[1]))
