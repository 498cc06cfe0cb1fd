"""The VRE TFX pipeline: definition, Trainer module, local runner, demo."""
