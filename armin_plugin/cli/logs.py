"""Console logging of the plugin's command-line programs, in fairseq's format."""
import logging
import sys


def setup_cli_logging():
    """Log lines like fairseq's, on stdout (errors alone go to stderr)."""
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        level=logging.INFO,
        stream=sys.stdout,
    )
