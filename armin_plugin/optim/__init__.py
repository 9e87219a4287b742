"""fairseq learning-rate schedulers of the plugin (registered when fairseq imports ``tasks/``)."""
