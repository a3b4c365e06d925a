"""evalkit.harness: the training harness (SFT / DPO with TRL, PEFT and bitsandbytes).

Installed as ``evalkit.harness``; the training entry points arrive with their own issue.
"""
