"""Plumbing of the plugin's command-line programs (no fairseq import): running fairseq's
CLIs as child processes with their logs streamed (:mod:`.process`) and console logging in
fairseq's format (:mod:`.logs`). Used by the data builders, the jobs and the launcher."""
