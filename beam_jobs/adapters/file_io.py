"""Reading annotation files from local disk or any filesystem Beam supports (gs://, s3://...)."""

import io
import zipfile


def read_bytes(path):
    """The bytes of `path`; a clear FileNotFoundError naming it when it cannot be read."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(str(path), compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()
    except Exception as e:  # Beam wraps every filesystem's error in its own types
        raise FileNotFoundError(f"cannot read annotation file {path}: {e}") from e


def read_text(path):
    """The text of `path` (UTF-8, a BOM tolerated)."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"annotation file {path} is not UTF-8 text: {e}") from e


def read_zip_members(path, suffix):
    """{member name: bytes} of the members of the zip at `path` whose names end with `suffix`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(read_bytes(path)))
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path} is not a zip archive: {e}") from e
    with archive:
        return {
            name: archive.read(name)
            for name in archive.namelist()
            if name.endswith(suffix) and not name.startswith("__MACOSX/")
        }


def join(base, name):
    """`base`/`name` for local folders and URIs alike."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(str(base), name)
