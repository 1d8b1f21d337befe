"""The console scripts: one `gradwave-<verb>` family (setup.py installs them from here)."""

COMMANDS = {  # console script -> the module whose main() it runs
    "gradwave-text": "text.__main__",
    "gradwave-synthesize": "synthesize",
    "gradwave-serve": "serve",
    "gradwave-evaluate": "gradwave.evaluation.evaluate",
    "gradwave-digits": "gradwave.evaluation.digits",
    "gradwave-train-grad-tts": "grad_tts.train",
    "gradwave-teacher-force": "grad_tts.teacher_force",
    "gradwave-train-diffwave": "diffwave.train",
    "gradwave-vocode": "diffwave.inference",
    "gradwave-export": "gradwave.voice.export",
    "gradwave-wyoming": "gradwave.server.wyoming_cli",
}
