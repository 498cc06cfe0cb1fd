"""A decoder that really crashes (SIGSEGV) or hangs on some paths, to test the isolation."""

import faulthandler
import os
import signal
import time

from beam_jobs.video_decoding import decode_video


def decode_or_misbehave(path, num_frames, max_audio_s=None):
    """Segfaults the process on '*crash*' paths, hangs on '*hang*' ones, else decodes."""
    if "crash" in path:
        faulthandler.disable()  # the crash is intended: no traceback dump in the test log
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in path:
        time.sleep(600)
    return decode_video(path, num_frames=num_frames, max_audio_s=max_audio_s)
