"""The driver's view of the lake and checkpoint stores through Hadoop's FileSystem API (s3a://, file://, ...).

Going through Spark's own Hadoop configuration means the same endpoint, credentials and connection pool as
the executors' writes, with no second S3 client to configure.
"""

from __future__ import annotations

from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession


@dataclass(frozen=True)
class FileInfo:
    uri: str
    size: int


class HadoopFs:
    """A few FileSystem operations on URIs, resolved per URI scheme/bucket like Spark does."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm = spark._jvm
        self._conf = spark._jsc.hadoopConfiguration()

    def _path(self, uri: str):
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, uri: str):
        return self._path(uri).getFileSystem(self._conf)

    def list_files(self, uri: str, recursive: bool = True) -> list[FileInfo]:
        """Every file under ``uri`` (empty when it does not exist), sorted by URI."""
        try:
            iterator = self._fs(uri).listFiles(self._path(uri), recursive)
            found = []
            while iterator.hasNext():
                status = iterator.next()
                found.append(FileInfo(status.getPath().toString(), status.getLen()))
        except Py4JJavaError as error:
            if _is_not_found(error):
                return []
            raise
        return sorted(found, key=lambda info: info.uri)

    def list_names(self, uri: str) -> list[str]:
        """Names of the direct children of directory ``uri`` (empty when it does not exist)."""
        try:
            return sorted(status.getPath().getName() for status in self._fs(uri).listStatus(self._path(uri)))
        except Py4JJavaError as error:
            if _is_not_found(error):
                return []
            raise

    def exists(self, uri: str) -> bool:
        return bool(self._fs(uri).exists(self._path(uri)))

    def delete(self, uri: str, recursive: bool = True) -> None:
        self._fs(uri).delete(self._path(uri), recursive)

    def size(self, uri: str) -> int:
        return int(self._fs(uri).getFileStatus(self._path(uri)).getLen())

    def move(self, source: str, target: str) -> None:
        """Move a file to ``target``, replacing what is there (a server-side copy on S3)."""
        source_fs, target_fs = self._fs(source), self._fs(target)
        target_path = self._path(target)
        target_fs.delete(target_path, False)
        if source_fs.getUri().equals(target_fs.getUri()):
            target_fs.mkdirs(target_path.getParent())
            if not target_fs.rename(self._path(source), target_path):
                raise OSError(f"could not move {source} to {target}")
            return
        util = self._jvm.org.apache.hadoop.fs.FileUtil
        if not util.copy(source_fs, self._path(source), target_fs, target_path, True, True, self._conf):
            raise OSError(f"could not copy {source} to {target}")

    def read_text(self, uri: str) -> str | None:
        """The UTF-8 content of a small file, or None when it does not exist."""
        fs = self._fs(uri)
        path = self._path(uri)
        try:
            stream = fs.open(path)
        except Py4JJavaError as error:
            if _is_not_found(error):
                return None
            raise
        try:
            return self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def write_text(self, uri: str, text: str) -> None:
        """Write a small file, replacing it (one PUT on S3, so readers see the old or the new one)."""
        stream = self._fs(uri).create(self._path(uri), True)
        try:
            stream.write(text.encode("utf-8"))
        finally:
            stream.close()


def _is_not_found(error: Py4JJavaError) -> bool:
    return error.java_exception.getClass().getName() == "java.io.FileNotFoundException"
