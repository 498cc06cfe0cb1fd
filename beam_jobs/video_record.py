"""The unit of work of the feature job: one video with its id, location, split and captions."""

import dataclasses

from vre_common import contract


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    """One video to extract, as every dataset adapter yields it.

    Attributes:
      video_id: stable dataset id (`video7010`, `-4wsuPCjDBc_5_15`).
      path: local path or any URI Beam's filesystems read (gs://, s3://, hdfs://...).
      split: one of vre_common.contract.SPLITS.
      captions: the reference captions (raw text), possibly empty for unlabelled videos.
    """

    video_id: str
    path: str
    split: str
    captions: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.video_id, str) or not self.video_id.strip():
            raise ValueError(f"video id must be a non-empty string, got {self.video_id!r}")
        if not isinstance(self.path, str) or not self.path.strip():
            raise ValueError(f"video {self.video_id!r}: path must be a non-empty string")
        if self.split not in contract.SPLITS:
            raise ValueError(
                f"video {self.video_id!r}: split {self.split!r} is not one of {contract.SPLITS}"
            )
        object.__setattr__(self, "captions", tuple(str(c) for c in self.captions))

    def to_dict(self):
        return {
            "id": self.video_id,
            "path": self.path,
            "split": self.split,
            "captions": list(self.captions),
        }


def check_unique(records, source):
    """Raises ValueError naming `source` when two records share a video id."""
    seen = {}
    for record in records:
        if record.video_id in seen:
            raise ValueError(
                f"{source}: video id {record.video_id!r} appears twice "
                f"({seen[record.video_id]} and {record.path})"
            )
        seen[record.video_id] = record.path
    return records
