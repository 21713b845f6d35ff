"""Payload layouts shared by the unit's components."""

from amaranth import unsigned
from amaranth.lib import data

from .param_store import class_bits

__all__ = ["word_layout", "descriptor_layout"]


def word_layout(width: int) -> data.StructLayout:
    """Payload of the unit's word streams: ``data`` (W bits), ``first``, ``last``."""
    return data.StructLayout({"data": unsigned(width), "first": 1, "last": 1})


def descriptor_layout(classes: int, width: int) -> data.StructLayout:
    """What the output side needs of a complete vector before its first word goes out:
    ``index`` (the argmax i) and ``max`` (p_i); and ``fresh``: the descriptor is offered in
    the cycle it was produced, not from the queue's slot (set by
    :class:`~dynamarks.rtl.descriptor.DescriptorQueue`; what the framer puts there is
    ignored). (Whether it is well formed follows a cycle later:
    :class:`~dynamarks.rtl.framer.InputFramer`'s ``wf``.)"""
    return data.StructLayout({"index": unsigned(class_bits(classes)), "max": unsigned(width),
                              "fresh": 1})
