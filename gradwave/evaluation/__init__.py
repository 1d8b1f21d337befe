"""Objective evaluation of synthesized speech (ASR error rates, STOI, PESQ, mel distances): an
application on top of the models, so it lives outside `gradwave.common`, which the models share."""
