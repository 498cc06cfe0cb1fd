"""The Watch-It-Twice captioner in Keras 3: layers, the VRE model, decoding, training, export."""
