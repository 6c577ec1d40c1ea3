"""The embedding engines and precisions by name, kept free of torch so ``headstart --help`` can list them."""

ENGINES = ("auto", "onnx", "torch", "compile")
PRECISIONS = ("fp32", "bf16")
