"""dynamarks.host: parameters, fixed point, bit-exact reference, driver, TPM sealing, CLI."""
