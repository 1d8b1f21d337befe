"""Optional IPA G2P through `phonemizer` + espeak-ng, imported only when asked for."""
from __future__ import annotations

from .symbols import PAD, PUNCTUATION, SPECIAL

IPA_LETTERS = ("ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃ"
               "ˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘̩ᵻ")
IPA_SYMBOLS = (PAD,) + tuple(SPECIAL) + tuple(PUNCTUATION) + tuple("abcdefghijklmnopqrstuvwxyz") + tuple(IPA_LETTERS)

INSTALL_HINT = ("IPA phonemes need the optional `phonemizer` package and the espeak-ng engine: "
                "`pip install phonemizer` and `apt-get install espeak-ng` (or your system's equivalent)")


class IPAPhonemizer:
    """Text -> IPA string with stress marks and punctuation kept."""

    def __init__(self, language: str = "en-us"):
        try:
            from phonemizer.backend import EspeakBackend
        except ImportError as err:
            raise RuntimeError(INSTALL_HINT) from err
        try:
            self._backend = EspeakBackend(language, preserve_punctuation=True, with_stress=True)
        except RuntimeError as err:
            raise RuntimeError(f"{INSTALL_HINT} ({err})") from err

    def __call__(self, text: str) -> str:
        return self._backend.phonemize([text], strip=True)[0]
