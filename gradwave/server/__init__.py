"""The speech server (serve.py): HTTP endpoints over the synthesizer (gradwave.synthesizer)."""
