"""Text frontend: cleaners, G2P and the symbol table of the published Grad-TTS models."""
from .frontend import Encoded, TextConfig, TextProcessor, intersperse
from .symbols import BLANK_ID, SYMBOLS

__all__ = ["BLANK_ID", "SYMBOLS", "Encoded", "TextConfig", "TextProcessor", "intersperse"]
