"""Integer reference kernels (numpy, ONNX layout) with TensorFlow Lite Micro semantics.

Each op has a ``*_params`` function that derives its integer parameters from float scales
and zero points exactly as TFLM's Prepare does (these are what the C backend emits), and a
kernel that takes int8/int16 arrays plus those parameters. ``rounding='float'`` selects the
float32 rescale with round-half-to-even of onnxruntime's QLinear kernels and LiteRT/XNNPACK.

Modules: ``linear`` (Conv, depthwise, FullyConnected), ``elementwise`` (Add, Mul,
requantize, Concat, Pad, Quantize/Dequantize, Reshape, Transpose), ``pooling`` (AveragePool,
MaxPool, Mean), ``activations`` (Logistic, Tanh, HardSwish, LeakyRelu, Relu, clamps),
``softmax``; ``common`` holds the activation range and the ``Requant`` step.
"""
