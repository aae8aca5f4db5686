"""Evaluation metrics: localization (cIoU, AUC) and separation (SDR/SIR/SAR, SI-SDR)."""
