"""The speech server (serve.py): HTTP endpoints over synthesize.py's Synthesizer."""
