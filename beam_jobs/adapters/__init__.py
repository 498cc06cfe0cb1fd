"""Dataset adapters: annotation files in their real formats -> `VideoRecord`s.

Annotation and video paths may be local or any URI Beam's filesystems read.
"""
