"""edgec: ONNX models to microcontrollers and ARM Linux boards, validated on the device."""

__version__ = "0.1.0"
