"""``armin-launch``: fairseq-train on N CPU processes of one machine (or of several).

    armin-launch --nprocs 2 -- fairseq-train data-bin/ptb_char --user-dir armin_plugin ...
    python -m armin_plugin.launch --nprocs 2 -- fairseq-train ...

fairseq's own distributed start-up does not work on CPUs (it divides by the number of CUDA
devices, and its default DDP backend passes CUDA device ids). This launcher starts one
process per rank of this environment's fairseq-train, each with the flags that do work:
``--cpu --distributed-backend gloo --distributed-world-size N --distributed-rank R
--distributed-init-method tcp://127.0.0.1:PORT --distributed-no-spawn --ddp-backend
legacy_ddp --load-checkpoint-on-all-dp-ranks`` (resuming: fairseq's broadcast of the
checkpoint from rank 0 fails under torch >= 2.6), and ``OMP_NUM_THREADS`` / torch threads
so that ranks x threads <= cores.
fairseq's ``--batch-size`` stays per rank: the global batch is N times larger.

While the ranks run, SIGINT, SIGTERM and SIGHUP sent to the launcher are forwarded to every
rank; the launcher exits 0 when every rank then exits 0 (the ranks agree on an update,
stop after it and save, see ``armin_plugin/training/interrupt.py``), otherwise like a failure. When a rank fails, the others are stopped (SIGTERM, then SIGKILL after ``--grace``
seconds) and the launcher exits with the failing rank's exit code (128 + signal number when
it was killed by a signal) after one line naming the rank. Rank 0's output passes through
unchanged; the output of the other ranks (fairseq logs only their warnings and errors) goes
to stderr, each line prefixed with ``[rank R]``.

Several machines: run the launcher on each with the same ``--nnodes``, ``--master-addr`` (an
address of machine 0) and ``--port``, and ``--node-rank`` 0, 1, ...; global ranks are
node-rank x nprocs + local rank. When a rank fails, the ranks of the other machines fail on
their next collective call and their launchers stop in turn.

On GPUs, fairseq-train itself starts one process per visible device; across GPU machines
use torchrun or Slurm as fairseq supports (see docs/distributed.md).
"""
import argparse
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import List, NamedTuple, Optional

from ..cli.logs import setup_cli_logging
from ..cli.memory_pages import huge_page_environment
from ..cli.threads import cpu_cores, thread_environment, threads_per_process
from ..errors import ArminError

logger = logging.getLogger("armin_plugin.launch")

TOOL = "fairseq-train"
USAGE = "armin-launch --nprocs N [options] -- fairseq-train ARGS..."
# Flags whose value the launcher decides for every rank.
LAUNCHER_FLAGS = (
    "--distributed-world-size", "--distributed-rank", "--distributed-init-method",
    "--distributed-port", "--distributed-num-procs", "--distributed-no-spawn", "--device-id",
    "--local-rank", "--local_rank",
)
# Values that work on CPU, for flags a user may also give.
CPU_VALUES = {"--ddp-backend": ("legacy_ddp", "no_c10d"), "--distributed-backend": ("gloo",)}
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


class Options(NamedTuple):
    nprocs: int  # ranks on this machine
    first_rank: int  # global rank of this machine's first rank
    world_size: int  # ranks on all machines
    master: str  # host:port of the rendezvous (global rank 0's machine)
    threads: int
    grace: float
    check_replicas: bool
    fairseq_args: List[str]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="armin-launch", usage=USAGE, description=__doc__.split("\n\n")[0],
        epilog="Everything after -- is the fairseq-train command line of every rank.",
    )
    parser.add_argument("--nprocs", type=int, required=True, help="CPU processes (ranks) to start")
    parser.add_argument("--threads", type=int,
                        help="torch/OpenMP threads per rank (default: idle cores // nprocs, at least 1, at "
                        "most $OMP_NUM_THREADS when that is set)")
    parser.add_argument("--nnodes", type=int, default=1, help="machines, each running this launcher")
    parser.add_argument("--node-rank", type=int, default=0, help="this machine's index, 0 .. nnodes - 1")
    parser.add_argument("--master-addr", default="127.0.0.1",
                        help="address of machine 0, reachable from every machine (default: 127.0.0.1)")
    parser.add_argument("--port", type=int,
                        help="rendezvous port on machine 0 (default: a free one; required with --nnodes > 1)")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds the other ranks get to exit after a rank failed (then SIGKILL)")
    parser.add_argument("--oversubscribe", action="store_true",
                        help="allow more ranks x threads than cores (slow: they compete)")
    parser.add_argument("--check-replicas", action="store_true",
                        help="at every checkpoint, compare a digest of every rank's parameters "
                        "and stop if they differ")

    def refuse(message):
        raise ArminError(f"armin-launch: {message} (usage: {USAGE})")

    parser.error = refuse
    return parser


def flag_value(args: List[str], flag: str) -> Optional[str]:
    """The value given to ``flag`` in ``args`` (``--flag V`` or ``--flag=V``), the last one."""
    value = None
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def check_command(command: List[str]) -> List[str]:
    """The fairseq-train arguments of ``command`` (the words after ``--``), or ArminError."""
    if not command:
        raise ArminError(f"armin-launch: no command after -- (usage: {USAGE})")
    tool = Path(command[0])
    if tool.name != TOOL:
        raise ArminError(f"armin-launch runs {TOOL}, got '{' '.join(command[:3])}' (usage: {USAGE})")
    here = Path(sys.executable).absolute().parent
    if len(tool.parts) > 1 and tool.absolute().parent != here:
        raise ArminError(
            f"armin-launch runs the {TOOL} of its own environment ({here / TOOL}), got {tool}; "
            "use the armin-launch of that environment"
        )
    args = command[1:]
    for flag in LAUNCHER_FLAGS:
        if any(arg == flag or arg.startswith(flag + "=") for arg in args):
            raise ArminError(f"remove {flag} from the {TOOL} command: armin-launch sets it for every rank")
    for flag, allowed in CPU_VALUES.items():
        value = flag_value(args, flag)
        if value is not None and value not in allowed:
            raise ArminError(f"{flag} {value} does not work on CPU ranks; armin-launch uses {flag} {allowed[0]}")
    return args


def parse_args(argv: List[str]) -> Options:
    if "--" not in argv:
        raise ArminError(f"armin-launch: give the command after -- (usage: {USAGE})")
    split = argv.index("--")
    options = _parser().parse_args(argv[:split])
    if options.nprocs < 1:
        raise ArminError(f"armin-launch: --nprocs must be at least 1, got {options.nprocs}")
    if options.threads is not None and options.threads < 1:
        raise ArminError(f"armin-launch: --threads must be at least 1, got {options.threads}")
    if options.grace < 0:
        raise ArminError(f"armin-launch: --grace must be >= 0 seconds, got {options.grace}")
    fairseq_args = check_command(argv[split + 1:])
    cores = cpu_cores()
    threads = threads_per_process(options.nprocs) if options.threads is None else options.threads
    if options.nprocs * threads > cores and not options.oversubscribe:
        raise ArminError(
            f"armin-launch: {options.nprocs} ranks x {threads} threads is more than the {cores} "
            "CPU cores here; ranks would slow each other down many times (add --oversubscribe "
            "to run anyway)"
        )
    if options.nnodes < 1 or not 0 <= options.node_rank < options.nnodes:
        raise ArminError(
            f"armin-launch: --node-rank must be in 0 .. --nnodes - 1 with --nnodes >= 1, got "
            f"--nnodes {options.nnodes} --node-rank {options.node_rank}"
        )
    if options.nnodes > 1 and options.port is None:
        raise ArminError("armin-launch: --nnodes > 1 needs --port, the same on every machine")
    port = options.port if options.port is not None else free_port()
    return Options(
        options.nprocs, options.node_rank * options.nprocs, options.nnodes * options.nprocs,
        f"{options.master_addr}:{port}", threads, options.grace, options.check_replicas, fairseq_args,
    )


def rank_command(options: Options, rank: int) -> List[str]:
    """The command line of global rank ``rank``: fairseq-train through
    :mod:`armin_plugin.launch.rank`."""
    command = [sys.executable, "-m", "armin_plugin.launch.rank"]
    if options.check_replicas:
        command.append("--check-replicas")
    command += ["--", *options.fairseq_args]
    if "--cpu" not in options.fairseq_args:
        command.append("--cpu")
    if options.world_size > 1:
        command += [
            "--distributed-backend", "gloo", "--distributed-world-size", str(options.world_size),
            "--distributed-rank", str(rank), "--distributed-init-method",
            f"tcp://{options.master}", "--distributed-no-spawn",
            "--ddp-backend", flag_value(options.fairseq_args, "--ddp-backend") or "legacy_ddp",
        ]
        if "--load-checkpoint-on-all-dp-ranks" not in options.fairseq_args:
            # every rank reads the checkpoint itself (several machines: --save-dir on a shared
            # file system): fairseq's broadcast of it from rank 0 unpickles with torch's
            # weights_only default and fails on its config
            command.append("--load-checkpoint-on-all-dp-ranks")
    return command


def _rank_environment(options: Options, rank: int) -> dict:
    env = dict(os.environ, **thread_environment(options.threads, wait_policy=None), **huge_page_environment())
    if rank > 0:
        env.setdefault("PYTHONWARNINGS", "ignore")  # start-up warnings once, from rank 0
    return env


def _exit_with_parent():
    """In a rank, just before exec: own process group (a terminal's Ctrl-C reaches the
    launcher alone, which forwards it once) and SIGTERM when the launcher dies (Linux)."""
    os.setpgid(0, 0)
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _prefix_lines(stream, prefix: str):
    for line in stream:
        sys.stderr.write(prefix + line)
        sys.stderr.flush()


class Ranks:
    """The running rank processes of this machine, indexed by local rank."""

    def __init__(self, options: Options):
        self.processes: List[subprocess.Popen] = []
        self.readers: List[threading.Thread] = []
        for rank in range(options.first_rank, options.first_rank + options.nprocs):
            quiet = rank > 0
            process = subprocess.Popen(
                rank_command(options, rank), env=_rank_environment(options, rank),
                stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
                text=True, bufsize=1, preexec_fn=_exit_with_parent,
            )
            self.processes.append(process)
            if quiet:
                self.readers.append(threading.Thread(
                    target=_prefix_lines, args=(process.stdout, f"[rank {rank}] "), daemon=True
                ))
        for reader in self.readers:  # after the forks: preexec_fn runs in a single-threaded parent
            reader.start()

    def running(self) -> List[int]:
        return [rank for rank, process in enumerate(self.processes) if process.returncode is None]

    def signal(self, signum: int, ranks: List[int]):
        for rank in ranks:
            try:
                self.processes[rank].send_signal(signum)
            except ProcessLookupError:
                pass

    def wait_next(self) -> int:
        """Block until some rank exits; reap it and return its rank."""
        pids = {process.pid: rank for rank, process in enumerate(self.processes)}
        while True:
            exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            rank = pids.get(exited.si_pid)
            if rank is not None:
                self.processes[rank].wait()
                return rank

    def stop(self, ranks: List[int], grace: float):
        """SIGTERM ``ranks``, then SIGKILL those still running after ``grace`` seconds."""
        self.signal(signal.SIGTERM, ranks)
        for rank in ranks:
            process = self.processes[rank]
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self):
        for reader in self.readers:
            reader.join(timeout=5)


def describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"failed with exit code {code}" if code else "exited with code 0"


def shell_code(code: int) -> int:
    """A Popen return code as a process exit status (killed by signal S: 128 + S)."""
    return 128 - code if code < 0 else code


def launch(options: Options) -> int:
    """Run the ranks to the end; return the launcher's exit status."""
    ranks = Ranks(options)
    interrupted = []

    def forward(signum, _frame):
        interrupted.append(signum)
        running = ranks.running()
        logger.info("got %s: forwarding it to ranks %s", signal.Signals(signum).name,
                    [options.first_rank + rank for rank in running])
        ranks.signal(signum, running)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED_SIGNALS}
    first = options.first_rank
    pids = ", ".join(f"rank {first + rank} pid {process.pid}" for rank, process in enumerate(ranks.processes))
    logger.info("%d CPU rank(s) x %d thread(s) (world size %d), rendezvous tcp://%s: %s",
                options.nprocs, options.threads, options.world_size, options.master, pids)
    failed = None
    try:
        while ranks.running():
            rank = ranks.wait_next()
            code = ranks.processes[rank].returncode
            if code != 0 and failed is None:
                failed = rank
                if not interrupted:
                    ranks.stop(ranks.running(), options.grace)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        ranks.close()
    world = options.world_size
    if interrupted:
        name = signal.Signals(interrupted[0]).name
        exits = ", ".join(f"rank {first + rank} {describe_exit(process.returncode)}"
                          for rank, process in enumerate(ranks.processes))
        if failed is None:  # every rank stopped cleanly (saved after the same update, exit 0)
            logger.info("interrupted by %s (forwarded to every rank): %s", name, exits)
            return 0
        print(f"error: interrupted by {name} (forwarded to every rank): {exits}", file=sys.stderr)
        return shell_code(ranks.processes[failed].returncode)
    if failed is not None:
        process = ranks.processes[failed]
        stopped = "; stopped the other ranks" if options.nprocs > 1 else ""
        print(f"error: rank {first + failed} of {world} (pid {process.pid}) {describe_exit(process.returncode)}"
              f"{stopped}", file=sys.stderr)
        return shell_code(process.returncode)
    return 0


def main(argv=None):
    setup_cli_logging()
    try:
        options = parse_args(sys.argv[1:] if argv is None else list(argv))
    except ArminError as error:
        sys.exit(f"error: {error}")
    sys.exit(launch(options))

