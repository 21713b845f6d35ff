"""DynaMarks in hardware: a watermark unit between a model's softmax and its prediction API.

Subpackages: ``dynamarks.host`` (reference model, driver, TPM, CLI), ``dynamarks.rtl``
(Amaranth gateware), ``dynamarks.sim`` (cocotb benches), ``dynamarks.models`` (PyTorch side).
"""

__version__ = "0.1.0"
