"""Self-contained HTML reports with inline SVG charts (no scripts, no network): the compile
report (``OUT/report.html``), the validation report and the tuning report. Everything that
comes from a model or its data is escaped: ONNX names are untrusted input."""
