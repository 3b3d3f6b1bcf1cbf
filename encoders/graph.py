"""A few lines over `onnx.helper` for the encoders whose networks are written as ONNX graphs by hand (USE, E5):
constants and nodes with generated names, and the model in the form both runtimes' onnxruntime read. Needs the
`onnx` package (hub runtime, `make encoder`); the graphs it writes are run with onnxruntime alone."""

from __future__ import annotations

from itertools import count
from typing import Any

import numpy as np

OPSET = 17


class GraphBuilder:
    """Collects the nodes and initialisers of one graph: `const` and `op` return the names of their outputs."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names = count()

    def const(self, value: Any) -> str:
        """A constant: float arrays as float32, the rest (shapes, indices) as int64."""
        from onnx import numpy_helper

        name = f"c{next(self._names)}"
        array = np.asarray(value)
        array = array.astype(np.float32) if array.dtype.kind == "f" else array.astype(np.int64)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, kind: str, inputs: list[str], *, output: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = output or f"t{next(self._names)}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    @staticmethod
    def tensor(name: str, shape: list[Any], *, integer: bool = False) -> Any:
        """A graph input or output: float32 (or int64) with `shape` (names for the dimensions that vary)."""
        from onnx import TensorProto, helper

        return helper.make_tensor_value_info(name, TensorProto.INT64 if integer else TensorProto.FLOAT, shape)

    def model(self, name: str, inputs: list[Any], outputs: list[Any]) -> Any:
        from onnx import helper

        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="supportbot-encoders")
        model.ir_version = 8  # readable by the Rasa runtime's onnxruntime too
        return model
