"""Pictures and tables of what an ARMIN layer read and wrote, drawn from its
:class:`~armin_plugin.modules.addressing_trace.AddressingTrace`: torch and matplotlib, no
fairseq (used by ``armin-inspect`` and by the TensorBoard images of validation)."""
