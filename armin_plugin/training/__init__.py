"""What the plugin adds to fairseq's training loop: a clean stop on SIGINT/SIGTERM
(:mod:`.interrupt`), a guard against non-finite losses (:mod:`.nonfinite`, whose task mixin
also arms the other two), refusing a missing ``--restore-file`` (:mod:`.restore_file`) and
ending fairseq's data-prefetch thread at exit (:mod:`.data_threads`, registered by the
package's ``__init__``)."""
