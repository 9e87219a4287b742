"""fairseq tasks of the plugin (imported by fairseq itself through ``--user-dir``)."""
