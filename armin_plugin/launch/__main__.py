"""``python -m armin_plugin.launch``: the same as ``armin-launch``."""
from .launcher import main

main()
