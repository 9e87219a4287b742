"""What the plugin adds to fairseq's training loop: a clean stop on SIGINT/SIGTERM
(:mod:`.interrupt`) and a guard against non-finite losses (:mod:`.nonfinite`)."""
