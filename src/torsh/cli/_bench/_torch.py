"""PyTorch candidates: the same models as ``torch.nn`` modules, Adam, eager or ``torch.compile``-d
(the model is compiled, forward and backward through AOTAutograd; the optimizer step stays eager)."""

from __future__ import annotations

from typing import Any

from ._workloads import Runner, Unsupported, Workload

_KEEP: list[Any] = []  # operator libraries must outlive the import


def _torch() -> Any:
    import torch

    return torch


def _mlp() -> Any:
    nn = _torch().nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def _cnn() -> Any:
    nn = _torch().nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def _resnet18(classes: int) -> Any:
    # PyPI's torchvision 0.28 imports only beside a CUDA torch unless its two compiled operator schemas
    # are declared first (tests/vision/_vision_torchvision.py explains); its models are pure Python.
    torch = _torch()
    try:
        torch.ops.torchvision.nms  # noqa: B018 - declared by a matching torchvision build
    except (AttributeError, RuntimeError):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(lib)
    try:
        import torchvision
    except Exception as exc:  # any import failure: no PyTorch ResNet row
        raise Unsupported(f"torchvision: {exc}") from exc
    return torchvision.models.resnet18(num_classes=classes)


def _tlm(c: dict[str, Any]) -> Any:
    torch = _torch()
    nn = torch.nn

    module: Any = nn.Module

    class TransformerLM(module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(c["vocab"], c["d"])
            layer = nn.TransformerEncoderLayer(c["d"], c["heads"], c["ff"], dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, c["layers"], enable_nested_tensor=False)
            self.head = nn.Linear(c["d"], c["vocab"])

        def forward(self, tokens: Any) -> Any:
            t = tokens.shape[1]
            causal = torch.triu(torch.full((t, t), float("-inf")), 1)
            return self.head(self.encoder(self.embed(tokens), mask=causal, is_causal=True))

    return TransformerLM()


def _lstm(c: dict[str, Any]) -> Any:
    nn = _torch().nn

    module: Any = nn.Module

    class LSTMLM(module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(c["vocab"], c["embed"])
            self.rnn = nn.LSTM(c["embed"], c["hidden"], c["layers"])
            self.head = nn.Linear(c["hidden"], c["vocab"])

        def forward(self, tokens: Any) -> Any:  # time-major [T, N]
            out, _ = self.rnn(self.embed(tokens))
            return self.head(out)

    return LSTMLM()


def make(w: Workload, compiled: bool = False) -> Runner:
    torch = _torch()
    torch.manual_seed(0)
    builders = {
        "mlp16": _mlp,
        "mlp128": _mlp,
        "cnn": _cnn,
        "resnet18": lambda: _resnet18(w.config["classes"]),
        "tlm": lambda: _tlm(w.config),
        "lstm": lambda: _lstm(w.config),
    }
    if w.key not in builders:
        raise Unsupported(w.key)
    model = builders[w.key]()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    forward = torch.compile(model) if compiled else model
    xs, ys = w.data
    batches = [(torch.from_numpy(x).long() if x.dtype.kind == "i" else torch.from_numpy(x),
                torch.from_numpy(y).long()) for x, y in zip(xs, ys, strict=True)]  # fmt: skip

    def run(n: int) -> None:
        for i in range(n):
            x, y = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            out = forward(x)
            torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).backward()
            opt.step()

    return run


def make_compiled(w: Workload) -> Runner:
    return make(w, compiled=True)
