"""Running fairseq's command-line tools of this environment, with their output streamed."""
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

from ..errors import ArminError

# What is echoed live: fairseq's log records (not its dump of the whole config). Python
# warnings and other start-up chatter go only to the log file.
_LOG_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d [\d:,]+ \| [A-Z]+ \||(INFO|WARNING|ERROR|CRITICAL):)")
_CONFIG_DUMP = "{'_name': None, 'common':"
_TAIL_ON_FAILURE = 20

# The --user-dir of every fairseq command the jobs run.
PLUGIN = str(Path(__file__).resolve().parents[1])


class Finished(NamedTuple):
    returncode: int
    lines: List[str]


def argv(parts) -> List[str]:
    """``parts`` (strings, paths, numbers) as command-line arguments."""
    return [str(part) for part in parts]


def fairseq_command(tool: str) -> List[str]:
    """argv prefix that runs ``fairseq-<tool>`` (e.g. "train") of the running interpreter."""
    script = Path(sys.executable).with_name(f"fairseq-{tool}")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", f"fairseq_cli.{tool.replace('-', '_')}"]


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_streamed(command: List[str], log_path: Optional[Path] = None, prefix: str = "",
                 env: Optional[Dict[str, str]] = None,
                 started: Optional[Callable[[subprocess.Popen], None]] = None) -> Finished:
    """Run ``command``; echo its log records live, append all its output (stdout and
    stderr) to ``log_path``, and return the exit code and the lines. On failure the last
    lines of output are echoed too. ``env``: variables added to this process's environment
    for the child; ``started``: called with the child once it runs (a caller running several
    children from threads interrupts them through it).

    Interrupting this process (Ctrl-C, or SIGTERM) sends the child one SIGINT and waits for
    it: fairseq-train with the plugin then finishes its update and saves
    ``checkpoint_last.pt``. KeyboardInterrupt is raised once the child has exited. The child
    runs in its own session, so a terminal's Ctrl-C reaches it only through this process.
    """
    lines = []
    log = open(log_path, "a", encoding="utf-8") if log_path else None

    def stream(process):
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if log:
                log.write(line)
            if _LOG_RECORD.match(line) and _CONFIG_DUMP not in line:
                sys.stdout.write(prefix + line)
                sys.stdout.flush()

    main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt) if main_thread else None
    try:
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True, env=dict(os.environ, **env) if env else None,
        ) as process:
            if started:
                started(process)
            try:
                stream(process)
            except KeyboardInterrupt:
                process.send_signal(signal.SIGINT)
                stream(process)
                process.wait()
                raise
    finally:
        if log:
            log.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)
    if process.returncode != 0:
        sys.stdout.write("".join(f"{prefix}{line}\n" for line in lines[-_TAIL_ON_FAILURE:]))
    return Finished(process.returncode, lines)
