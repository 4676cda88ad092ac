"""Code generators: ``c`` for microcontrollers, ``tvm`` for ARM Linux boards."""
