"""The console scripts: one `gradwave-<verb>` family (setup.py installs them from here)."""

COMMANDS = {  # console script -> the module whose main() it runs
    "gradwave-text": "text.__main__",
    "gradwave-synthesize": "synthesize",
    "gradwave-serve": "serve",
    "gradwave-evaluate": "evaluation.evaluate",
    "gradwave-digits": "evaluation.digits",
    "gradwave-train-grad-tts": "grad_tts.train",
    "gradwave-teacher-force": "grad_tts.teacher_force",
    "gradwave-train-diffwave": "diffwave.train",
    "gradwave-vocode": "diffwave.inference",
    "gradwave-export": "voice.export",
    "gradwave-wyoming": "server.wyoming_cli",
}
