"""A TF Serving-protocol model server (gRPC + REST), its caption client and warmup records.

The server serves any SavedModel by its signatures (it never imports the model code), so the
same pushed directory works with it and with the official `tensorflow/serving` image.
"""
