"""The network on Loihi: deployment, emulation and what it costs.

``loihi`` puts the converted network on the chip (nengo-loihi); ``chipfit``
checks that its blocks fit the cores; ``emulator`` and ``batched`` are
bit-exact fast emulators; ``evaluate`` runs the chip over the whole test set;
``energy`` prices the run; ``seed_network`` builds the converted network
without TensorFlow; ``build_digest`` digests the built chip and its spikes to
compare environments (NumPy 1 and 2).
"""
