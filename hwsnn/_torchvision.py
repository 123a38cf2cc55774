"""`import_torchvision()`: torchvision's model definitions, also where its C++ ops cannot load.

PyPI's torchvision 0.28.0 wheel is a CUDA build: beside the CPU build of torch 2.13.0 its `_C`
extension fails to load (`libc10_cuda.so`), and `import torchvision` then stops with
"operator torchvision::nms does not exist" while registering fake kernels. The model
definitions (`torchvision.models`) are pure Python, so when the extension is missing we declare
the two op schemas it registers fakes for; calling those ops still fails, loudly.
"""

__all__ = ["import_torchvision"]

_DECLARED = []


def import_torchvision():
    try:
        import torchvision
        return torchvision
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
    import sys

    import torch
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # drop the half-imported package
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
    _DECLARED.append(lib)  # keep the library alive
    import torchvision
    return torchvision
